#ifndef TOPIARY_NORMALIZATION_H
#define TOPIARY_NORMALIZATION_H
#include <stddef.h>

/// LayerNorm of `rows` rows of n features (row-major): per row the mean and the biased
/// variance (two passes), inverse[r] = 1/√(var + ε), normal = (x − mean)·inverse, and
/// out = normal·gain + shift. Row sums run in 16 lanes (lane_sums.h): vectorised, and the same
/// for any split of the rows. Inference passes NULL for normal and inverse (out only).
void topiary_layernorm_forward(size_t rows, size_t n, const float *x, const float *gain, const float *shift, float epsilon,
                               float *normal, float *out, float *inverse);

/// Its backward over the same rows, from the output gradient g and the forward's normal and
/// inverse: gainSum[i] += Σ_r g·x̂, shiftSum[i] += Σ_r g, and when dx is not NULL
/// dx = inverse·(g·gain − mean(g·gain) − x̂·mean(g·gain·x̂)).
void topiary_layernorm_backward(size_t rows, size_t n, const float *g, const float *normal, const float *gain, const float *inverse,
                                float *dx, float *gainSum, float *shiftSum);
#endif
