#ifndef TOPIARY_ACTIVATION_H
#define TOPIARY_ACTIVATION_H
#include <stddef.h>

/// GELU with the normal CDF, y = x·Φ(x) = ½x(1 + erf(x/√2)), over n floats (y may equal x),
/// and its backward dx = dy·(Φ(x) + x·φ(x)). Vectorisable: exp and erf are evaluated by
/// polynomials here, not libm calls (|erf error| ≤ 1.5e-7, exp relative error ≤ 2e-7), so
/// the loops run 16 lanes at a time on AVX-512.
void topiary_gelu_forward(size_t n, const float *x, float *y);
void topiary_gelu_backward(size_t n, const float *x, const float *dy, float *dx);

// One row of causal attention scores: softmax over its first `live` entries (max subtracted
// first), zeros after them up to `length`.
void topiary_causal_softmax_row(size_t live, size_t length, float *row);
// Its backward in place: gradient[s] ← w[s]·(gradient[s] − Σ w·gradient)·scale for s < live,
// zeros after; `weights` is the softmax output, `scale` the score scale 1/√hs.
void topiary_causal_softmax_backward_row(size_t live, size_t length, const float *weights, float *gradient, float scale);

#endif
