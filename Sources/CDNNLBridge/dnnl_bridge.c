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

struct mf_dnnl_layer {
    int bias;
    dnnl_primitive_desc_t forward_pd, data_pd, weights_pd;
    dnnl_primitive_t forward, data, weights;
    /* forward: src, weights, bias -> dst */
    tensor f_src, f_weights, f_bias, f_dst;
    /* backward data: diff_dst, weights -> diff_src */
    tensor d_diff_dst, d_weights, d_diff_src;
    /* backward weights: src, diff_dst -> diff_weights, diff_bias */
    tensor w_src, w_diff_dst, w_diff_weights, w_diff_bias;
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

#define FAIL(message) do { snprintf(error, (size_t)error_capacity, "%s", message); mf_dnnl_layer_destroy(l); return NULL; } while (0)

/// A forward primitive's attributes: the activation as a post-op (NULL attributes without one).
static int make_attributes(const mf_dnnl_layer_shape *s, dnnl_primitive_attr_t *attributes) {
    *attributes = NULL;
    if (s->activation == MF_DNNL_IDENTITY) return 1;
    dnnl_post_ops_t post_ops;
    if (dnnl_post_ops_create(&post_ops) != dnnl_success) return 0;
    dnnl_alg_kind_t kind = s->activation == MF_DNNL_RELU ? dnnl_eltwise_relu : dnnl_eltwise_tanh;
    int made = dnnl_post_ops_append_eltwise(post_ops, 1.0f, kind, s->alpha, 0.0f) == dnnl_success
               && dnnl_primitive_attr_create(attributes) == dnnl_success
               && dnnl_primitive_attr_set_post_ops(*attributes, post_ops) == dnnl_success;
    dnnl_post_ops_destroy(post_ops);
    return made;
}

mf_dnnl_layer *mf_dnnl_layer_create(const mf_dnnl_layer_shape *s, char *error, int error_capacity) {
    mf_dnnl_layer *l = calloc(1, sizeof *l);
    if (!l) { snprintf(error, (size_t)error_capacity, "out of memory"); return NULL; }
    if (!ready()) FAIL("oneDNN found no CPU engine");
    l->bias = s->bias;
    dnnl_data_type_t type = s->bfloat16 ? dnnl_bf16 : dnnl_f32;
    dnnl_dims_t src_dims = {s->batch, s->channels, s->height, s->width};
    dnnl_dims_t dst_dims = {s->batch, s->outputs, s->out_height, s->out_width};
    /* oneDNN's weights are [outputs, inputs, K, K] for both kinds; a transposed convolution's
       [C, O, K, K] is that array read input-major (iohw). */
    dnnl_dims_t weights_dims = {s->outputs, s->channels, s->kernel, s->kernel};
    dnnl_dims_t bias_dims = {s->outputs};
    dnnl_dims_t strides = {s->stride, s->stride};
    dnnl_dims_t padding_l = {s->pad_top, s->pad_left}, padding_r = {s->pad_bottom, s->pad_right};
    dnnl_memory_desc_t user_src, user_dst, user_weights, user_bias;
    dnnl_memory_desc_init_by_tag(&user_src, 4, src_dims, dnnl_f32, dnnl_nchw);
    dnnl_memory_desc_init_by_tag(&user_dst, 4, dst_dims, dnnl_f32, dnnl_nchw);
    dnnl_memory_desc_init_by_tag(&user_weights, 4, weights_dims, dnnl_f32, s->transposed ? dnnl_iohw : dnnl_oihw);
    dnnl_memory_desc_init_by_tag(&user_bias, 1, bias_dims, dnnl_f32, dnnl_a);
    /* Inputs in `type`, results (dst, diff_src, diff_weights, diff_bias) in float32; layouts
       oneDNN's choice. */
    dnnl_memory_desc_t src, dst, weights, src_f32, dst_f32, weights_f32;
    dnnl_memory_desc_init_by_tag(&src, 4, src_dims, type, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&dst, 4, dst_dims, type, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&weights, 4, weights_dims, type, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&src_f32, 4, src_dims, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&dst_f32, 4, dst_dims, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&weights_f32, 4, weights_dims, dnnl_f32, dnnl_format_tag_any);
    const dnnl_memory_desc_t *bias = s->bias ? &user_bias : NULL;

    dnnl_convolution_desc_t forward, data, backward_weights;
    dnnl_status_t made_forward, made_data, made_weights;
    if (s->transposed) {
        made_forward = dnnl_deconvolution_forward_desc_init(&forward, dnnl_forward_training, dnnl_deconvolution_direct,
                                                            &src, &weights, bias, &dst_f32, strides, padding_l, padding_r);
        made_data = dnnl_deconvolution_backward_data_desc_init(&data, dnnl_deconvolution_direct, &src_f32, &weights, &dst,
                                                               strides, padding_l, padding_r);
        made_weights = dnnl_deconvolution_backward_weights_desc_init(&backward_weights, dnnl_deconvolution_direct, &src,
                                                                     &weights_f32, bias, &dst, strides, padding_l, padding_r);
    } else {
        made_forward = dnnl_convolution_forward_desc_init(&forward, dnnl_forward_training, dnnl_convolution_direct, &src,
                                                          &weights, bias, &dst_f32, strides, padding_l, padding_r);
        made_data = dnnl_convolution_backward_data_desc_init(&data, dnnl_convolution_direct, &src_f32, &weights, &dst,
                                                             strides, padding_l, padding_r);
        made_weights = dnnl_convolution_backward_weights_desc_init(&backward_weights, dnnl_convolution_direct, &src,
                                                                   &weights_f32, bias, &dst, strides, padding_l, padding_r);
    }
    if (made_forward != dnnl_success || made_data != dnnl_success || made_weights != dnnl_success)
        FAIL("no convolution of this shape (a negative padding?)");
    dnnl_primitive_attr_t attributes;
    if (!make_attributes(s, &attributes)) FAIL("oneDNN could not make the activation a post-op");
    dnnl_status_t status = dnnl_primitive_desc_create(&l->forward_pd, &forward, attributes, engine, NULL);
    if (attributes) dnnl_primitive_attr_destroy(attributes);
    if (status != dnnl_success)
        FAIL(s->bfloat16 ? "no bfloat16 forward primitive on this CPU" : "no forward primitive on this CPU");
    const char *name = NULL;
    dnnl_primitive_desc_query(l->forward_pd, dnnl_query_impl_info_str, 0, &name);
    snprintf(l->implementation, sizeof l->implementation, "%s", name ? name : "?");
    if (dnnl_primitive_desc_create(&l->data_pd, &data, NULL, engine, l->forward_pd) != dnnl_success)
        FAIL("no backward-data primitive of this shape on this CPU");
    if (dnnl_primitive_desc_create(&l->weights_pd, &backward_weights, NULL, engine, l->forward_pd) != dnnl_success)
        FAIL("no backward-weights primitive of this shape on this CPU");
    if (dnnl_primitive_create(&l->forward, l->forward_pd) != dnnl_success
        || dnnl_primitive_create(&l->data, l->data_pd) != dnnl_success
        || dnnl_primitive_create(&l->weights, l->weights_pd) != dnnl_success)
        FAIL("oneDNN could not make the primitives");

    const dnnl_memory_desc_t *md;
#define WANT(pd, what) (md = dnnl_primitive_desc_query_md(pd, what, 0))
    if (!make_tensor(&l->f_src, &user_src, WANT(l->forward_pd, dnnl_query_src_md), 1)
        || !make_tensor(&l->f_weights, &user_weights, WANT(l->forward_pd, dnnl_query_weights_md), 1)
        || (s->bias && !make_tensor(&l->f_bias, &user_bias, dnnl_primitive_desc_query_md(l->forward_pd, dnnl_query_weights_md, 1), 1))
        || !make_tensor(&l->f_dst, &user_dst, WANT(l->forward_pd, dnnl_query_dst_md), 0)
        || !make_tensor(&l->d_diff_dst, &user_dst, WANT(l->data_pd, dnnl_query_diff_dst_md), 1)
        || !make_tensor(&l->d_weights, &user_weights, WANT(l->data_pd, dnnl_query_weights_md), 1)
        || !make_tensor(&l->d_diff_src, &user_src, WANT(l->data_pd, dnnl_query_diff_src_md), 0)
        || !make_tensor(&l->w_src, &user_src, WANT(l->weights_pd, dnnl_query_src_md), 1)
        || !make_tensor(&l->w_diff_dst, &user_dst, WANT(l->weights_pd, dnnl_query_diff_dst_md), 1)
        || !make_tensor(&l->w_diff_weights, &user_weights, WANT(l->weights_pd, dnnl_query_diff_weights_md), 0)
        || (s->bias && !make_tensor(&l->w_diff_bias, &user_bias,
                                    dnnl_primitive_desc_query_md(l->weights_pd, dnnl_query_diff_weights_md, 1), 0)))
        FAIL("oneDNN could not lay out the tensors");
#undef WANT
    return l;
}

void mf_dnnl_layer_destroy(mf_dnnl_layer *l) {
    if (!l) return;
    tensor *all[] = {&l->f_src, &l->f_weights, &l->f_bias, &l->f_dst, &l->d_diff_dst, &l->d_weights, &l->d_diff_src,
                     &l->w_src, &l->w_diff_dst, &l->w_diff_weights, &l->w_diff_bias};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free_tensor(all[i]);
    if (l->forward) dnnl_primitive_destroy(l->forward);
    if (l->data) dnnl_primitive_destroy(l->data);
    if (l->weights) dnnl_primitive_destroy(l->weights);
    if (l->forward_pd) dnnl_primitive_desc_destroy(l->forward_pd);
    if (l->data_pd) dnnl_primitive_desc_destroy(l->data_pd);
    if (l->weights_pd) dnnl_primitive_desc_destroy(l->weights_pd);
    free(l);
}

/// One argument of a primitive: the caller's data and the tensor that lays it out, or (an
/// input) memory already in the primitive's layout.
typedef struct {
    int arg;
    tensor *t;
    const float *data;
    dnnl_memory_t converted;
} binding;

/// Runs `primitive` on `inputs` (reordered in from the caller's memory unless converted) and
/// `outputs` (reordered out to it), and waits for it.
static int execute(dnnl_primitive_t primitive, const binding *inputs, int input_count, const binding *outputs,
                   int output_count) {
    int status = 0, count = 0;
    dnnl_exec_arg_t args[8];
    for (int i = 0; i < input_count; i++)
        args[count++] = (dnnl_exec_arg_t){inputs[i].arg, inputs[i].converted ? inputs[i].converted
                                                                              : in(inputs[i].t, inputs[i].data, &status)};
    for (int i = 0; i < output_count; i++)
        args[count++] = (dnnl_exec_arg_t){outputs[i].arg, out(outputs[i].t, (float *)outputs[i].data, &status)};
    if (status || dnnl_primitive_execute(primitive, stream, count, args) != dnnl_success) return 1;
    for (int i = 0; i < output_count; i++) out_done(outputs[i].t, &status);
    return status || dnnl_stream_wait(stream) != dnnl_success;
}

int mf_dnnl_layer_forward(mf_dnnl_layer *l, const float *src, const float *weights, const float *bias, float *dst) {
    binding inputs[3] = {{DNNL_ARG_SRC, &l->f_src, src}, {DNNL_ARG_WEIGHTS, &l->f_weights, weights},
                         {DNNL_ARG_BIAS, &l->f_bias, bias}};
    binding output = {DNNL_ARG_DST, &l->f_dst, dst};
    return execute(l->forward, inputs, l->bias ? 3 : 2, &output, 1);
}

int mf_dnnl_layer_backward(mf_dnnl_layer *l, const float *src, const float *diff_dst, const float *weights,
                           float *diff_src, float *diff_weights, float *diff_bias) {
    if (diff_src) {
        binding inputs[2] = {{DNNL_ARG_DIFF_DST, &l->d_diff_dst, diff_dst}, {DNNL_ARG_WEIGHTS, &l->d_weights, weights}};
        binding output = {DNNL_ARG_DIFF_SRC, &l->d_diff_src, diff_src};
        if (execute(l->data, inputs, 2, &output, 1)) return 1;
    }
    if (!diff_weights) return 0;
    binding inputs[2] = {{DNNL_ARG_SRC, &l->w_src, src}, {DNNL_ARG_DIFF_DST, &l->w_diff_dst, diff_dst}};
    /* When both primitives want diff_dst in the same layout, the weights' primitive reads the
       copy the data's primitive just made: one conversion, not two. */
    if (diff_src && l->d_diff_dst.internal && l->w_diff_dst.internal
        && dnnl_memory_desc_equal(dnnl_primitive_desc_query_md(l->data_pd, dnnl_query_diff_dst_md, 0),
                                  dnnl_primitive_desc_query_md(l->weights_pd, dnnl_query_diff_dst_md, 0)))
        inputs[1].converted = l->d_diff_dst.internal;
    binding outputs[2] = {{DNNL_ARG_DIFF_WEIGHTS, &l->w_diff_weights, diff_weights},
                          {DNNL_ARG_DIFF_BIAS, &l->w_diff_bias, diff_bias}};
    return execute(l->weights, inputs, 2, outputs, l->bias ? 2 : 1);
}

const char *mf_dnnl_layer_implementation(mf_dnnl_layer *l) { return l->implementation; }

void mf_dnnl_version(char *text, int capacity) {
    const dnnl_version_t *v = dnnl_version();
    snprintf(text, (size_t)capacity, "%d.%d.%d", v->major, v->minor, v->patch);
}

int mf_dnnl_cpu_isa(void) { return (int)dnnl_get_effective_cpu_isa(); }

void mf_dnnl_set_threads(int threads) { omp_set_num_threads(threads); }
