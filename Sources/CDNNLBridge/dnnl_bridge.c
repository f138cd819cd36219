#include "dnnl_bridge.h"
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void omp_set_num_threads(int threads);

static dnnl_engine_t engine;
static dnnl_stream_t stream;

static int ready(void) {
    if (engine) return 1;
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) return 0;
    if (dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) return 0;
    return 1;
}

/// A tensor in the caller's layout and, when the primitive wants another, its own copy and
/// the reorders between them.
typedef struct {
    dnnl_memory_t user;
    dnnl_memory_t internal;     /* NULL when the primitive takes the user layout */
    dnnl_primitive_t to_internal;
    dnnl_primitive_t to_user;
} tensor;

struct mf_dnnl_convolution {
    dnnl_primitive_desc_t forward_pd, data_pd, weights_pd;
    dnnl_primitive_t forward, data, weights;
    /* forward: src, weights -> dst */
    tensor f_src, f_weights, f_dst;
    /* backward data: diff_dst, weights -> diff_src */
    tensor d_diff_dst, d_weights, d_diff_src;
    /* backward weights: src, diff_dst -> diff_weights */
    tensor w_src, w_diff_dst, w_diff_weights;
    char implementation[128];
};

static int make_tensor(tensor *t, const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *wanted, int input) {
    memset(t, 0, sizeof *t);
    if (dnnl_memory_create(&t->user, user_md, engine, NULL) != dnnl_success) return 0;
    if (dnnl_memory_desc_equal(user_md, wanted)) return 1;
    if (dnnl_memory_create(&t->internal, wanted, engine, DNNL_MEMORY_ALLOCATE) != dnnl_success) return 0;
    dnnl_primitive_desc_t pd;
    if (input) {
        if (dnnl_reorder_primitive_desc_create(&pd, user_md, engine, wanted, engine, NULL) != dnnl_success) return 0;
        if (dnnl_primitive_create(&t->to_internal, pd) != dnnl_success) return 0;
    } else {
        if (dnnl_reorder_primitive_desc_create(&pd, wanted, engine, user_md, engine, NULL) != dnnl_success) return 0;
        if (dnnl_primitive_create(&t->to_user, pd) != dnnl_success) return 0;
    }
    dnnl_primitive_desc_destroy(pd);
    return 1;
}

static void free_tensor(tensor *t) {
    if (t->user) dnnl_memory_destroy(t->user);
    if (t->internal) dnnl_memory_destroy(t->internal);
    if (t->to_internal) dnnl_primitive_destroy(t->to_internal);
    if (t->to_user) dnnl_primitive_destroy(t->to_user);
}

/// The memory a primitive reads for `t` once the caller's data is at `data`: reordered in.
static dnnl_memory_t in(tensor *t, const float *data, int *status) {
    if (dnnl_memory_set_data_handle(t->user, (void *)data) != dnnl_success) { *status = 1; return NULL; }
    if (!t->internal) return t->user;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, t->user}, {DNNL_ARG_TO, t->internal}};
    if (dnnl_primitive_execute(t->to_internal, stream, 2, args) != dnnl_success) *status = 1;
    return t->internal;
}

/// The memory a primitive writes for `t`; `out_done` copies it to the caller's `data`.
static dnnl_memory_t out(tensor *t, float *data, int *status) {
    if (dnnl_memory_set_data_handle(t->user, data) != dnnl_success) { *status = 1; return NULL; }
    return t->internal ? t->internal : t->user;
}

static void out_done(tensor *t, int *status) {
    if (!t->internal) return;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, t->internal}, {DNNL_ARG_TO, t->user}};
    if (dnnl_primitive_execute(t->to_user, stream, 2, args) != dnnl_success) *status = 1;
}

#define FAIL(message) do { snprintf(error, (size_t)error_capacity, "%s", message); mf_dnnl_convolution_destroy(c); return NULL; } while (0)

