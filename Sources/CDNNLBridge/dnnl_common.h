// What the layer and stack bridges share: the process's oneDNN engine and stream, tensors in
// the caller's layout with oneDNN's copies, and running a primitive on them. Not part of the
// module's interface (Swift sees include/dnnl_bridge.h only).
#ifndef MELFORGE_DNNL_COMMON_H
#define MELFORGE_DNNL_COMMON_H

#include "dnnl_bridge.h"
#include <oneapi/dnnl/dnnl.h>

extern dnnl_engine_t mf_engine;
extern dnnl_stream_t mf_stream;

/// Makes the CPU engine and its stream on first use; 0 if oneDNN has none.
int mf_ready(void);

/// A tensor in the caller's layout and, when a primitive wants another, its own copy and the
/// reorder between them (into the copy for an input, out of it for an output).
typedef struct {
    dnnl_memory_t user;
    dnnl_memory_t internal; /* NULL when the primitive takes the caller's layout */
    dnnl_primitive_t reorder;
    mf_version version;     /* the version of the data the copy holds (0: none known) */
} mf_tensor;

/// What a tensor is to its primitive: read (reordered in), written (reordered out), or
/// added to the caller's (reordered out and summed into it: an accumulated gradient, which
/// always has its own copy).
enum { MF_OUTPUT = 0, MF_INPUT = 1, MF_ADDED = 2 };

int mf_make_tensor(mf_tensor *t, const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *wanted, int kind);
void mf_free_tensor(mf_tensor *t);

/// One argument of a primitive: the caller's `data` laid out by `t`, or `memory` that is
/// already in the primitive's layout (read, or written in place). An input's `version`
/// (`mf_version`) lets its copy be reused.
typedef struct {
    int arg;
    mf_tensor *t;
    const float *data;
    dnnl_memory_t memory;
    mf_version version;
} mf_binding;

/// Runs `primitive` on `inputs` (reordered in from the caller's memory) and `outputs`
/// (reordered out to it), and waits for it; 0 on success.
int mf_execute(dnnl_primitive_t primitive, const mf_binding *inputs, int input_count, const mf_binding *outputs,
               int output_count);

/// Runs a reorder from `from` to `to`; 0 on success.
int mf_reorder(dnnl_primitive_t reorder, dnnl_memory_t from, dnnl_memory_t to);

/// A reorder primitive between two layouts (NULL if oneDNN has none); with `add`, it adds to
/// what `to` holds (a sum post-op).
dnnl_primitive_t mf_make_reorder(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to, int add);

/// A layer's tensors in the caller's layout (NCHW float32, weights as PyTorch lays them out)
/// and its forward, backward-data and backward-weights operations.
typedef struct {
    dnnl_memory_desc_t user_src, user_dst, user_weights, user_bias;
    dnnl_convolution_desc_t forward, data, weights;
} mf_layer_descriptors;

/// Layouts a layer's backward operations are to use instead of oneDNN's choice (NULL: its
/// choice): a stack pins them to its forward's, so that every gradient between its layers is
/// laid out as the tensor it is the gradient of.
typedef struct {
    const dnnl_memory_desc_t *src, *diff_dst, *diff_src;
} mf_pinned_layouts;

/// The descriptors of `shape`, a convolution or (transposed) a deconvolution: its inputs in the
/// shape's precision, the forward's dst in `dst_type` and the backward data's diff_src in
/// `diff_src_type`, the weights' and bias's gradients in float32; layouts oneDNN's choice but
/// for `pinned` ones (may be NULL) and, with `channels_last`, the direct convolution's (see
/// `mf_channels_last`). 0 if oneDNN has no such operation.
int mf_describe_layer(const mf_dnnl_layer_shape *shape, dnnl_data_type_t dst_type, dnnl_data_type_t diff_src_type,
                      const mf_pinned_layouts *pinned, int channels_last, mf_layer_descriptors *d);

/// Whether the layer's direct convolution (a convolution's forward; a transposed one's backward
/// data, which is the convolution it transposes) is to run on channels-last (NHWC) activations:
/// in float32 from 128 input channels, where oneDNN 2.6 runs it with its brgemm kernel, which it
/// has for channels-last only. Measured on this project's machine (AVX-512, the reference
/// models' layers, batch 64): 30-35% faster than its direct kernel on its own blocked layouts
/// from 128 channels (6.0 -> 4.0 ms), 10-18% from 32 and 64, slower from 1; the conversions to
/// and from channels-last cost 0.3-0.6 ms on 32- and 64-channel activations (as much as they
/// gain there) and 0.1-0.4 ms from 128. In bfloat16 its direct kernel is as fast or faster.
int mf_channels_last(const mf_dnnl_layer_shape *shape);

