#include "topiary_activation.h"
#include <stdint.h>
#include <string.h>

#include "topiary_clones.h"

// e^x for x ≤ 0 (all GELU needs): x = n·ln2 + r with |r| ≤ ln2/2, e^r by its degree-6 Taylor
// polynomial (relative error < 2e-7 there), times 2^n built in the exponent bits. Below
// −87 the result is flushed to 0 (as FTZ would).
static inline float exp_nonpositive(float x) {
    if (x < -87.0f) x = -87.0f;
    float n = __builtin_roundf(x * 1.44269504088896341f);
    float r = x - n * 0.693145751953125f - n * 1.428606765330187e-06f;   // ln2 in two parts
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.16666667f + r * (0.041666668f + r * (0.008333334f + r * 0.0013888889f)))));
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

// erf(z) for z ≥ 0 (Abramowitz & Stegun 7.1.26, |error| ≤ 1.5e-7): 1 − poly(t)·e^(−z²),
// t = 1/(1 + 0.3275911 z). Negative z by symmetry.
static inline float erf_approx(float z) {
    float a = z < 0 ? -z : z;
    float t = 1.0f / (1.0f + 0.3275911f * a);
    float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    float e = 1.0f - poly * exp_nonpositive(-a * a);
    return z < 0 ? -e : e;
}

TOPIARY_CLONES
void topiary_gelu_forward(size_t n, const float *x, float *y) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + erf_approx(v * 0.70710678118654752f));
    }
}

TOPIARY_CLONES
void topiary_gelu_backward(size_t n, const float *x, const float *dy, float *dx) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float cdf = 0.5f * (1.0f + erf_approx(v * 0.70710678118654752f));
        float pdf = exp_nonpositive(-0.5f * v * v) * 0.3989422804014327f;
        dx[i] = dy[i] * (cdf + v * pdf);
    }
}

// Σ of n floats with 16 running partial sums, so the loop vectorises without reassociating
// a single accumulator (the order is fixed: lane by lane, then the 16 lanes in turn).
static inline float sum16(const float *x, size_t n) {
    float lanes[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int k = 0; k < 16; k++) lanes[k] += x[i + k];
    }
    float total = 0;
    for (; i < n; i++) total += x[i];
    for (int k = 0; k < 16; k++) total += lanes[k];
    return total;
}

TOPIARY_CLONES
void topiary_causal_softmax_row(size_t live, size_t length, float *row) {
    float maximum = row[0];
    for (size_t s = 1; s < live; s++) maximum = row[s] > maximum ? row[s] : maximum;
    for (size_t s = 0; s < live; s++) row[s] = exp_nonpositive(row[s] - maximum);
    float inverse = 1.0f / sum16(row, live);
    for (size_t s = 0; s < live; s++) row[s] *= inverse;
    for (size_t s = live; s < length; s++) row[s] = 0;
}

TOPIARY_CLONES
void topiary_causal_softmax_backward_row(size_t live, size_t length, const float *weights, float *gradient, float scale) {
    float lanes[16] = {0};
    size_t s = 0;
    for (; s + 16 <= live; s += 16) {
        for (int k = 0; k < 16; k++) lanes[k] += weights[s + k] * gradient[s + k];
    }
    float weighted = 0;
    for (; s < live; s++) weighted += weights[s] * gradient[s];
    for (int k = 0; k < 16; k++) weighted += lanes[k];
    for (s = 0; s < live; s++) gradient[s] = weights[s] * (gradient[s] - weighted) * scale;
    for (s = live; s < length; s++) gradient[s] = 0;
}
