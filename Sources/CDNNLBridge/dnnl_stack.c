#include "dnnl_bridge.h"
#include "dnnl_common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/// An operation run on channels-last copies of its input and output: `in` reorders its input
/// from the stack's layout into `input`, `out` its output from `output` back into the stack's
/// layout (NULL when it goes to the caller instead).
typedef struct {
    dnnl_memory_t input, output;
    dnnl_primitive_t in, out;
} detour;

/// One convolution of a stack and its rectifier. Its output (after the rectifier) is kept by
/// each pass in the forward's layout, which is the next layer's input layout; the gradients
/// between layers stay in that layout too. A convolution adds its bias and rectifies as a
/// post-op, and its rectifier's derivative is oneDNN's eltwise backward; a transposed one (a
/// deconvolution) does both in `mf_bias_rectify` and `mf_rectify_backward` (oneDNN 2.6 does
/// them for a deconvolution in plain loops, dnnl_channels.c). A layer's direct convolution (a
/// convolution's forward, a transposed one's backward data) may run on channels-last copies
/// (`mf_channels_last`): a detour through them, reorders each side, in and out of the stack's
/// layouts, which stay oneDNN's choice for its own kernels.
typedef struct {
    int bias, transposed, channels_last;
    float slope;
    mf_channel_layout layout; /* a transposed layer's output */
    /* forward_pd lays out the stack's tensors; a channels-last convolution's forward runs
       last_forward_pd instead (a transposed one's data_pd is channels-last itself). */
    dnnl_primitive_desc_t forward_pd, last_forward_pd, rectifier_hint_pd, rectifier_pd, data_pd, weights_pd;
    dnnl_primitive_t forward, rectifier, data, weights;
    detour detour;
    mf_weights_product *product; /* the weights' gradient as one matrix product (not `weights`) */
    mf_channel_layout pre_layout; /* diff_pre's, for a convolution's bias sums beside `product` */
    mf_tensor f_weights, f_bias, d_weights, w_diff_weights, w_diff_bias;
    dnnl_memory_t diff_output; /* dL/d(output): the next layer's backward data writes it */
    dnnl_memory_t diff_pre;    /* dL/d(output before the rectifier) */
    char implementation[3][80]; /* per pass (MF_DNNL_FORWARD, ...) */
} stack_layer;

/// The caller's memory at one end of the stack and the reorder between it and oneDNN's layout.
typedef struct {
    dnnl_memory_t user;
    dnnl_primitive_t reorder;
} port;

struct mf_dnnl_stack {
    int count;
    stack_layer *layers;
    port input, output, diff_output; /* caller's src -> layer 0; last layer -> dst; diff_dst -> last layer */
    mf_tensor diff_input;            /* layer 0's data gradient -> caller's diff_src */
    dnnl_memory_desc_t input_md;     /* layer 0's input layout */
};

struct mf_dnnl_stack_pass {
    int count;
    dnnl_memory_t input;    /* the stack's input in layer 0's layout */
    dnnl_memory_t *outputs; /* each layer's output: the next one's input */
};

static int make_port(port *p, const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *from,
                     const dnnl_memory_desc_t *to) {
    if (dnnl_memory_create(&p->user, user_md, mf_engine, NULL) != dnnl_success) return 0;
    p->reorder = mf_make_reorder(from, to, 0);
    return p->reorder != NULL;
}

static void free_port(port *p) {
    if (p->user) dnnl_memory_destroy(p->user);
    if (p->reorder) dnnl_primitive_destroy(p->reorder);
}

static int same(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b) { return dnnl_memory_desc_equal(a, b); }

/// A detour from the stack's layout `from` into `input`, and from `output` to the stack's
/// layout `to` (NULL: the output goes elsewhere).
static int make_detour(detour *t, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *input,
                       const dnnl_memory_desc_t *output, const dnnl_memory_desc_t *to) {
    return dnnl_memory_create(&t->input, input, mf_engine, DNNL_MEMORY_ALLOCATE) == dnnl_success
           && (t->in = mf_make_reorder(from, input, 0)) != NULL
           && (!to
               || (dnnl_memory_create(&t->output, output, mf_engine, DNNL_MEMORY_ALLOCATE) == dnnl_success
                   && (t->out = mf_make_reorder(output, to, 0)) != NULL));
}

