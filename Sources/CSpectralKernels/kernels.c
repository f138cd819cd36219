#include "spectral_kernels.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

// Two builds of every kernel; the loader picks the AVX2 one where the CPU has it.
#if defined(__x86_64__) && defined(__clang__)
#define KERNEL __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define KERNEL
#endif

// Z[k] for k = 0...half into planar zr, zi, with Z[half] = Z[0] (Z is periodic), so that
// the split loop needs no special case at either end.
static inline void deinterleave_periodic(const float *z, float *zr, float *zi, int half) {
    for (int k = 0; k < half; k++) {
        zr[k] = z[2 * k];
        zi[k] = z[2 * k + 1];
    }
    zr[half] = zr[0];
    zi[half] = zi[0];
}

// One bin of the split step: a = Z[k], b = Z[half - k], W^k = c - i s.
// (At k = 0 and k = half, a = b = Z[0] and this gives the real X[0] and X[half].)
#define SPLIT_BIN(k)                                                                  \
    float ar = zr[k], ai = zi[k], br = zr[half - (k)], bi = zi[half - (k)];           \
    float er = 0.5f * (ar + br), ei = 0.5f * (ai - bi);   /* E = (a + conj b) / 2  */ \
    float orr = 0.5f * (ai + bi), oi = 0.5f * (br - ar);  /* O = (a - conj b) / 2i */ \
    float c = cosines[k], s = sines[k];                                              \
    float re = er + c * orr + s * oi, im = ei + c * oi - s * orr; /* X = E + W^k O */

KERNEL
void mf_rfft_split(const float *z, float *x, const float *cosines, const float *sines, int half, float *scratch) {
    float *zr = scratch, *zi = scratch + half + 1;
    deinterleave_periodic(z, zr, zi, half);
    for (int k = 0; k <= half; k++) {
        SPLIT_BIN(k)
        x[2 * k] = re;
        x[2 * k + 1] = im;
    }
    x[1] = 0;  // exactly real
    x[2 * half + 1] = 0;
}

KERNEL
void mf_rfft_split_power(const float *z, float *power, long stride, const float *cosines, const float *sines,
                         int half, float *scratch) {
    float *zr = scratch, *zi = scratch + half + 1, *p = scratch + 2 * (half + 1);
    deinterleave_periodic(z, zr, zi, half);
    for (int k = 0; k <= half; k++) {
        SPLIT_BIN(k)
        p[k] = re * re + im * im;
    }
    for (int k = 0; k <= half; k++) power[k * stride] = p[k];
}

KERNEL
void mf_rfft_merge(const float *x, float *z, const float *cosines, const float *sines, int half, float *scratch) {
    float *xr = scratch, *xi = scratch + half + 1;
    for (int k = 0; k <= half; k++) {
        xr[k] = x[2 * k];
        xi[k] = x[2 * k + 1];
    }
    xi[0] = 0;  // irfft ignores these; with them zero, k = 0 needs no special case
    xi[half] = 0;
    for (int k = 0; k < half; k++) {
        float ar = xr[k], ai = xi[k], br = xr[half - k], bi = xi[half - k];  // a = X[k], b = X[half-k]
        float er = ar + br, ei = ai - bi;                                     // E = a + conj b
        float dr = ar - br, di = ai + bi;                                     // D = a - conj b
        float c = cosines[k], s = sines[k];                                   // W^-k = c + i s
        float orr = dr * c - di * s, oi = dr * s + di * c;                    // O = D W^-k
        z[2 * k] = er - oi;                                                   // Z = E + i O
        z[2 * k + 1] = ei + orr;
    }
}

KERNEL
void mf_multiply(const float *input, const float *window, float *output, int count) {
    for (int i = 0; i < count; i++) output[i] = input[i] * window[i];
}

KERNEL
void mf_filterbank8(const float *spectra, const float *weights, const long *start, const long *length,
                    const long *offset, int bands, float *output, long stride, int lanes) {
    for (int m = 0; m < bands; m++) {
        float sum[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        const float *w = weights + offset[m];
        const float *s = spectra + 8 * start[m];
        for (long k = 0; k < length[m]; k++) {
            for (int lane = 0; lane < 8; lane++) sum[lane] += w[k] * s[8 * k + lane];
        }
        float *row = output + m * stride;
        if (lanes == 8) {
            memcpy(row, sum, sizeof sum);
        } else {
            for (int lane = 0; lane < lanes; lane++) row[lane] = sum[lane];
        }
    }
}

// log10(x) for positive normal finite x: x = m 2^e with m in [sqrt(1/2), sqrt(2)),
// ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716, summed to s^9 (the next term is
// below 4e-10); log10 x = (e ln 2 + ln m) log10(e). Branch-free, so the loop vectorises.
static inline float log10_normal(float x) {
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    float exponent = (float)((int32_t)(bits >> 23) - 127);
    uint32_t mantissa_bits = (bits & 0x007FFFFFu) | 0x3F800000u;  // [1, 2)
    float m;
    memcpy(&m, &mantissa_bits, sizeof m);
    int high = m > 1.41421356f;  // fold [sqrt 2, 2) onto [sqrt(1/2), 1)
    m = high ? m * 0.5f : m;
    exponent = high ? exponent + 1.0f : exponent;
    float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
    float ln_m = 2.0f * s * (1.0f + s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9)))));
    return (exponent * 0.69314718f + ln_m) * 0.43429448f;
}

