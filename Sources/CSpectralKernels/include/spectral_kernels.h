// Hot loops of the Spectral module, in C so that each is compiled twice (baseline x86-64
// and AVX2+FMA, chosen at run time by the CPU: `target_clones`) and vectorised by the
// compiler. Swift's SIMD types lower to SSE only and with extra shuffles here; measured,
// these kernels are what let the front end reach its throughput (BENCHMARKS.md).
//
// Imported by the Spectral module only. Arrays are float32; complex values interleaved
// (re, im). No function allocates, and none keeps a pointer after it returns.
#ifndef MELFORGE_SPECTRAL_KERNELS_H
#define MELFORGE_SPECTRAL_KERNELS_H

// The split step of a real FFT of size n = 2 * half done as a complex FFT of size half:
// from Z = DFT_half(x[2m] + i x[2m+1]) (half complex values) to the spectrum
// X[k] = E[k] + W^k O[k], k = 0...half, where E[k] = (Z[k] + conj Z[half-k]) / 2,
// O[k] = (Z[k] - conj Z[half-k]) / 2i, W = exp(-2 pi i / n).
// cosines[k] = cos(2 pi k / n) and sines[k] = sin(2 pi k / n) for k = 0...half.

// `scratch` holds at least 3 * (half + 1) floats: the kernels first de-interleave their
// input so that the main loops (which read bin k and its mirror half - k) vectorise.

/// X (half + 1 complex values, interleaved) from Z.
void mf_rfft_split(const float *z, float *x, const float *cosines, const float *sines, int half, float *scratch);

/// |X[k]|^2 to power[k * stride] for k = 0...half, from Z.
void mf_rfft_split_power(const float *z, float *power, long stride, const float *cosines, const float *sines,
                         int half, float *scratch);

/// The inverse of mf_rfft_split, times 2: Z (half complex values) from X (half + 1), so
/// that an unnormalised inverse DFT of size half gives n * x, FFTW's c2r convention. The
/// imaginary parts of X[0] and X[half] are ignored, as numpy's irfft ignores them.
void mf_rfft_merge(const float *x, float *z, const float *cosines, const float *sines, int half, float *scratch);

/// output[i] = input[i] * window[i] for i < count.
void mf_multiply(const float *input, const float *window, float *output, int count);

/// For 8 frames whose spectra are interleaved bin by bin (spectra[k * 8 + lane]): for each
/// of `bands` filters with weights[offset[m] ...] over bins start[m] ..< start[m] + length[m],
/// output[m * stride + lane] = sum_k weights * spectra for lane < lanes (at most 8).
void mf_filterbank8(const float *spectra, const float *weights, const long *start, const long *length,
                    const long *offset, int bands, float *output, long stride, int lanes);

/// values[i] = 10 log10(max(amin, values[i] (squared first if square))) - offset, with
/// infinity taken as the largest float. Within 5e-7 of libm's log10 relative to
/// max(1, |log10|) (Spectral's tests check it).
void mf_power_to_db(float *values, long count, float amin, float offset, int square);

#endif
