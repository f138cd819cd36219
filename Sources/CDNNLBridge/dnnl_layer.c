#include "dnnl_bridge.h"
#include "dnnl_common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mf_dnnl_layer {
    int bias, transposed, channels_last;
    dnnl_primitive_desc_t forward_pd, data_pd, weights_pd;
    dnnl_primitive_t forward, data, weights;
    /* forward: src, weights, bias -> dst */
    mf_tensor f_src, f_weights, f_bias, f_dst;
    /* backward data: diff_dst, weights -> diff_src */
    mf_tensor d_diff_dst, d_weights, d_diff_src;
    /* backward weights: src, diff_dst -> diff_weights, diff_bias */
    mf_tensor w_src, w_diff_dst, w_diff_weights, w_diff_bias;
    /* or the weights' gradient as one matrix product, and the bias's summed from diff_dst */
    mf_weights_product *product;
    mf_channel_layout dst_layout;
    /* Per pass (MF_DNNL_FORWARD, ...): whether it runs here, and the implementation it runs
       with or that was declined. */
    int runs[3];
    char implementation[3][80];
};

#define FAIL(message) do { snprintf(error, (size_t)error_capacity, "%s", message); mf_dnnl_layer_destroy(l); return NULL; } while (0)

mf_dnnl_layer *mf_dnnl_layer_create(const mf_dnnl_layer_shape *s, char *error, int error_capacity) {
    mf_dnnl_layer *l = calloc(1, sizeof *l);
    if (!l) { snprintf(error, (size_t)error_capacity, "out of memory"); return NULL; }
    if (!mf_ready()) FAIL("oneDNN found no CPU engine");
    l->bias = s->bias;
    l->transposed = s->transposed;
    /* Results (dst, diff_src, the weights' and bias's gradients) in float32. The caller's
       tensors are converted for each primitive anyway, so its direct convolution takes
       channels-last copies where that is faster. */
    mf_layer_descriptors d;
    l->channels_last = mf_channels_last(s);
    if (!mf_describe_layer(s, dnnl_f32, dnnl_f32, NULL, l->channels_last, &d))
        FAIL("no convolution of this shape (a negative padding?)");
    if (!mf_make_forward(s, &d, &l->forward_pd))
        FAIL(s->bfloat16 ? "no bfloat16 forward primitive on this CPU" : "no forward primitive on this CPU");
    if (dnnl_primitive_desc_create(&l->data_pd, &d.data, NULL, mf_engine, l->forward_pd) != dnnl_success)
        FAIL("no backward-data primitive of this shape on this CPU");
    if (dnnl_primitive_desc_create(&l->weights_pd, &d.weights, NULL, mf_engine, l->forward_pd) != dnnl_success)
        FAIL("no backward-weights primitive of this shape on this CPU");
    /* A pass oneDNN would run with a reference implementation is left to the caller. */
    const_dnnl_primitive_desc_t pds[3] = {l->forward_pd, l->data_pd, l->weights_pd};
    for (int pass = 0; pass < 3; pass++) {
        mf_copy_name(l->implementation[pass], sizeof l->implementation[pass], mf_implementation(pds[pass]));
        l->runs[pass] = !mf_is_reference(pds[pass]);
    }
    /* The weights' gradient as one matrix product where oneDNN's kernel is slow for it (when
       oneDNN has a fast matmul for it). */
    if (mf_weights_by_product(s)) {
        l->product = mf_weights_product_create(s, s->transposed ? &d.user_dst : &d.user_src,
                                               s->transposed ? &d.user_src : &d.user_dst, &d.user_weights);
        if (l->product && s->bias && !mf_channel_layout_of(&d.user_dst, &l->dst_layout)) {
            mf_weights_product_destroy(l->product);
            l->product = NULL;
        }
        if (l->product) {
            mf_copy_name(l->implementation[MF_DNNL_BACKWARD_WEIGHTS], sizeof l->implementation[0],
                         mf_weights_product_implementation(l->product));
            l->runs[MF_DNNL_BACKWARD_WEIGHTS] = 1;
        }
    }
    int weights_primitive = l->runs[MF_DNNL_BACKWARD_WEIGHTS] && !l->product;
    if ((l->runs[MF_DNNL_FORWARD] && dnnl_primitive_create(&l->forward, l->forward_pd) != dnnl_success)
        || (l->runs[MF_DNNL_BACKWARD_DATA] && dnnl_primitive_create(&l->data, l->data_pd) != dnnl_success)
        || (weights_primitive && dnnl_primitive_create(&l->weights, l->weights_pd) != dnnl_success))
        FAIL("oneDNN could not make the primitives");

    if ((l->runs[MF_DNNL_FORWARD]
         && (!mf_make_tensor(&l->f_src, &d.user_src, mf_md(l->forward_pd, dnnl_query_src_md, 0), MF_INPUT)
             || !mf_make_tensor(&l->f_weights, &d.user_weights, mf_md(l->forward_pd, dnnl_query_weights_md, 0), MF_INPUT)
             || (s->bias
                 && !mf_make_tensor(&l->f_bias, &d.user_bias, mf_md(l->forward_pd, dnnl_query_weights_md, 1), MF_INPUT))
             || !mf_make_tensor(&l->f_dst, &d.user_dst, mf_md(l->forward_pd, dnnl_query_dst_md, 0), MF_OUTPUT)))
        || (l->runs[MF_DNNL_BACKWARD_DATA]
            && (!mf_make_tensor(&l->d_diff_dst, &d.user_dst, mf_md(l->data_pd, dnnl_query_diff_dst_md, 0), MF_INPUT)
                || !mf_make_tensor(&l->d_weights, &d.user_weights, mf_md(l->data_pd, dnnl_query_weights_md, 0), MF_INPUT)
                || !mf_make_tensor(&l->d_diff_src, &d.user_src, mf_md(l->data_pd, dnnl_query_diff_src_md, 0), MF_OUTPUT)))
        /* The product reads the caller's src and diff_dst through these tensors' user memories. */
        || (l->runs[MF_DNNL_BACKWARD_WEIGHTS]
            && (!mf_make_tensor(&l->w_src, &d.user_src, mf_md(l->weights_pd, dnnl_query_src_md, 0), MF_INPUT)
                || !mf_make_tensor(&l->w_diff_dst, &d.user_dst, mf_md(l->weights_pd, dnnl_query_diff_dst_md, 0), MF_INPUT)))
        || (weights_primitive
            && (!mf_make_tensor(&l->w_diff_weights, &d.user_weights, mf_md(l->weights_pd, dnnl_query_diff_weights_md, 0),
                                MF_ADDED)
                || (s->bias
                    && !mf_make_tensor(&l->w_diff_bias, &d.user_bias, mf_md(l->weights_pd, dnnl_query_diff_weights_md, 1),
                                       MF_ADDED)))))
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
    mf_weights_product_destroy(l->product);
    free(l);
}