static void free_detour(detour *t) {
    if (t->input) dnnl_memory_destroy(t->input);
    if (t->output) dnnl_memory_destroy(t->output);
    if (t->in) dnnl_primitive_destroy(t->in);
    if (t->out) dnnl_primitive_destroy(t->out);
}

#define FAIL(message) do { snprintf(error, (size_t)error_capacity, "layer %d: %s", i + 1, message); mf_dnnl_stack_destroy(s); return NULL; } while (0)

mf_dnnl_stack *mf_dnnl_stack_create(int count, const mf_dnnl_layer_shape *shapes, char *error, int error_capacity) {
    mf_dnnl_stack *s = calloc(1, sizeof *s);
    stack_layer *layers = calloc((size_t)count, sizeof *layers);
    int i = 0;
    if (!s || !layers) { free(s); free(layers); snprintf(error, (size_t)error_capacity, "out of memory"); return NULL; }
    s->count = count;
    s->layers = layers;
    if (!mf_ready()) FAIL("oneDNN found no CPU engine");
    for (i = 0; i < count; i++) {
        const mf_dnnl_layer_shape *shape = &shapes[i];
        stack_layer *l = &layers[i];
        if (shape->activation != MF_DNNL_RELU) FAIL("a stack's layers end in a rectifier");
        l->bias = shape->bias;
        l->transposed = shape->transposed;
        l->slope = shape->alpha;
        /* A transposed layer's primitives have neither bias nor rectifier. */
        mf_dnnl_layer_shape primitive_shape = *shape;
        if (shape->transposed) {
            primitive_shape.bias = 0;
            primitive_shape.activation = MF_DNNL_IDENTITY;
        }
        /* Outputs and gradients between the layers in the shape's precision; layer 0's input
           gradient goes to the caller in float32. */
        dnnl_data_type_t type = shape->bfloat16 ? dnnl_bf16 : dnnl_f32;
        mf_layer_descriptors d;
        if (!mf_describe_layer(&primitive_shape, type, i == 0 ? dnnl_f32 : type, NULL, 0, &d))
            FAIL("no convolution of this shape");
        if (!mf_make_forward(&primitive_shape, &d, &l->forward_pd))
            FAIL(shape->bfloat16 ? "no bfloat16 forward convolution on this CPU" : "no forward convolution on this CPU");
        const dnnl_memory_desc_t *output_md = mf_md(l->forward_pd, dnnl_query_dst_md, 0);
        if (i > 0 && !same(mf_md(l->forward_pd, dnnl_query_src_md, 0), mf_md(layers[i - 1].forward_pd, dnnl_query_dst_md, 0)))
            FAIL("oneDNN lays out this layer's input otherwise than the previous layer's output");

        /* The rectifier's derivative, read from its output. */
        const dnnl_memory_desc_t *diff_pre_md = output_md;
        if (shape->transposed) {
            if (!mf_channel_layout_of(output_md, &l->layout)) FAIL("no bias and rectifier kernel for this layout");
        } else {
            dnnl_eltwise_desc_t rectifier_forward, rectifier;
            if (dnnl_eltwise_forward_desc_init(&rectifier_forward, dnnl_forward_training, dnnl_eltwise_relu_use_dst_for_bwd,
                                               output_md, shape->alpha, 0.0f) != dnnl_success
                || dnnl_primitive_desc_create(&l->rectifier_hint_pd, &rectifier_forward, NULL, mf_engine, NULL) != dnnl_success
                || dnnl_eltwise_backward_desc_init(&rectifier, dnnl_eltwise_relu_use_dst_for_bwd, output_md, output_md,
                                                   shape->alpha, 0.0f) != dnnl_success
                || dnnl_primitive_desc_create(&l->rectifier_pd, &rectifier, NULL, mf_engine, l->rectifier_hint_pd)
                       != dnnl_success)
                FAIL("no rectifier backward in this layout");
            diff_pre_md = mf_md(l->rectifier_pd, dnnl_query_diff_src_md, 0);
        }

        /* The backward operations on the forward's layouts (oneDNN may choose others when a layer
           has fewer channels than its blocks), the direct convolution perhaps on channels-last. */
        const dnnl_memory_desc_t *input_md = mf_md(l->forward_pd, dnnl_query_src_md, 0);
        mf_pinned_layouts pinned = {input_md, diff_pre_md, i ? mf_md(layers[i - 1].forward_pd, dnnl_query_dst_md, 0) : NULL};
        l->channels_last = mf_channels_last(&primitive_shape);
        if (!mf_describe_layer(&primitive_shape, type, i == 0 ? dnnl_f32 : type, &pinned, l->channels_last, &d))
            FAIL("no backward convolution on the forward's layouts");
        if (l->channels_last && !l->transposed && !mf_make_forward(&primitive_shape, &d, &l->last_forward_pd))
            FAIL("no channels-last forward convolution on this CPU");
        if (dnnl_primitive_desc_create(&l->data_pd, &d.data, NULL, mf_engine, l->forward_pd) != dnnl_success
            || dnnl_primitive_desc_create(&l->weights_pd, &d.weights, NULL, mf_engine, l->forward_pd) != dnnl_success)
            FAIL("no backward convolution of this shape on this CPU");
        /* The weights' gradient as one matrix product where oneDNN's kernel is slow for it: from
           the image side (a convolution's input, a transposed one's output gradient) and the
           grid side (the other). A convolution's bias gradient is then summed apart. */
        if (mf_weights_by_product(&primitive_shape)) {
            const dnnl_memory_desc_t *image_md = l->transposed ? diff_pre_md : input_md;
            const dnnl_memory_desc_t *grid_md = l->transposed ? input_md : diff_pre_md;
            l->product = mf_weights_product_create(&primitive_shape, image_md, grid_md, &d.user_weights);
            if (l->product && l->bias && !l->transposed && !mf_channel_layout_of(diff_pre_md, &l->pre_layout)) {
                mf_weights_product_destroy(l->product);
                l->product = NULL;
            }
        }
        /* No pass of a stack runs a reference implementation: the caller splits the stack. */
        const_dnnl_primitive_desc_t running_pds[3] = {l->last_forward_pd ? l->last_forward_pd : l->forward_pd, l->data_pd,
                                                      l->weights_pd};
        for (int pass = 0; pass < 3; pass++) {
            const char *name = pass == MF_DNNL_BACKWARD_WEIGHTS && l->product ? mf_weights_product_implementation(l->product)
                                                                              : mf_implementation(running_pds[pass]);
            mf_copy_name(l->implementation[pass], sizeof l->implementation[pass], name);
            if (strncmp(name, "ref", 3) == 0) {
                static const char *passes[3] = {"forward", "backward data", "backward weights"};
                snprintf(error, (size_t)error_capacity, "layer %d: oneDNN has only a reference implementation (%s) for its %s",
                         i + 1, name, passes[pass]);
                mf_dnnl_stack_destroy(s);
                return NULL;
            }
        }
        if (l->rectifier_pd && mf_is_reference(l->rectifier_pd))
            FAIL("oneDNN has only a reference implementation for the rectifier's derivative");
        int data_pinned = !(l->channels_last && l->transposed);
        if ((data_pinned && !same(mf_md(l->data_pd, dnnl_query_diff_dst_md, 0), diff_pre_md))
            || !same(mf_md(l->weights_pd, dnnl_query_diff_dst_md, 0), diff_pre_md)
            || !same(mf_md(l->weights_pd, dnnl_query_src_md, 0), input_md)
            || (data_pinned && i > 0 && !same(mf_md(l->data_pd, dnnl_query_diff_src_md, 0), pinned.diff_src)))
            FAIL("oneDNN lays out a gradient otherwise than its tensor");
        const_dnnl_primitive_desc_t running_forward_pd = l->last_forward_pd ? l->last_forward_pd : l->forward_pd;
        if (dnnl_primitive_create(&l->forward, running_forward_pd) != dnnl_success
            || (!l->transposed && dnnl_primitive_create(&l->rectifier, l->rectifier_pd) != dnnl_success)
            || dnnl_primitive_create(&l->data, l->data_pd) != dnnl_success
            || dnnl_primitive_create(&l->weights, l->weights_pd) != dnnl_success)
            FAIL("oneDNN could not make the primitives");
        if (l->last_forward_pd
            && !make_detour(&l->detour, input_md, mf_md(l->last_forward_pd, dnnl_query_src_md, 0),
                            mf_md(l->last_forward_pd, dnnl_query_dst_md, 0), output_md))
            FAIL("oneDNN could not lay out the channels-last copies");
        if (l->channels_last && l->transposed
            && !make_detour(&l->detour, diff_pre_md, mf_md(l->data_pd, dnnl_query_diff_dst_md, 0),
                            mf_md(l->data_pd, dnnl_query_diff_src_md, 0), pinned.diff_src))
            FAIL("oneDNN could not lay out the channels-last copies");
        if (!mf_make_tensor(&l->f_weights, &d.user_weights, mf_md(running_forward_pd, dnnl_query_weights_md, 0), MF_INPUT)
            || (primitive_shape.bias
                && !mf_make_tensor(&l->f_bias, &d.user_bias, mf_md(running_forward_pd, dnnl_query_weights_md, 1), MF_INPUT))
            || !mf_make_tensor(&l->d_weights, &d.user_weights, mf_md(l->data_pd, dnnl_query_weights_md, 0), MF_INPUT)
            || !mf_make_tensor(&l->w_diff_weights, &d.user_weights, mf_md(l->weights_pd, dnnl_query_diff_weights_md, 0), MF_ADDED)
            || (primitive_shape.bias
                && !mf_make_tensor(&l->w_diff_bias, &d.user_bias, mf_md(l->weights_pd, dnnl_query_diff_weights_md, 1), MF_ADDED))
            || dnnl_memory_create(&l->diff_output, output_md, mf_engine, DNNL_MEMORY_ALLOCATE) != dnnl_success
            || dnnl_memory_create(&l->diff_pre, diff_pre_md, mf_engine, DNNL_MEMORY_ALLOCATE) != dnnl_success)
            FAIL("oneDNN could not lay out the tensors");
        if (i == 0) {
            s->input_md = *mf_md(l->forward_pd, dnnl_query_src_md, 0);
            if (!make_port(&s->input, &d.user_src, &d.user_src, &s->input_md)
                || !mf_make_tensor(&s->diff_input, &d.user_src, mf_md(l->data_pd, dnnl_query_diff_src_md, 0), MF_OUTPUT))
                FAIL("oneDNN could not lay out the input");
        }
        if (i == count - 1) {
            if (!make_port(&s->output, &d.user_dst, output_md, &d.user_dst)
                || !make_port(&s->diff_output, &d.user_dst, &d.user_dst, output_md))
                FAIL("oneDNN could not lay out the output");
        }
    }
    return s;
}

