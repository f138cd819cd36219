// Hot elementwise loops of the Layers module, in C so that each is compiled for baseline
// x86-64, AVX2+FMA and AVX-512, chosen at run time by the CPU (`target_clones`), and
// vectorised by the compiler (Swift's SIMD types lower to SSE here, lane by lane for some
// operations). Float32 arrays; nothing is allocated or kept.
#ifndef MELFORGE_LAYER_KERNELS_H
#define MELFORGE_LAYER_KERNELS_H

/// values[i] = tanh(values[i] + shift) for i < count (no addition when `shift` is NULL).
/// Within 2 ulp of glibc's tanhf and the same value for a given input on every CPU and at
/// every position (no fused multiply-adds).
void mf_tanh(float *values, long count, const float *shift);

#endif
