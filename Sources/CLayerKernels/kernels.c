#include "layer_kernels.h"

#include <stdint.h>
#include <string.h>

// Three builds of every kernel; the loader picks the widest the CPU has.
#if defined(__x86_64__) && defined(__clang__)
#define KERNEL __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define KERNEL
#endif

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

KERNEL
void mf_tanh(float *values, long count, const float *shift) {
    if (shift) {
        float add = *shift;
        for (long i = 0; i < count; i++) values[i] = tanh_of(values[i] + add);
    } else {
        for (long i = 0; i < count; i++) values[i] = tanh_of(values[i]);
    }
}