void mf_dnnl_stack_destroy(mf_dnnl_stack *s) {
    if (!s) return;
    for (int i = 0; i < s->count; i++) {
        stack_layer *l = &s->layers[i];
        mf_tensor *all[] = {&l->f_weights, &l->f_bias, &l->d_weights, &l->w_diff_weights, &l->w_diff_bias};
        for (size_t j = 0; j < sizeof all / sizeof *all; j++) mf_free_tensor(all[j]);
        dnnl_primitive_t primitives[] = {l->forward, l->rectifier, l->data, l->weights};
        for (size_t j = 0; j < sizeof primitives / sizeof *primitives; j++)
            if (primitives[j]) dnnl_primitive_destroy(primitives[j]);
        dnnl_primitive_desc_t descriptors[] = {l->forward_pd,   l->last_forward_pd, l->rectifier_hint_pd,
                                               l->rectifier_pd, l->data_pd,         l->weights_pd};
        for (size_t j = 0; j < sizeof descriptors / sizeof *descriptors; j++)
            if (descriptors[j]) dnnl_primitive_desc_destroy(descriptors[j]);
        if (l->diff_output) dnnl_memory_destroy(l->diff_output);
        if (l->diff_pre) dnnl_memory_destroy(l->diff_pre);
        free_detour(&l->detour);
        mf_weights_product_destroy(l->product);
    }
    free_port(&s->input);
    free_port(&s->output);
    free_port(&s->diff_output);
    mf_free_tensor(&s->diff_input);
    free(s->layers);
    free(s);
}

