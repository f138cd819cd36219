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

// Griffin-Lim's element-wise steps over one frame of `bins` complex values (interleaved).

/// out[k] = magnitude[k] * unit[k] (a real magnitude times a complex phase factor).
void mf_apply_magnitude(const float *magnitude, const float *unit, float *out, int bins);

/// The momentum step and the projection onto unit phase factors, for one frame:
///   angles[k] = rebuilt[k] - alpha * previous[k];  angles[k] /= |angles[k]| + tiny
/// (a zero vector stays zero, as in librosa), then previous[k] = rebuilt[k]. With
/// `measure`, returns sum_k (magnitude[k] - |rebuilt[k]|)^2, the frame's share of the
/// spectral convergence (else 0, and a square root per bin is saved).
double mf_momentum_project(const float *rebuilt, float *previous, float *angles, const float *magnitude,
                           float alpha, int bins, int measure);

/// signal[n] += frame[n] * window[n] * scale for n < count (overlap-add).
void mf_overlap_add(const float *frame, const float *window, float scale, float *signal, int count);

// A sparse filter bank (filter m: weights[offset[m] ...] over bins start[m] ..< start[m] +
// length[m]) applied to whole spectrograms of `frames` columns, row-major ([rows, frames]).

/// out[m, :] = sum_k weights[m, k] * x[start[m] + k, :] for m < bands (out is overwritten).
void mf_filterbank_apply(const float *weights, const long *start, const long *length, const long *offset, int bands,
                         const float *x, long frames, float *out);

/// out[start[m] + k, :] += weights[m, k] * r[m, :] for every filter (the transpose; out is
/// accumulated into, so zero it first for a plain product).
void mf_filterbank_transpose_add(const float *weights, const long *start, const long *length, const long *offset,
                                 int bands, const float *r, long frames, float *out);

/// out[i, :] = sum_j a[i, j] * x[j, :] for a small dense a (rows x inner) and x (inner x
/// frames), all row-major; out is overwritten.
void mf_matrix_rows(const float *a, int rows, int inner, const float *x, long frames, float *out);

#endif
