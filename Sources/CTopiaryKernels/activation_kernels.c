#include "topiary_activation.h"
#include <stdint.h>
#include <string.h>

#include "exp_nonpositive.h"
#include "lane_sums.h"
#include "topiary_clones.h"

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

TOPIARY_CLONES
void topiary_causal_softmax_row(size_t live, size_t length, float *row) {
    float maximum = row[0];
    for (size_t s = 1; s < live; s++) maximum = row[s] > maximum ? row[s] : maximum;
    for (size_t s = 0; s < live; s++) row[s] = exp_nonpositive(row[s] - maximum);
    float inverse = 1.0f / lane_sum16(row, live);
    for (size_t s = 0; s < live; s++) row[s] *= inverse;
    for (size_t s = live; s < length; s++) row[s] = 0;
}

TOPIARY_CLONES
void topiary_causal_softmax_backward_row(size_t live, size_t length, const float *weights, float *gradient, float scale) {
    float weighted = lane_dot16(weights, gradient, live);
    size_t s;
    for (s = 0; s < live; s++) gradient[s] = weights[s] * (gradient[s] - weighted) * scale;
    for (s = live; s < length; s++) gradient[s] = 0;
}
