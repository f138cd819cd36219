// Convolutions on oneDNN (Intel's Deep Neural Network Library, the CPU convolutions of
// TensorFlow and PyTorch) behind a few plain C functions: one convolution geometry, its forward,
// backward-data and backward-weights primitives made once and reused, on caller memory in
// NCHW / OIHW float32. With bfloat16 the inputs are converted (oneDNN reorders) and the
// products accumulate in float32; outputs are float32.
#ifndef MELFORGE_DNNL_BRIDGE_H
#define MELFORGE_DNNL_BRIDGE_H

typedef struct mf_dnnl_convolution mf_dnnl_convolution;

/// A convolution of `batch` images [C, H, W] with weights [O, C, K, K] into [O, P, Q]:
/// stride `stride`, `pad_top`/`pad_left` before and `pad_bottom`/`pad_right` after. NULL (with
/// a reason in `error`) if oneDNN has no such primitive (say, bfloat16 on a CPU without it).
mf_dnnl_convolution *mf_dnnl_convolution_create(int batch, int channels, int height, int width, int outputs,
                                                int out_height, int out_width, int kernel, int stride,
                                                int pad_top, int pad_left, int pad_bottom, int pad_right,
                                                int bfloat16, char *error, int error_capacity);
void mf_dnnl_convolution_destroy(mf_dnnl_convolution *convolution);

/// dst = conv(src, weights); 0 on success.
int mf_dnnl_convolution_forward(mf_dnnl_convolution *convolution, const float *src, const float *weights, float *dst);
/// diff_src = conv^T(diff_dst, weights) (written, not added); 0 on success.
int mf_dnnl_convolution_backward_data(mf_dnnl_convolution *convolution, const float *diff_dst, const float *weights,
                                      float *diff_src);
/// diff_weights = d <diff_dst, conv(src, .)> / d weights (written, not added); 0 on success.
int mf_dnnl_convolution_backward_weights(mf_dnnl_convolution *convolution, const float *src, const float *diff_dst,
                                         float *diff_weights);
/// The implementation oneDNN chose for the forward primitive, e.g. "jit:avx512_core_bf16".
const char *mf_dnnl_convolution_implementation(mf_dnnl_convolution *convolution);

/// oneDNN's version ("2.6.3") and the instruction set it dispatches to.
void mf_dnnl_version(char *text, int capacity);
int mf_dnnl_cpu_isa(void);
/// The OpenMP threads oneDNN computes with.
void mf_dnnl_set_threads(int threads);

#endif