void mf_dnnl_stack_pass_destroy(mf_dnnl_stack_pass *pass) {
    if (!pass) return;
    if (pass->input) dnnl_memory_destroy(pass->input);
    for (int i = 0; pass->outputs && i < pass->count; i++)
        if (pass->outputs[i]) dnnl_memory_destroy(pass->outputs[i]);
    free(pass->outputs);
    free(pass);
}

/// Reorders between the caller's `data` at `p` and oneDNN's `memory` (to it when `inward`).
static int through(port *p, const float *data, dnnl_memory_t memory, int inward) {
    if (dnnl_memory_set_data_handle(p->user, (void *)data) != dnnl_success) return 1;
    return inward ? mf_reorder(p->reorder, p->user, memory) : mf_reorder(p->reorder, memory, p->user);
}

mf_dnnl_stack_pass *mf_dnnl_stack_forward(mf_dnnl_stack *s, const float *src, const float *const *weights,
                                          const mf_version *versions, const float *const *biases, float *dst) {
    mf_dnnl_stack_pass *pass = calloc(1, sizeof *pass);
    if (!pass || !(pass->outputs = calloc((size_t)s->count, sizeof *pass->outputs))) {
        free(pass);
        return NULL;
    }
    pass->count = s->count;
    int failed = dnnl_memory_create(&pass->input, &s->input_md, mf_engine, DNNL_MEMORY_ALLOCATE) != dnnl_success
                 || through(&s->input, src, pass->input, 1);
    for (int i = 0; i < s->count && !failed; i++) {
        stack_layer *l = &s->layers[i];
        failed = dnnl_memory_create(&pass->outputs[i], mf_md(l->forward_pd, dnnl_query_dst_md, 0), mf_engine,
                                    DNNL_MEMORY_ALLOCATE) != dnnl_success;
        if (failed) break;
        dnnl_memory_t input = i ? pass->outputs[i - 1] : pass->input;
        int detoured = l->last_forward_pd != NULL;
        failed = detoured && mf_reorder(l->detour.in, input, l->detour.input);
        if (failed) break;
        mf_binding inputs[3] = {{DNNL_ARG_SRC, .memory = detoured ? l->detour.input : input},
                                {DNNL_ARG_WEIGHTS, &l->f_weights, weights[i], .version = versions[i]},
                                {DNNL_ARG_BIAS, &l->f_bias, biases[i]}};
        mf_binding output = {DNNL_ARG_DST, .memory = detoured ? l->detour.output : pass->outputs[i]};
        failed = mf_execute(l->forward, inputs, l->bias && !l->transposed ? 3 : 2, &output, 1)
                 || (detoured && mf_reorder(l->detour.out, l->detour.output, pass->outputs[i]));
        if (!failed && l->transposed) {
            void *data;
            failed = dnnl_memory_get_data_handle(pass->outputs[i], &data) != dnnl_success;
            if (!failed) mf_bias_rectify(data, &l->layout, l->bias ? biases[i] : NULL, l->slope);
        }
    }
    if (failed || through(&s->output, dst, pass->outputs[s->count - 1], 0) || dnnl_stream_wait(mf_stream) != dnnl_success) {
        mf_dnnl_stack_pass_destroy(pass);
        return NULL;
    }
    return pass;
}