mf_dnnl_convolution *mf_dnnl_convolution_create(int batch, int channels, int height, int width, int outputs,
                                                int out_height, int out_width, int kernel, int stride,
                                                int pad_top, int pad_left, int pad_bottom, int pad_right,
                                                int bfloat16, char *error, int error_capacity) {
    mf_dnnl_convolution *c = calloc(1, sizeof *c);
    if (!c) { snprintf(error, (size_t)error_capacity, "out of memory"); return NULL; }
    if (!ready()) FAIL("oneDNN found no CPU engine");
    dnnl_data_type_t type = bfloat16 ? dnnl_bf16 : dnnl_f32;
    dnnl_dims_t src_dims = {batch, channels, height, width};
    dnnl_dims_t dst_dims = {batch, outputs, out_height, out_width};
    dnnl_dims_t weights_dims = {outputs, channels, kernel, kernel};
    dnnl_dims_t strides = {stride, stride}, padding_l = {pad_top, pad_left}, padding_r = {pad_bottom, pad_right};
    dnnl_memory_desc_t user_src, user_dst, user_weights, any_src, any_dst, any_weights, any_src_f32, any_weights_f32;
    dnnl_memory_desc_init_by_tag(&user_src, 4, src_dims, dnnl_f32, dnnl_nchw);
    dnnl_memory_desc_init_by_tag(&user_dst, 4, dst_dims, dnnl_f32, dnnl_nchw);
    dnnl_memory_desc_init_by_tag(&user_weights, 4, weights_dims, dnnl_f32, dnnl_oihw);
    dnnl_memory_desc_init_by_tag(&any_src, 4, src_dims, type, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&any_dst, 4, dst_dims, type, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&any_weights, 4, weights_dims, type, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&any_src_f32, 4, src_dims, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&any_weights_f32, 4, weights_dims, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_t any_dst_f32;
    dnnl_memory_desc_init_by_tag(&any_dst_f32, 4, dst_dims, dnnl_f32, dnnl_format_tag_any);

    /* Forward: bf16 inputs, f32 output. */
    dnnl_convolution_desc_t forward;
    if (dnnl_convolution_forward_desc_init(&forward, dnnl_forward_training, dnnl_convolution_direct, &any_src, &any_weights,
                                           NULL, &any_dst_f32, strides, padding_l, padding_r) != dnnl_success)
        FAIL("no forward convolution of this shape");
    if (dnnl_primitive_desc_create(&c->forward_pd, &forward, NULL, engine, NULL) != dnnl_success)
        FAIL(bfloat16 ? "no bfloat16 forward convolution on this CPU" : "no forward convolution on this CPU");
    const char *name = NULL;
    dnnl_primitive_desc_query(c->forward_pd, dnnl_query_impl_info_str, 0, &name);
    snprintf(c->implementation, sizeof c->implementation, "%s", name ? name : "?");

    /* Backward data: bf16 diff_dst and weights, f32 diff_src. */
    dnnl_convolution_desc_t data;
    if (dnnl_convolution_backward_data_desc_init(&data, dnnl_convolution_direct, &any_src_f32, &any_weights, &any_dst,
                                                 strides, padding_l, padding_r) != dnnl_success
        || dnnl_primitive_desc_create(&c->data_pd, &data, NULL, engine, c->forward_pd) != dnnl_success)
        FAIL("no backward-data convolution of this shape on this CPU");
    /* Backward weights: bf16 src and diff_dst, f32 diff_weights. */
    dnnl_convolution_desc_t weights;
    if (dnnl_convolution_backward_weights_desc_init(&weights, dnnl_convolution_direct, &any_src, &any_weights_f32, NULL,
                                                    &any_dst, strides, padding_l, padding_r) != dnnl_success
        || dnnl_primitive_desc_create(&c->weights_pd, &weights, NULL, engine, c->forward_pd) != dnnl_success)
        FAIL("no backward-weights convolution of this shape on this CPU");

    if (dnnl_primitive_create(&c->forward, c->forward_pd) != dnnl_success
        || dnnl_primitive_create(&c->data, c->data_pd) != dnnl_success
        || dnnl_primitive_create(&c->weights, c->weights_pd) != dnnl_success)
        FAIL("oneDNN could not make the primitives");

    const dnnl_memory_desc_t *md;
#define WANT(pd, what) (md = dnnl_primitive_desc_query_md(pd, what, 0))
    if (!make_tensor(&c->f_src, &user_src, WANT(c->forward_pd, dnnl_query_src_md), 1)
        || !make_tensor(&c->f_weights, &user_weights, WANT(c->forward_pd, dnnl_query_weights_md), 1)
        || !make_tensor(&c->f_dst, &user_dst, WANT(c->forward_pd, dnnl_query_dst_md), 0)
        || !make_tensor(&c->d_diff_dst, &user_dst, WANT(c->data_pd, dnnl_query_diff_dst_md), 1)
        || !make_tensor(&c->d_weights, &user_weights, WANT(c->data_pd, dnnl_query_weights_md), 1)
        || !make_tensor(&c->d_diff_src, &user_src, WANT(c->data_pd, dnnl_query_diff_src_md), 0)
        || !make_tensor(&c->w_src, &user_src, WANT(c->weights_pd, dnnl_query_src_md), 1)
        || !make_tensor(&c->w_diff_dst, &user_dst, WANT(c->weights_pd, dnnl_query_diff_dst_md), 1)
        || !make_tensor(&c->w_diff_weights, &user_weights, WANT(c->weights_pd, dnnl_query_diff_weights_md), 0))
        FAIL("oneDNN could not lay out the tensors");
#undef WANT
    return c;
}

void mf_dnnl_convolution_destroy(mf_dnnl_convolution *c) {
    if (!c) return;
    tensor *all[] = {&c->f_src, &c->f_weights, &c->f_dst, &c->d_diff_dst, &c->d_weights, &c->d_diff_src,
                     &c->w_src, &c->w_diff_dst, &c->w_diff_weights};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free_tensor(all[i]);
    if (c->forward) dnnl_primitive_destroy(c->forward);
    if (c->data) dnnl_primitive_destroy(c->data);
    if (c->weights) dnnl_primitive_destroy(c->weights);
    if (c->forward_pd) dnnl_primitive_desc_destroy(c->forward_pd);
    if (c->data_pd) dnnl_primitive_desc_destroy(c->data_pd);
    if (c->weights_pd) dnnl_primitive_desc_destroy(c->weights_pd);
    free(c);
}

/// Runs `primitive` on two inputs (reordered in from the caller's memory) and one output
/// (reordered out to it), and waits for it.
static int execute(dnnl_primitive_t primitive, int first_arg, tensor *first, const float *first_data, int second_arg,
                   tensor *second, const float *second_data, int output_arg, tensor *output, float *output_data) {
    int status = 0;
    dnnl_exec_arg_t args[3] = {{first_arg, in(first, first_data, &status)},
                               {second_arg, in(second, second_data, &status)},
                               {output_arg, out(output, output_data, &status)}};
    if (status || dnnl_primitive_execute(primitive, stream, 3, args) != dnnl_success) return 1;
    out_done(output, &status);
    return status || dnnl_stream_wait(stream) != dnnl_success;
}

int mf_dnnl_convolution_forward(mf_dnnl_convolution *c, const float *src, const float *weights, float *dst) {
    return execute(c->forward, DNNL_ARG_SRC, &c->f_src, src, DNNL_ARG_WEIGHTS, &c->f_weights, weights, DNNL_ARG_DST,
                   &c->f_dst, dst);
}

int mf_dnnl_convolution_backward_data(mf_dnnl_convolution *c, const float *diff_dst, const float *weights, float *diff_src) {
    return execute(c->data, DNNL_ARG_DIFF_DST, &c->d_diff_dst, diff_dst, DNNL_ARG_WEIGHTS, &c->d_weights, weights,
                   DNNL_ARG_DIFF_SRC, &c->d_diff_src, diff_src);
}

int mf_dnnl_convolution_backward_weights(mf_dnnl_convolution *c, const float *src, const float *diff_dst,
                                         float *diff_weights) {
    return execute(c->weights, DNNL_ARG_SRC, &c->w_src, src, DNNL_ARG_DIFF_DST, &c->w_diff_dst, diff_dst,
                   DNNL_ARG_DIFF_WEIGHTS, &c->w_diff_weights, diff_weights);
}

const char *mf_dnnl_convolution_implementation(mf_dnnl_convolution *c) { return c->implementation; }

void mf_dnnl_version(char *text, int capacity) {
    const dnnl_version_t *v = dnnl_version();
    snprintf(text, (size_t)capacity, "%d.%d.%d", v->major, v->minor, v->patch);
}

int mf_dnnl_cpu_isa(void) { return (int)dnnl_get_effective_cpu_isa(); }

void mf_dnnl_set_threads(int threads) { omp_set_num_threads(threads); }
