// The few MPI calls MelForge's data-parallel training makes, as plain C functions: Open MPI's
// handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) are macros over global objects that Swift
// cannot import.
#ifndef MELFORGE_MPI_BRIDGE_H
#define MELFORGE_MPI_BRIDGE_H

#include <stddef.h>

/// MPI_Init (threads: funnelled, only the main thread calls MPI); 0 on success.
int mf_mpi_init(void);
/// This process's rank in MPI_COMM_WORLD and the number of processes.
int mf_mpi_rank(void);
int mf_mpi_size(void);
/// In-place sums over every process of MPI_COMM_WORLD; 0 on success.
int mf_mpi_allreduce_sum_float(float *values, size_t count);
int mf_mpi_allreduce_sum_double(double *values, size_t count);
int mf_mpi_barrier(void);
/// Ends the whole job with `code` (every process, through mpirun).
void mf_mpi_abort(int code);
int mf_mpi_finalize(void);
/// Open MPI's version, e.g. "Open MPI v4.1.4, package: ...".
void mf_mpi_library_version(char *text, int capacity);

#endif