int mf_dnnl_layer_forward(mf_dnnl_layer *l, const float *src, const float *weights, mf_version weights_version,
                          const float *bias, float *dst) {
    if (!l->runs[MF_DNNL_FORWARD]) return 1;
    mf_binding inputs[3] = {{DNNL_ARG_SRC, &l->f_src, src},
                            {DNNL_ARG_WEIGHTS, &l->f_weights, weights, .version = weights_version},
                            {DNNL_ARG_BIAS, &l->f_bias, bias}};
    mf_binding output = {DNNL_ARG_DST, &l->f_dst, dst};
    return mf_execute(l->forward, inputs, l->bias ? 3 : 2, &output, 1);
}

int mf_dnnl_layer_backward(mf_dnnl_layer *l, const float *src, const float *diff_dst, const float *weights,
                           mf_version weights_version, float *diff_src, float *diff_weights, float *diff_bias) {
    if ((diff_src && !l->runs[MF_DNNL_BACKWARD_DATA]) || (diff_weights && !l->runs[MF_DNNL_BACKWARD_WEIGHTS])) return 1;
    if (diff_src) {
        mf_binding inputs[2] = {{DNNL_ARG_DIFF_DST, &l->d_diff_dst, diff_dst},
                                {DNNL_ARG_WEIGHTS, &l->d_weights, weights, .version = weights_version}};
        mf_binding output = {DNNL_ARG_DIFF_SRC, &l->d_diff_src, diff_src};
        if (mf_execute(l->data, inputs, 2, &output, 1)) return 1;
    }
    if (!diff_weights) return 0;
    if (l->product) {
        dnnl_memory_t image = l->transposed ? l->w_diff_dst.user : l->w_src.user;
        dnnl_memory_t grid = l->transposed ? l->w_src.user : l->w_diff_dst.user;
        if (dnnl_memory_set_data_handle(l->w_src.user, (void *)src) != dnnl_success
            || dnnl_memory_set_data_handle(l->w_diff_dst.user, (void *)diff_dst) != dnnl_success
            || mf_weights_product_run(l->product, image, grid, diff_weights))
            return 1;
        if (l->bias) mf_channel_sums(diff_dst, &l->dst_layout, diff_bias);
        return 0;
    }
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

int mf_dnnl_layer_channels_last(const mf_dnnl_layer *l) { return l->channels_last; }

int mf_dnnl_layer_weights_by_product(const mf_dnnl_layer *l) { return l->product != NULL; }

int mf_dnnl_layer_runs(const mf_dnnl_layer *l, int pass) { return pass >= 0 && pass < 3 && l->runs[pass]; }

void mf_dnnl_layer_implementation(const mf_dnnl_layer *l, int pass, char *text, int capacity) {
    mf_copy_name(text, capacity, pass >= 0 && pass < 3 ? l->implementation[pass] : "");
}
