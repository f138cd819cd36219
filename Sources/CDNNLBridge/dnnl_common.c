#include "dnnl_common.h"
#include "dnnl_bridge.h"
#include <stdio.h>
#include <string.h>

extern void omp_set_num_threads(int threads);

dnnl_engine_t mf_engine;
dnnl_stream_t mf_stream;

int mf_ready(void) {
    if (mf_engine) return 1;
    if (dnnl_engine_create(&mf_engine, dnnl_cpu, 0) != dnnl_success) return 0;
    if (dnnl_stream_create(&mf_stream, mf_engine, dnnl_stream_default_flags) != dnnl_success) return 0;
    return 1;
}

dnnl_primitive_t mf_make_reorder(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to, int add) {
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t reorder = NULL;
    dnnl_post_ops_t post_ops = NULL;
    dnnl_primitive_attr_t attributes = NULL;
    int described = add ? dnnl_post_ops_create(&post_ops) == dnnl_success
                              && dnnl_post_ops_append_sum(post_ops, 1.0f) == dnnl_success
                              && dnnl_primitive_attr_create(&attributes) == dnnl_success
                              && dnnl_primitive_attr_set_post_ops(attributes, post_ops) == dnnl_success
                        : 1;
    if (described && dnnl_reorder_primitive_desc_create(&pd, from, mf_engine, to, mf_engine, attributes) == dnnl_success
        && dnnl_primitive_create(&reorder, pd) != dnnl_success)
        reorder = NULL;
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (post_ops) dnnl_post_ops_destroy(post_ops);
    if (attributes) dnnl_primitive_attr_destroy(attributes);
    return reorder;
}

const dnnl_memory_desc_t *mf_md(const_dnnl_primitive_desc_t pd, dnnl_query_t what, int index) {
    return dnnl_primitive_desc_query_md(pd, what, index);
}

int mf_describe_layer(const mf_dnnl_layer_shape *s, dnnl_data_type_t dst_type, dnnl_data_type_t diff_src_type,
                      const mf_pinned_layouts *pinned, int channels_last, mf_layer_descriptors *d) {
    dnnl_data_type_t type = s->bfloat16 ? dnnl_bf16 : dnnl_f32;
    dnnl_dims_t src_dims = {s->batch, s->channels, s->height, s->width};
    dnnl_dims_t dst_dims = {s->batch, s->outputs, s->out_height, s->out_width};
    /* oneDNN's weights are [outputs, inputs, K, K] for both kinds; a transposed convolution's
       [C, O, K, K] is that array read input-major (iohw). */
    dnnl_dims_t weights_dims = {s->outputs, s->channels, s->kernel, s->kernel};
    dnnl_dims_t bias_dims = {s->outputs};
    dnnl_dims_t strides = {s->stride, s->stride};
    dnnl_dims_t padding_l = {s->pad_top, s->pad_left}, padding_r = {s->pad_bottom, s->pad_right};
    dnnl_memory_desc_init_by_tag(&d->user_src, 4, src_dims, dnnl_f32, dnnl_nchw);
    dnnl_memory_desc_init_by_tag(&d->user_dst, 4, dst_dims, dnnl_f32, dnnl_nchw);
    dnnl_memory_desc_init_by_tag(&d->user_weights, 4, weights_dims, dnnl_f32, s->transposed ? dnnl_iohw : dnnl_oihw);
    dnnl_memory_desc_init_by_tag(&d->user_bias, 1, bias_dims, dnnl_f32, dnnl_a);
    dnnl_memory_desc_t src, dst, weights, dst_out, diff_src, diff_weights;
    dnnl_memory_desc_init_by_tag(&src, 4, src_dims, type, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&dst, 4, dst_dims, type, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&weights, 4, weights_dims, type, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&dst_out, 4, dst_dims, dst_type, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&diff_src, 4, src_dims, diff_src_type, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&diff_weights, 4, weights_dims, dnnl_f32, dnnl_format_tag_any);
    const dnnl_memory_desc_t *bias = s->bias ? &d->user_bias : NULL;
    /* The backward operations' layouts: pinned ones, else oneDNN's choice. */
    const dnnl_memory_desc_t *b_src = pinned && pinned->src ? pinned->src : &src;
    const dnnl_memory_desc_t *b_diff_dst = pinned && pinned->diff_dst ? pinned->diff_dst : &dst;
    const dnnl_memory_desc_t *b_diff_src = pinned && pinned->diff_src ? pinned->diff_src : &diff_src;
    /* The direct convolution's on channels-last: a convolution's forward, a transposed one's
       backward data. */
    dnnl_memory_desc_t last_src, last_dst, last_diff_src, last_diff_dst;
    const dnnl_memory_desc_t *f_src = &src, *f_dst = &dst_out, *d_diff_src = b_diff_src, *d_diff_dst = b_diff_dst;
    if (channels_last && s->transposed) {
        dnnl_memory_desc_init_by_tag(&last_diff_src, 4, src_dims, diff_src_type, dnnl_nhwc);
        dnnl_memory_desc_init_by_tag(&last_diff_dst, 4, dst_dims, type, dnnl_nhwc);
        d_diff_src = &last_diff_src;
        d_diff_dst = &last_diff_dst;
    } else if (channels_last) {
        dnnl_memory_desc_init_by_tag(&last_src, 4, src_dims, type, dnnl_nhwc);
        dnnl_memory_desc_init_by_tag(&last_dst, 4, dst_dims, dst_type, dnnl_nhwc);
        f_src = &last_src;
        f_dst = &last_dst;
    }
    if (s->transposed)
        return dnnl_deconvolution_forward_desc_init(&d->forward, dnnl_forward_training, dnnl_deconvolution_direct, &src,
                                                    &weights, bias, &dst_out, strides, padding_l, padding_r) == dnnl_success
               && dnnl_deconvolution_backward_data_desc_init(&d->data, dnnl_deconvolution_direct, d_diff_src, &weights,
                                                             d_diff_dst, strides, padding_l, padding_r) == dnnl_success
               && dnnl_deconvolution_backward_weights_desc_init(&d->weights, dnnl_deconvolution_direct, b_src, &diff_weights,
                                                                bias, b_diff_dst, strides, padding_l, padding_r)
                      == dnnl_success;
    return dnnl_convolution_forward_desc_init(&d->forward, dnnl_forward_training, dnnl_convolution_direct, f_src, &weights,
                                              bias, f_dst, strides, padding_l, padding_r) == dnnl_success
           && dnnl_convolution_backward_data_desc_init(&d->data, dnnl_convolution_direct, b_diff_src, &weights, b_diff_dst,
                                                       strides, padding_l, padding_r) == dnnl_success
           && dnnl_convolution_backward_weights_desc_init(&d->weights, dnnl_convolution_direct, b_src, &diff_weights, bias,
                                                          b_diff_dst, strides, padding_l, padding_r) == dnnl_success;
}

