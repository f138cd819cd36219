#include "dnnl_bridge.h"
#include "dnnl_common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mf_dnnl_layer {
    int bias;
    dnnl_primitive_desc_t forward_pd, data_pd, weights_pd;
    dnnl_primitive_t forward, data, weights;
    /* forward: src, weights, bias -> dst */
    mf_tensor f_src, f_weights, f_bias, f_dst;
    /* backward data: diff_dst, weights -> diff_src */
    mf_tensor d_diff_dst, d_weights, d_diff_src;
    /* backward weights: src, diff_dst -> diff_weights, diff_bias */
    mf_tensor w_src, w_diff_dst, w_diff_weights, w_diff_bias;
    char implementation[128];
};

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
    if (!mf_ready()) FAIL("oneDNN found no CPU engine");
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
    dnnl_status_t status = dnnl_primitive_desc_create(&l->forward_pd, &forward, attributes, mf_engine, NULL);
    if (attributes) dnnl_primitive_attr_destroy(attributes);
    if (status != dnnl_success)
        FAIL(s->bfloat16 ? "no bfloat16 forward primitive on this CPU" : "no forward primitive on this CPU");
    const char *name = NULL;
    dnnl_primitive_desc_query(l->forward_pd, dnnl_query_impl_info_str, 0, &name);
    snprintf(l->implementation, sizeof l->implementation, "%s", name ? name : "?");
    if (dnnl_primitive_desc_create(&l->data_pd, &data, NULL, mf_engine, l->forward_pd) != dnnl_success)
        FAIL("no backward-data primitive of this shape on this CPU");
    if (dnnl_primitive_desc_create(&l->weights_pd, &backward_weights, NULL, mf_engine, l->forward_pd) != dnnl_success)
        FAIL("no backward-weights primitive of this shape on this CPU");
    if (dnnl_primitive_create(&l->forward, l->forward_pd) != dnnl_success
        || dnnl_primitive_create(&l->data, l->data_pd) != dnnl_success
        || dnnl_primitive_create(&l->weights, l->weights_pd) != dnnl_success)
        FAIL("oneDNN could not make the primitives");

    if (!mf_make_tensor(&l->f_src, &user_src, mf_md(l->forward_pd, dnnl_query_src_md, 0), 1)
        || !mf_make_tensor(&l->f_weights, &user_weights, mf_md(l->forward_pd, dnnl_query_weights_md, 0), 1)
        || (s->bias && !mf_make_tensor(&l->f_bias, &user_bias, mf_md(l->forward_pd, dnnl_query_weights_md, 1), 1))
        || !mf_make_tensor(&l->f_dst, &user_dst, mf_md(l->forward_pd, dnnl_query_dst_md, 0), 0)
        || !mf_make_tensor(&l->d_diff_dst, &user_dst, mf_md(l->data_pd, dnnl_query_diff_dst_md, 0), 1)
        || !mf_make_tensor(&l->d_weights, &user_weights, mf_md(l->data_pd, dnnl_query_weights_md, 0), 1)
        || !mf_make_tensor(&l->d_diff_src, &user_src, mf_md(l->data_pd, dnnl_query_diff_src_md, 0), 0)
        || !mf_make_tensor(&l->w_src, &user_src, mf_md(l->weights_pd, dnnl_query_src_md, 0), 1)
        || !mf_make_tensor(&l->w_diff_dst, &user_dst, mf_md(l->weights_pd, dnnl_query_diff_dst_md, 0), 1)
        || !mf_make_tensor(&l->w_diff_weights, &user_weights, mf_md(l->weights_pd, dnnl_query_diff_weights_md, 0), 0)
        || (s->bias && !mf_make_tensor(&l->w_diff_bias, &user_bias, mf_md(l->weights_pd, dnnl_query_diff_weights_md, 1), 0)))
        FAIL("oneDNN could not lay out the tensors");
    return l;
}

void mf_dnnl_layer_destroy(mf_dnnl_layer *l) {
    if (!l) return;
    mf_tensor *all[] = {&l->f_src, &l->f_weights, &l->f_bias, &l->f_dst, &l->d_diff_dst, &l->d_weights, &l->d_diff_src,
                        &l->w_src, &l->w_diff_dst, &l->w_diff_weights, &l->w_diff_bias};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) mf_free_tensor(all[i]);
    if (l->forward) dnnl_primitive_destroy(l->forward);
    if (l->data) dnnl_primitive_destroy(l->data);
    if (l->weights) dnnl_primitive_destroy(l->weights);
    if (l->forward_pd) dnnl_primitive_desc_destroy(l->forward_pd);
    if (l->data_pd) dnnl_primitive_desc_destroy(l->data_pd);
    if (l->weights_pd) dnnl_primitive_desc_destroy(l->weights_pd);
    free(l);
}

int mf_dnnl_layer_forward(mf_dnnl_layer *l, const float *src, const float *weights, const float *bias, float *dst) {
    mf_binding inputs[3] = {{DNNL_ARG_SRC, &l->f_src, src}, {DNNL_ARG_WEIGHTS, &l->f_weights, weights},
                         {DNNL_ARG_BIAS, &l->f_bias, bias}};
    mf_binding output = {DNNL_ARG_DST, &l->f_dst, dst};
    return mf_execute(l->forward, inputs, l->bias ? 3 : 2, &output, 1);
}

int mf_dnnl_layer_backward(mf_dnnl_layer *l, const float *src, const float *diff_dst, const float *weights,
                           float *diff_src, float *diff_weights, float *diff_bias) {
    if (diff_src) {
        mf_binding inputs[2] = {{DNNL_ARG_DIFF_DST, &l->d_diff_dst, diff_dst}, {DNNL_ARG_WEIGHTS, &l->d_weights, weights}};
        mf_binding output = {DNNL_ARG_DIFF_SRC, &l->d_diff_src, diff_src};
        if (mf_execute(l->data, inputs, 2, &output, 1)) return 1;
    }
    if (!diff_weights) return 0;
    mf_binding inputs[2] = {{DNNL_ARG_SRC, &l->w_src, src}, {DNNL_ARG_DIFF_DST, &l->w_diff_dst, diff_dst}};
    /* When both primitives want diff_dst in the same layout, the weights' primitive reads the
       copy the data's primitive just made: one conversion, not two. */
    if (diff_src && l->d_diff_dst.internal && l->w_diff_dst.internal
        && dnnl_memory_desc_equal(mf_md(l->data_pd, dnnl_query_diff_dst_md, 0),
                                  mf_md(l->weights_pd, dnnl_query_diff_dst_md, 0)))
        inputs[1].memory = l->d_diff_dst.internal;
    mf_binding outputs[2] = {{DNNL_ARG_DIFF_WEIGHTS, &l->w_diff_weights, diff_weights},
                          {DNNL_ARG_DIFF_BIAS, &l->w_diff_bias, diff_bias}};
    return mf_execute(l->weights, inputs, 2, outputs, l->bias ? 2 : 1);
}

const char *mf_dnnl_layer_implementation(mf_dnnl_layer *l) { return l->implementation; }