/// The forward primitive's descriptor, with the shape's activation as a post-op; 0 if oneDNN
/// has none on this CPU.
int mf_make_forward(const mf_dnnl_layer_shape *shape, const mf_layer_descriptors *d, dnnl_primitive_desc_t *pd);

/// The implementation oneDNN runs `pd` with, as ONEDNN_VERBOSE names it ("jit:avx2",
/// "brgconv:avx512_core", "ref:any"); "" if it does not say.
const char *mf_implementation(const_dnnl_primitive_desc_t pd);

/// Whether that is one of oneDNN's reference implementations ("ref:any", "ref_fused:any"):
/// plain loops, which the bridge never runs (measured on AVX2, the reference discriminator's
/// 1 -> 32 layer: 1.2 s for a weight gradient im2col makes in a few milliseconds).
int mf_is_reference(const_dnnl_primitive_desc_t pd);

/// `name` copied into `text` (at most `capacity` bytes with the terminating 0).
void mf_copy_name(char *text, int capacity, const char *name);

/// The primitive's memory descriptor `what` (its `index`th), e.g. its source.
const dnnl_memory_desc_t *mf_md(const_dnnl_primitive_desc_t pd, dnnl_query_t what, int index);

/// How a 4-D activation [N, C, H, W] (float32 or bfloat16) lies in memory: element (n, c, h, w)
/// at n batch_stride + (c / block) block_stride + (h W + w) block + c % block, which covers
/// plain NCHW (block 1) and oneDNN's channel-blocked layouts (aBcd8b, aBcd16b; blocks of at
/// most 64).
typedef struct {
    long batch, channels, spatial, block, batch_stride, block_stride;
    int bfloat16;
} mf_channel_layout;

/// The layout of `md`; 0 if it is not one of those.
int mf_channel_layout_of(const dnnl_memory_desc_t *md, mf_channel_layout *layout);

/// A layer's weight gradient as one matrix product (dnnl_weights.c): from the layer's image
/// side (a convolution's input, a transposed convolution's output gradient) and grid side (a
/// convolution's output gradient, a transposed convolution's input), each held in the layout
/// it was made for, added to the caller's weights gradient (its `user_weights_md`).
typedef struct mf_weights_product mf_weights_product;

/// Whether `shape`'s weight gradient is to be one matrix product rather than oneDNN 2.6's
/// backward-weights kernel: in bfloat16, from a grid of at most 16 positions and an image of at
/// least 64 channels. Measured on this project's machine (the reference models' 128 <-> 256
/// layers, batch 64): the kernel takes 8.2 ms there (its fp32 one 5.7), the product 2.6 plus
/// the columns; from an 8x8 grid (64 <-> 128) the kernel is as fast.
int mf_weights_by_product(const mf_dnnl_layer_shape *shape);
mf_weights_product *mf_weights_product_create(const mf_dnnl_layer_shape *shape, const dnnl_memory_desc_t *image_md,
                                              const dnnl_memory_desc_t *grid_md, const dnnl_memory_desc_t *user_weights_md);
/// The product's implementation: "matmul " and its matmul's (`mf_implementation`).
const char *mf_weights_product_implementation(const mf_weights_product *product);
/// Adds the weight gradient of `image` and `grid` to `diff_weights`; 0 on success.
int mf_weights_product_run(mf_weights_product *product, dnnl_memory_t image, dnnl_memory_t grid, float *diff_weights);
void mf_weights_product_destroy(mf_weights_product *product);

/// body(context, begin, end) over shares of 0..<count, one per OpenMP thread (the team
/// `mf_dnnl_set_threads` sized, oneDNN's own), as `#pragma omp parallel` would run it.
void mf_parallel(void (*body)(void *context, long begin, long end), void *context, long count);

/// Each channel's sum over the batch and the positions of `data` added to `sums` (a bias's
/// gradient; summed in the same order whatever the threads).
void mf_channel_sums(const void *data, const mf_channel_layout *layout, float *sums);

/// data = rectifier(data + bias[c]) in place (`bias` NULL: none), `slope` below 0 (ReLU: 0).
void mf_bias_rectify(void *data, const mf_channel_layout *layout, const float *bias, float slope);

/// diff_input = the rectifier's derivative (read from its output's sign) times diff_output,
/// and, unless `bias_sums` is NULL, each channel's sum of it added there (to the bias's
/// gradient; summed in the same order whatever the threads).
void mf_rectify_backward(const void *diff_output, const void *output, void *diff_input, const mf_channel_layout *layout,
                         float slope, float *bias_sums);

#endif