const char *mf_implementation(const_dnnl_primitive_desc_t pd) {
    const char *name = NULL;
    if (!pd || dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) != dnnl_success || !name) return "";
    return name;
}

int mf_is_reference(const_dnnl_primitive_desc_t pd) { return strncmp(mf_implementation(pd), "ref", 3) == 0; }

void mf_copy_name(char *text, int capacity, const char *name) {
    if (capacity > 0) snprintf(text, (size_t)capacity, "%s", name ? name : "");
}

/// Whether `pd` runs oneDNN's brgemm kernel ("brgconv:avx512_core").
static int runs_brgemm(const_dnnl_primitive_desc_t pd) { return strncmp(mf_implementation(pd), "brg", 3) == 0; }

int mf_channels_last(const mf_dnnl_layer_shape *s) {
    int channels = s->transposed ? s->outputs : s->channels; /* the direct convolution's input */
    if (s->bfloat16 || channels < 128) return 0;
    mf_layer_descriptors d;
    dnnl_primitive_desc_t forward = NULL, data = NULL;
    int brgemm = 0;
    if (mf_describe_layer(s, dnnl_f32, dnnl_f32, NULL, 1, &d) && mf_make_forward(s, &d, &forward)) {
        if (!s->transposed) brgemm = runs_brgemm(forward);
        else if (dnnl_primitive_desc_create(&data, &d.data, NULL, mf_engine, forward) == dnnl_success)
            brgemm = runs_brgemm(data);
    }
    if (forward) dnnl_primitive_desc_destroy(forward);
    if (data) dnnl_primitive_desc_destroy(data);
    return brgemm;
}

