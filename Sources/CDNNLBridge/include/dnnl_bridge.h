// Convolution layers (and stacks of them) on oneDNN (Intel's Deep Neural Network Library, the CPU convolutions of
// TensorFlow and PyTorch) behind a few plain C functions: one layer's geometry, its forward,
// backward-data and backward-weights primitives made once and reused, on caller memory in
// NCHW float32 (weights as PyTorch lays them out). A layer is a convolution or a transposed
// convolution (oneDNN's deconvolution); its forward may add a bias and apply an activation in
// the same pass (a post-op). With bfloat16 the inputs are converted (oneDNN reorders) and the
// products accumulate in float32; outputs are float32.
#ifndef MELFORGE_DNNL_BRIDGE_H
#define MELFORGE_DNNL_BRIDGE_H

#include <stdint.h>

typedef struct mf_dnnl_layer mf_dnnl_layer;

/// Which values a weights array holds: nonzero, and another number whenever they change
/// (MelForge's `Parameter.version`). A layer keeps its weights converted to oneDNN's layout
/// and precision and converts them again only for another version (a discriminator's
/// weights serve three forwards and three backwards between two updates). 0: convert always.
typedef uint64_t mf_version;

/// The activation a forward applies to its output (after the bias).
enum { MF_DNNL_IDENTITY = 0, MF_DNNL_RELU = 1 /* alpha: the slope below 0 */, MF_DNNL_TANH = 2 };

typedef struct {
    /// 0: a convolution, weights [O, C, K, K]; 1: a transposed convolution, weights [C, O, K, K].
    int transposed;
    /// The layer's input [batch, channels, height, width] and output [batch, outputs, out_height, out_width].
    int batch, channels, height, width;
    int outputs, out_height, out_width;
    int kernel, stride;
    /// Padding of the convolution's input (a transposed convolution's output) before and after.
    int pad_top, pad_left, pad_bottom, pad_right;
    /// 1: a bias [O] is added in the forward and its gradient made in the backward.
    int bias;
    int activation;
    float alpha;
    int bfloat16;
} mf_dnnl_layer_shape;

/// NULL (with a reason in `error`) if oneDNN has no such primitive (say, bfloat16 on a CPU
/// without it, or a negative padding).
mf_dnnl_layer *mf_dnnl_layer_create(const mf_dnnl_layer_shape *shape, char *error, int error_capacity);
void mf_dnnl_layer_destroy(mf_dnnl_layer *layer);

/// dst = activation(layer(src, weights) + bias); `bias` is ignored without one. 0 on success.
int mf_dnnl_layer_forward(mf_dnnl_layer *layer, const float *src, const float *weights, mf_version weights_version,
                          const float *bias, float *dst);

/// From diff_dst, the gradient of the loss by the layer's output before its activation:
/// diff_src (unless NULL) written, and the weights' and bias's gradients added to diff_weights
/// and diff_bias (unless diff_weights is NULL; diff_bias is ignored without a bias): they are
/// the parameters' accumulated gradients, summed into in the conversion from oneDNN's layout.
/// diff_dst is converted once for both where they take the same layout. 0 on success.
int mf_dnnl_layer_backward(mf_dnnl_layer *layer, const float *src, const float *diff_dst, const float *weights,
                           mf_version weights_version, float *diff_src, float *diff_weights, float *diff_bias);

/// A layer's three passes: its forward, its backward data (the input's gradient) and its
/// backward weights (the weights' and bias's gradients).
enum { MF_DNNL_FORWARD = 0, MF_DNNL_BACKWARD_DATA = 1, MF_DNNL_BACKWARD_WEIGHTS = 2 };

/// Whether the layer runs `pass` on oneDNN: not where oneDNN's implementation for it is one of
/// its reference ones (plain loops; on AVX2, oneDNN 2.6 has no other for a 1-channel
/// convolution's backward passes). The caller computes such a pass itself; the forward and
/// backward functions refuse it (non-zero status). The choice depends on the CPU and oneDNN
/// alone, made once per shape: no timing.
int mf_dnnl_layer_runs(const mf_dnnl_layer *layer, int pass);
/// The implementation oneDNN runs `pass` with (or would have, had it not been declined), as
/// ONEDNN_VERBOSE names it: "jit:avx2", "brgconv:avx512_core", "ref:any"; a weight gradient
/// made as one matrix product: "matmul " and the matmul's.
void mf_dnnl_layer_implementation(const mf_dnnl_layer *layer, int pass, char *text, int capacity);

