#ifndef TOPIARY_EXP_NONPOSITIVE_H
#define TOPIARY_EXP_NONPOSITIVE_H
#include <stdint.h>
#include <string.h>

// e^x for x ≤ 0 (all GELU, softmax and log-sum-exp need): x = n·ln2 + r with |r| ≤ ln2/2, e^r by its degree-6 Taylor
// polynomial (relative error < 2e-7 there), times 2^n built in the exponent bits. Below
// −87 the result is flushed to 0 (as FTZ would).
static inline __attribute__((always_inline)) float exp_nonpositive(float x) {
    if (x < -87.0f) x = -87.0f;
    float n = __builtin_roundf(x * 1.44269504088896341f);
    float r = x - n * 0.693145751953125f - n * 1.428606765330187e-06f;   // ln2 in two parts
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.16666667f + r * (0.041666668f + r * (0.008333334f + r * 0.0013888889f)))));
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}
#endif