KERNEL
void mf_power_to_db(float *values, long count, float amin, float offset, int square) {
    if (square) {
        for (long i = 0; i < count; i++) values[i] *= values[i];
    }
    for (long i = 0; i < count; i++) {
        float v = values[i];
        v = v > amin ? v : amin;  // also maps NaN to amin
        v = v < FLT_MAX ? v : FLT_MAX;
        values[i] = 10.0f * log10_normal(v) - offset;
    }
}

KERNEL
void mf_apply_magnitude(const float *magnitude, const float *unit, float *out, int bins) {
    for (int k = 0; k < bins; k++) {
        out[2 * k] = magnitude[k] * unit[2 * k];
        out[2 * k + 1] = magnitude[k] * unit[2 * k + 1];
    }
}

// One bin of the momentum step and projection (see the header). As librosa, a / (|a| + tiny):
// here a / sqrt(|a|^2 + FLT_MIN), which leaves a zero vector zero without a branch.
#define MOMENTUM_PROJECT_BIN(k)                                                             \
    float rr = rebuilt[2 * (k)], ri = rebuilt[2 * (k) + 1];                                 \
    float ar = rr - alpha * previous[2 * (k)], ai = ri - alpha * previous[2 * (k) + 1];     \
    float scale = 1.0f / sqrtf(ar * ar + ai * ai + FLT_MIN);                                \
    angles[2 * (k)] = ar * scale;                                                           \
    angles[2 * (k) + 1] = ai * scale;                                                       \
    previous[2 * (k)] = rr;                                                                 \
    previous[2 * (k) + 1] = ri;

KERNEL
double mf_momentum_project(const float *rebuilt, float *previous, float *angles, const float *magnitude,
                           float alpha, int bins, int measure) {
    if (!measure) {
        for (int k = 0; k < bins; k++) {
            MOMENTUM_PROJECT_BIN(k)
        }
        return 0;
    }
    float error = 0;
    for (int k = 0; k < bins; k++) {
        // The error sum is a diagnostic: let it be summed in any order, so the loop vectorises.
#pragma clang fp reassociate(on)
        MOMENTUM_PROJECT_BIN(k)
        float d = magnitude[k] - sqrtf(rr * rr + ri * ri);
        error += d * d;
    }
    return error;
}

KERNEL
void mf_overlap_add(const float *frame, const float *window, float scale, float *signal, int count) {
    for (int n = 0; n < count; n++) signal[n] += frame[n] * window[n] * scale;
}

KERNEL
void mf_filterbank_apply(const float *weights, const long *start, const long *length, const long *offset, int bands,
                         const float *x, long frames, float *out) {
    for (int m = 0; m < bands; m++) {
        float *row = out + m * frames;
        for (long t = 0; t < frames; t++) row[t] = 0;
        for (long k = 0; k < length[m]; k++) {
            float w = weights[offset[m] + k];
            const float *source = x + (start[m] + k) * frames;
            for (long t = 0; t < frames; t++) row[t] += w * source[t];
        }
    }
}

KERNEL
void mf_filterbank_transpose_add(const float *weights, const long *start, const long *length, const long *offset,
                                 int bands, const float *r, long frames, float *out) {
    for (int m = 0; m < bands; m++) {
        const float *row = r + m * frames;
        for (long k = 0; k < length[m]; k++) {
            float w = weights[offset[m] + k];
            float *target = out + (start[m] + k) * frames;
            for (long t = 0; t < frames; t++) target[t] += w * row[t];
        }
    }
}

KERNEL
void mf_matrix_rows(const float *a, int rows, int inner, const float *x, long frames, float *out) {
    for (int i = 0; i < rows; i++) {
        float *row = out + (long)i * frames;
        for (long t = 0; t < frames; t++) row[t] = 0;
        for (int j = 0; j < inner; j++) {
            float w = a[i * inner + j];
            if (w == 0) continue;
            const float *source = x + (long)j * frames;
            for (long t = 0; t < frames; t++) row[t] += w * source[t];
        }
    }
}