/// Whether the layer's direct convolution (a convolution's forward, a transposed one's backward
/// data) runs on channels-last copies of its tensors (oneDNN's fastest kernel for it on this
/// CPU; see dnnl_common.h).
int mf_dnnl_layer_channels_last(const mf_dnnl_layer *layer);
/// Whether the layer's weight gradient is one matrix product (oneDNN's matmul on im2col
/// columns) instead of oneDNN's backward-weights kernel, where that is slow (see dnnl_common.h).
int mf_dnnl_layer_weights_by_product(const mf_dnnl_layer *layer);

/// A stack of convolutions, or of transposed convolutions, each followed by a rectifier (ReLU
/// with `alpha` its slope below 0; every shape's activation MF_DNNL_RELU), whose activations
/// stay in oneDNN's layout and precision from one layer to the next, forward and backward: only
/// the stack's input and output, and its gradients, are converted from and to the caller's
/// NCHW float32. (A discriminator's, an encoder's or a decoder's body: per layer, this saves
/// the conversions of its output and input and of their gradients, and the bias and the
/// rectifier and their derivatives run on oneDNN's layout.)
typedef struct mf_dnnl_stack mf_dnnl_stack;
/// What one forward pass keeps for its backward: its input and every layer's output.
typedef struct mf_dnnl_stack_pass mf_dnnl_stack_pass;

/// NULL (with a reason in `error`) if oneDNN has no such primitives or lays out one layer's
/// output otherwise than the next layer's input (then use the layers one by one).
mf_dnnl_stack *mf_dnnl_stack_create(int count, const mf_dnnl_layer_shape *shapes, char *error, int error_capacity);
void mf_dnnl_stack_destroy(mf_dnnl_stack *stack);

/// dst = the last layer's output, from src and each layer's weights (with their versions)
/// and biases (NULL entries for layers without one); returns what the backward needs (NULL
/// on failure), which the caller destroys.
mf_dnnl_stack_pass *mf_dnnl_stack_forward(mf_dnnl_stack *stack, const float *src, const float *const *weights,
                                          const mf_version *versions, const float *const *biases, float *dst);
void mf_dnnl_stack_pass_destroy(mf_dnnl_stack_pass *pass);
/// Whether layer `index`'s direct convolution runs on channels-last copies of the activations
/// (reordered from and to the stack's layout on each side).
int mf_dnnl_stack_channels_last(const mf_dnnl_stack *stack, int index);
/// Whether layer `index`'s weight gradient is one matrix product.
int mf_dnnl_stack_weights_by_product(const mf_dnnl_stack *stack, int index);

/// The implementation layer `index` runs `pass` with (`mf_dnnl_layer_implementation`). A stack
/// is made only when none of its passes, nor its rectifiers' derivatives, is a reference one.
void mf_dnnl_stack_implementation(const mf_dnnl_stack *stack, int index, int pass, char *text, int capacity);

/// From diff_dst, the gradient by the stack's output (after the last rectifier): diff_src
/// (unless NULL) written, and each layer's weights' and bias's gradients added to its
/// diff_weights and diff_biases (unless diff_weights is NULL; NULL entries for layers without a
/// bias). 0 on success.
int mf_dnnl_stack_backward(mf_dnnl_stack *stack, const mf_dnnl_stack_pass *pass, const float *diff_dst,
                           const float *const *weights, const mf_version *versions, float *diff_src,
                           float *const *diff_weights, float *const *diff_biases);

/// oneDNN's version ("2.6.3") and the instruction set it dispatches to.
void mf_dnnl_version(char *text, int capacity);
int mf_dnnl_cpu_isa(void);
/// The OpenMP threads oneDNN computes with.
void mf_dnnl_set_threads(int threads);

#endif
