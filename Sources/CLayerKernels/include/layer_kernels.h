// Hot elementwise loops of the Layers module, in C so that each is compiled for baseline
// x86-64, AVX2+FMA and AVX-512, chosen at run time by the CPU and the environment (mf_isa.h), and
// vectorised by the compiler (Swift's SIMD types lower to SSE here, lane by lane for some
// operations). Float32 arrays; nothing is allocated or kept.
#ifndef MELFORGE_LAYER_KERNELS_H
#define MELFORGE_LAYER_KERNELS_H

/// values[i] = tanh(values[i] + shift) for i < count (no addition when `shift` is NULL).
/// Within 2 ulp of glibc's tanhf and the same value for a given input on every CPU and at
/// every position (no fused multiply-adds).
void mf_tanh(float *values, long count, const float *shift);

// Sums keep sixteen running sums (a single one waits on each addition's latency, and a
// compiler may not reorder a float sum to vectorise it) and add them up in one fixed order:
// every kernel sums in the same order, so that a sum made with a derivative equals the sum of
// that derivative made apart.

/// The sum of x[0..<count].
float mf_sum(const float *x, long count);

/// The activation a layer's backward undoes.
enum { MF_RECTIFIER = 0 /* ReLU (slope 0) or LeakyReLU */, MF_TANH = 1 };

/// out[i] = dL/d(pre-activation) from dy = dL/dy at the activation's output y: for a
/// rectifier y > 0 ? dy : slope dy (0 for ReLU), for tanh dy (1 - y^2); returns their sum.
float mf_activation_backward_sum(const float *dy, const float *y, float *out, long count, int activation, float slope);

/// The sums of x[i] and of x[i]^2 (BatchNorm's statistics of one row).
void mf_sum_and_squares(const float *x, long count, float *sum, float *squares);

/// BatchNorm's backward sums over one row: of g[i] and of g[i] (x[i] - center), where g is
/// dy before the rectifier, g[i] = rectified[i] > 0 ? dy[i] : slope dy[i] (slope 1: g = dy).
void mf_batchnorm_gradient_sums(const float *dy, const float *rectified, const float *x, long count, float slope,
                                float center, float *sum, float *centered_sum);

/// y[i] = v > 0 ? v : slope v with v = scale x[i] + shift (BatchNorm's output; slope 1: none).
void mf_scale_shift_rectify(const float *x, float *y, long count, float scale, float shift, float slope);

/// BatchNorm's input gradient over one row: dx[i] = scale (g[i] - mean_g - (x[i] - center) c),
/// g as in mf_batchnorm_gradient_sums.
void mf_batchnorm_input_gradient(const float *dy, const float *rectified, const float *x, float *dx, long count,
                                 float slope, float scale, float mean_g, float center, float c);

#endif
