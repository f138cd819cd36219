// The CPU's arithmetic peak as oneDNN reaches it: a 2048^3 matrix product in float32 and in
// bfloat16 (products accumulated in float32), best of 15, on OMP_NUM_THREADS threads. The
// training benchmark (Scripts/bench-train.sh) reports each step's GFLOP/s against these.
//
//   clang -O2 Scripts/peak-gflops.c -ldnnl -o peak && OMP_NUM_THREADS=2 ./peak
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <time.h>

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/// GFLOP/s of the best of 15 products of n x n matrices in `type`; 0 if oneDNN has none.
static double peak(dnnl_engine_t engine, dnnl_stream_t stream, dnnl_data_type_t type, int n, const char **implementation) {
    dnnl_dims_t dims = {n, n};
    dnnl_memory_desc_t a, b, c;
    dnnl_memory_desc_init_by_tag(&a, 2, dims, type, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&b, 2, dims, type, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&c, 2, dims, dnnl_f32, dnnl_ab);
    dnnl_matmul_desc_t product;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t primitive;
    if (dnnl_matmul_desc_init(&product, &a, &b, NULL, &c) != dnnl_success
        || dnnl_primitive_desc_create(&pd, &product, NULL, engine, NULL) != dnnl_success
        || dnnl_primitive_create(&primitive, pd) != dnnl_success)
        return 0;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, implementation);
    dnnl_memory_t ma, mb, mc;
    dnnl_memory_create(&ma, &a, engine, DNNL_MEMORY_ALLOCATE);
    dnnl_memory_create(&mb, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), engine, DNNL_MEMORY_ALLOCATE);
    dnnl_memory_create(&mc, &c, engine, DNNL_MEMORY_ALLOCATE);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}};
    double best = 1e9;
    for (int run = 0; run < 15; run++) {
        double start = seconds();
        dnnl_primitive_execute(primitive, stream, 3, args);
        dnnl_stream_wait(stream);
        double elapsed = seconds() - start;
        if (elapsed < best) best = elapsed;
    }
    return 2.0 * n * n * (double)n / best * 1e-9;
}

int main(void) {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success
        || dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) {
        fprintf(stderr, "oneDNN has no CPU engine\n");
        return 1;
    }
    const char *names[2] = {"fp32", "bf16"};
    dnnl_data_type_t types[2] = {dnnl_f32, dnnl_bf16};
    for (int i = 0; i < 2; i++) {
        const char *implementation = "none";
        double gflops = peak(engine, stream, types[i], 2048, &implementation);
        printf("peak %s: %.0f GFLOP/s (oneDNN matmul 2048^3, %s)\n", names[i], gflops, implementation);
    }
    return 0;
}