int mf_dnnl_stack_backward(mf_dnnl_stack *s, const mf_dnnl_stack_pass *pass, const float *diff_dst,
                           const float *const *weights, const mf_version *versions, float *diff_src,
                           float *const *diff_weights, float *const *diff_biases) {
    if (through(&s->diff_output, diff_dst, s->layers[s->count - 1].diff_output, 1)) return 1;
    for (int i = s->count - 1; i >= 0; i--) {
        stack_layer *l = &s->layers[i];
        dnnl_memory_t input = i ? pass->outputs[i - 1] : pass->input;
        if (l->transposed) {
            void *diff_output, *output, *diff_pre;
            if (dnnl_stream_wait(mf_stream) != dnnl_success /* diff_output written */
                || dnnl_memory_get_data_handle(l->diff_output, &diff_output) != dnnl_success
                || dnnl_memory_get_data_handle(pass->outputs[i], &output) != dnnl_success
                || dnnl_memory_get_data_handle(l->diff_pre, &diff_pre) != dnnl_success)
                return 1;
            mf_rectify_backward(diff_output, output, diff_pre, &l->layout, l->slope,
                                diff_weights && l->bias ? diff_biases[i] : NULL);
        } else {
            mf_binding rectifier_inputs[2] = {{DNNL_ARG_DIFF_DST, .memory = l->diff_output},
                                              {DNNL_ARG_DST, .memory = pass->outputs[i]}};
            mf_binding diff_pre = {DNNL_ARG_DIFF_SRC, .memory = l->diff_pre};
            if (mf_execute(l->rectifier, rectifier_inputs, 2, &diff_pre, 1)) return 1;
        }
        if (diff_weights && l->product) {
            void *diff_pre;
            if (mf_weights_product_run(l->product, l->transposed ? l->diff_pre : input, l->transposed ? input : l->diff_pre,
                                       diff_weights[i])
                || dnnl_memory_get_data_handle(l->diff_pre, &diff_pre) != dnnl_success)
                return 1;
            if (l->bias && !l->transposed) mf_channel_sums(diff_pre, &l->pre_layout, diff_biases[i]);
        } else if (diff_weights) {
            mf_binding inputs[2] = {{DNNL_ARG_SRC, .memory = input}, {DNNL_ARG_DIFF_DST, .memory = l->diff_pre}};
            mf_binding outputs[2] = {{DNNL_ARG_DIFF_WEIGHTS, &l->w_diff_weights, diff_weights[i]},
                                     {DNNL_ARG_DIFF_BIAS, &l->w_diff_bias, diff_biases[i]}};
            if (mf_execute(l->weights, inputs, 2, outputs, l->bias && !l->transposed ? 2 : 1)) return 1;
        }
        if (i == 0 && !diff_src) break;
        /* A transposed layer's backward data may take a detour through channels-last copies
           (layer 0's output goes to the caller from its copy). */
        int detoured = l->channels_last && l->transposed;
        if (detoured && mf_reorder(l->detour.in, l->diff_pre, l->detour.input)) return 1;
        mf_binding inputs[2] = {{DNNL_ARG_DIFF_DST, .memory = detoured ? l->detour.input : l->diff_pre},
                                {DNNL_ARG_WEIGHTS, &l->d_weights, weights[i], .version = versions[i]}};
        mf_binding output = i == 0 ? (mf_binding){DNNL_ARG_DIFF_SRC, &s->diff_input, diff_src}
                            : detoured ? (mf_binding){DNNL_ARG_DIFF_SRC, .memory = l->detour.output}
                                     : (mf_binding){DNNL_ARG_DIFF_SRC, .memory = s->layers[i - 1].diff_output};
        if (mf_execute(l->data, inputs, 2, &output, 1)
            || (detoured && i > 0 && mf_reorder(l->detour.out, l->detour.output, s->layers[i - 1].diff_output)))
            return 1;
    }
    return 0;
}

int mf_dnnl_stack_channels_last(const mf_dnnl_stack *s, int index) { return s->layers[index].channels_last; }

int mf_dnnl_stack_weights_by_product(const mf_dnnl_stack *s, int index) { return s->layers[index].product != NULL; }

void mf_dnnl_stack_implementation(const mf_dnnl_stack *s, int index, int pass, char *text, int capacity) {
    mf_copy_name(text, capacity, index >= 0 && index < s->count && pass >= 0 && pass < 3
                                     ? s->layers[index].implementation[pass] : "");
}
