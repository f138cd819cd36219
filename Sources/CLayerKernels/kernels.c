#include "layer_kernels.h"

#include <stdint.h>
#include <string.h>

#include "mf_isa.h"

// Three builds of every kernel (MF_KERNEL, at the end); the first call picks the widest this
// process runs (`mf_isa_level`: the CPU's, or less when the environment caps it).

// Every product and sum rounded on its own, so that all builds compute the same values.
#pragma clang fp contract(off)

static inline uint32_t bits_of(float x) {
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    return bits;
}

static inline float float_of(uint32_t bits) {
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

// tanh(x). |x| < 0.625: the odd Taylor series to x^19 (the next term is below 1e-8 of tanh
// there). Otherwise 1 - 2 / (e^2|x| + 1) with e^y = 2^k e^r, k = round(y / ln 2), |r| <= ln 2 / 2
// (r's Taylor series to r^7: relative error 6e-9), 2|x| capped at 20 (tanh is 1 in float from
// 9.1 on). Then x's sign (tanh(-0) = -0); NaN stays NaN. No branches: the loop vectorises.
static inline float tanh_of(float x) {
    uint32_t sign = bits_of(x) & 0x80000000u;
    float a = float_of(bits_of(x) & 0x7fffffffu);
    float s = a * a;
    float p = -2.3912911424355248e-4f;  // -443861162 / 1856156927625
    p = p * s + 5.90027440945586e-4f;   // 6404582 / 10854718875
    p = p * s - 1.4558343870513183e-3f; // 929569 / 638512875
    p = p * s + 3.592128036572481e-3f;  // 21844 / 6081075
    p = p * s - 8.863235529902197e-3f;  // 1382 / 155925
    p = p * s + 2.1869488536155203e-2f; // 62 / 2835
    p = p * s - 5.396825396825397e-2f;  // 17 / 315
    p = p * s + 1.3333333333333333e-1f; // 2 / 15
    p = p * s - 3.333333333333333e-1f;  // 1 / 3
    float small = a + a * (s * p);
    float y = a + a < 20.0f ? a + a : 20.0f;
    // Adding 2^23 (float spacing 1 there) rounds y / ln 2 to the integer k, held in t's low bits.
    float t = y * 1.44269504f + 8388608.0f;
    float k = t - 8388608.0f;
    float r = (y - k * 0.693145751953125f) - k * 1.4286068203094172e-6f; // ln 2 in two parts
    float e = 1.0f / 5040;
    e = e * r + 1.0f / 720;
    e = e * r + 1.0f / 120;
    e = e * r + 1.0f / 24;
    e = e * r + 1.0f / 6;
    e = e * r + 0.5f;
    e = e * r + 1.0f;
    e = e * r + 1.0f;
    float power = float_of((bits_of(t) - 0x4B000000u + 127u) << 23); // 2^k, 0 <= k <= 29
    float large = 1.0f - 2.0f / (e * power + 1.0f);
    float magnitude = a >= 0.625f ? large : small;
    float result = float_of(bits_of(magnitude) | sign);
    return x != x ? x : result;
}

MF_KERNEL_BODY void mf_tanh_body(float *restrict values, long count, const float *restrict shift) {
    if (shift) {
        float add = *shift;
        for (long i = 0; i < count; i++) values[i] = tanh_of(values[i] + add);
    } else {
        for (long i = 0; i < count; i++) values[i] = tanh_of(values[i]);
    }
}

#define LANES 16

// The running sums' total, in one fixed order.
static inline float total_of(const float *lanes) {
    float total = 0.0f;
    for (int j = 0; j < LANES; j++) total += lanes[j];
    return total;
}

// Sums `term(i)` for i < count into `result`, sixteen running sums then the tail.
#define LANE_SUM(count, result, term)                                                  \
    do {                                                                               \
        float lanes_[LANES] = {0};                                                     \
        long i = 0;                                                                    \
        for (; i + LANES <= (count); i += LANES)                                       \
            for (int j = 0; j < LANES; j++) { long k = i + j; lanes_[j] += (term(k)); } \
        (result) = total_of(lanes_);                                                   \
        for (; i < (count); i++) { long k = i; (result) += (term(k)); }                \
    } while (0)

MF_KERNEL_BODY float mf_sum_body(const float *restrict x, long count) {
    float total;
#define TERM(k) x[k]
    LANE_SUM(count, total, TERM);
#undef TERM
    return total;
}

// The derivative's value at k, written to out as it is summed.
static inline float rectifier_at(const float *dy, const float *y, float *out, long k, float slope) {
    float d = y[k] > 0.0f ? dy[k] : slope * dy[k];
    out[k] = d;
    return d;
}

static inline float relu_at(const float *dy, const float *y, float *out, long k) {
    float d = y[k] > 0.0f ? dy[k] : 0.0f;
    out[k] = d;
    return d;
}

static inline float tanh_at(const float *dy, const float *y, float *out, long k) {
    float d = dy[k] * (1.0f - y[k] * y[k]);
    out[k] = d;
    return d;
}

MF_KERNEL_BODY float mf_activation_backward_sum_body(const float *restrict dy, const float *restrict y, float *restrict out, long count,
                                 int activation, float slope) {
    float total;
    if (activation == MF_TANH) {
#define TERM(k) tanh_at(dy, y, out, k)
        LANE_SUM(count, total, TERM);
#undef TERM
    } else if (slope == 0.0f) {
#define TERM(k) relu_at(dy, y, out, k)
        LANE_SUM(count, total, TERM);
#undef TERM
    } else {
#define TERM(k) rectifier_at(dy, y, out, k, slope)
        LANE_SUM(count, total, TERM);
#undef TERM
    }
    return total;
}

MF_KERNEL_BODY void mf_sum_and_squares_body(const float *restrict x, long count, float *restrict sum, float *restrict squares) {
    float lanes[LANES] = {0}, square_lanes[LANES] = {0};
    long i = 0;
    for (; i + LANES <= count; i += LANES)
        for (int j = 0; j < LANES; j++) {
            lanes[j] += x[i + j];
            square_lanes[j] += x[i + j] * x[i + j];
        }
    float s = total_of(lanes), q = total_of(square_lanes);
    for (; i < count; i++) {
        s += x[i];
        q += x[i] * x[i];
    }
    *sum = s;
    *squares = q;
}

MF_KERNEL_BODY void mf_batchnorm_gradient_sums_body(const float *restrict dy, const float *restrict rectified, const float *restrict x,
                                long count, float slope, float center, float *restrict sum,
                                float *restrict centered_sum) {
    float lanes[LANES] = {0}, centered_lanes[LANES] = {0};
    long i = 0;
    for (; i + LANES <= count; i += LANES)
        for (int j = 0; j < LANES; j++) {
            long k = i + j;
            float g = rectified[k] > 0.0f ? dy[k] : slope * dy[k];
            lanes[j] += g;
            centered_lanes[j] += g * (x[k] - center);
        }
    float s = total_of(lanes), c = total_of(centered_lanes);
    for (; i < count; i++) {
        float g = rectified[i] > 0.0f ? dy[i] : slope * dy[i];
        s += g;
        c += g * (x[i] - center);
    }
    *sum = s;
    *centered_sum = c;
}

MF_KERNEL_BODY void mf_scale_shift_rectify_body(const float *restrict x, float *restrict y, long count, float scale, float shift,
                            float slope) {
    for (long i = 0; i < count; i++) {
        float v = scale * x[i] + shift;
        y[i] = v > 0.0f ? v : slope * v;
    }
}

MF_KERNEL_BODY void mf_batchnorm_input_gradient_body(const float *restrict dy, const float *restrict rectified, const float *restrict x,
                                 float *restrict dx, long count, float slope, float scale, float mean_g, float center,
                                 float c) {
    for (long i = 0; i < count; i++) {
        float g = rectified[i] > 0.0f ? dy[i] : slope * dy[i];
        dx[i] = scale * (g - mean_g - (x[i] - center) * c);
    }
}

MF_KERNEL_VOID(, mf_tanh, (float *restrict values, long count, const float *restrict shift), (values, count, shift))
MF_KERNEL(, float, mf_sum, (const float *restrict x, long count), (x, count))
MF_KERNEL(, float, mf_activation_backward_sum,
          (const float *restrict dy, const float *restrict y, float *restrict out, long count, int activation, float slope),
          (dy, y, out, count, activation, slope))
MF_KERNEL_VOID(, mf_sum_and_squares, (const float *restrict x, long count, float *restrict sum, float *restrict squares),
               (x, count, sum, squares))
MF_KERNEL_VOID(, mf_batchnorm_gradient_sums,
               (const float *restrict dy, const float *restrict rectified, const float *restrict x, long count, float slope,
                float center, float *restrict sum, float *restrict centered_sum),
               (dy, rectified, x, count, slope, center, sum, centered_sum))
MF_KERNEL_VOID(, mf_scale_shift_rectify,
               (const float *restrict x, float *restrict y, long count, float scale, float shift, float slope),
               (x, y, count, scale, shift, slope))
MF_KERNEL_VOID(, mf_batchnorm_input_gradient,
               (const float *restrict dy, const float *restrict rectified, const float *restrict x, float *restrict dx,
                long count, float slope, float scale, float mean_g, float center, float c),
               (dy, rectified, x, dx, count, slope, scale, mean_g, center, c))