int mf_make_forward(const mf_dnnl_layer_shape *s, const mf_layer_descriptors *d, dnnl_primitive_desc_t *pd) {
    if (s->activation == MF_DNNL_IDENTITY)
        return dnnl_primitive_desc_create(pd, &d->forward, NULL, mf_engine, NULL) == dnnl_success;
    dnnl_post_ops_t post_ops = NULL;
    dnnl_primitive_attr_t attributes = NULL;
    dnnl_alg_kind_t kind = s->activation == MF_DNNL_RELU ? dnnl_eltwise_relu : dnnl_eltwise_tanh;
    int made = dnnl_post_ops_create(&post_ops) == dnnl_success
               && dnnl_post_ops_append_eltwise(post_ops, 1.0f, kind, s->alpha, 0.0f) == dnnl_success
               && dnnl_primitive_attr_create(&attributes) == dnnl_success
               && dnnl_primitive_attr_set_post_ops(attributes, post_ops) == dnnl_success
               && dnnl_primitive_desc_create(pd, &d->forward, attributes, mf_engine, NULL) == dnnl_success;
    if (post_ops) dnnl_post_ops_destroy(post_ops);
    if (attributes) dnnl_primitive_attr_destroy(attributes);
    return made;
}

int mf_make_tensor(mf_tensor *t, const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *wanted, int kind) {
    memset(t, 0, sizeof *t);
    if (dnnl_memory_create(&t->user, user_md, mf_engine, NULL) != dnnl_success) return 0;
    if (kind != MF_ADDED && dnnl_memory_desc_equal(user_md, wanted)) return 1;
    if (dnnl_memory_create(&t->internal, wanted, mf_engine, DNNL_MEMORY_ALLOCATE) != dnnl_success) return 0;
    t->reorder = kind == MF_INPUT ? mf_make_reorder(user_md, wanted, 0) : mf_make_reorder(wanted, user_md, kind == MF_ADDED);
    return t->reorder != NULL;
}

void mf_free_tensor(mf_tensor *t) {
    if (t->user) dnnl_memory_destroy(t->user);
    if (t->internal) dnnl_memory_destroy(t->internal);
    if (t->reorder) dnnl_primitive_destroy(t->reorder);
}

int mf_reorder(dnnl_primitive_t reorder, dnnl_memory_t from, dnnl_memory_t to) {
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    return dnnl_primitive_execute(reorder, mf_stream, 2, args) != dnnl_success;
}

/// The memory a primitive reads for `b`: the caller's data, reordered in when it must be.
static dnnl_memory_t in(const mf_binding *b, int *status) {
    if (b->memory) return b->memory;
    if (dnnl_memory_set_data_handle(b->t->user, (void *)b->data) != dnnl_success) { *status = 1; return NULL; }
    if (!b->t->internal) return b->t->user;
    if (b->version && b->version == b->t->version) return b->t->internal; /* converted before, unchanged since */
    b->t->version = 0;
    if (mf_reorder(b->t->reorder, b->t->user, b->t->internal)) *status = 1;
    else b->t->version = b->version;
    return b->t->internal;
}

/// The memory a primitive writes for `b`; `out_done` copies it to the caller's data.
static dnnl_memory_t out(const mf_binding *b, int *status) {
    if (b->memory) return b->memory;
    if (dnnl_memory_set_data_handle(b->t->user, (void *)b->data) != dnnl_success) { *status = 1; return NULL; }
    return b->t->internal ? b->t->internal : b->t->user;
}

static void out_done(const mf_binding *b, int *status) {
    if (b->memory || !b->t->internal) return;
    if (mf_reorder(b->t->reorder, b->t->internal, b->t->user)) *status = 1;
}

int mf_execute(dnnl_primitive_t primitive, const mf_binding *inputs, int input_count, const mf_binding *outputs,
               int output_count) {
    int status = 0, count = 0;
    dnnl_exec_arg_t args[8];
    for (int i = 0; i < input_count; i++) args[count++] = (dnnl_exec_arg_t){inputs[i].arg, in(&inputs[i], &status)};
    for (int i = 0; i < output_count; i++) args[count++] = (dnnl_exec_arg_t){outputs[i].arg, out(&outputs[i], &status)};
    if (status || dnnl_primitive_execute(primitive, mf_stream, count, args) != dnnl_success) return 1;
    for (int i = 0; i < output_count; i++) out_done(&outputs[i], &status);
    return status || dnnl_stream_wait(mf_stream) != dnnl_success;
}

void mf_dnnl_version(char *text, int capacity) {
    const dnnl_version_t *v = dnnl_version();
    snprintf(text, (size_t)capacity, "%d.%d.%d", v->major, v->minor, v->patch);
}

int mf_dnnl_cpu_isa(void) { return (int)dnnl_get_effective_cpu_isa(); }

void mf_dnnl_set_threads(int threads) { omp_set_num_threads(threads); }
