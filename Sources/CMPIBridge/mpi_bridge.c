#include "mpi_bridge.h"
#include <limits.h>
#include <mpi.h>
#include <string.h>

int mf_mpi_init(void) {
    int provided = 0;
    return MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) == MPI_SUCCESS ? 0 : 1;
}

int mf_mpi_rank(void) {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

int mf_mpi_size(void) {
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    return size;
}

// MPI counts are ints: long buffers go in pieces.
int mf_mpi_allreduce_sum_float(float *values, size_t count) {
    for (size_t start = 0; start < count; start += INT_MAX / 2) {
        size_t piece = count - start < (size_t)(INT_MAX / 2) ? count - start : (size_t)(INT_MAX / 2);
        if (MPI_Allreduce(MPI_IN_PLACE, values + start, (int)piece, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS) return 1;
    }
    return 0;
}

int mf_mpi_allreduce_sum_double(double *values, size_t count) {
    for (size_t start = 0; start < count; start += INT_MAX / 2) {
        size_t piece = count - start < (size_t)(INT_MAX / 2) ? count - start : (size_t)(INT_MAX / 2);
        if (MPI_Allreduce(MPI_IN_PLACE, values + start, (int)piece, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS) return 1;
    }
    return 0;
}

int mf_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD) == MPI_SUCCESS ? 0 : 1; }

void mf_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

int mf_mpi_finalize(void) { return MPI_Finalize() == MPI_SUCCESS ? 0 : 1; }

void mf_mpi_library_version(char *text, int capacity) {
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int length = 0;
    MPI_Get_library_version(version, &length);
    strncpy(text, version, (size_t)capacity - 1);
    text[capacity - 1] = 0;
}
