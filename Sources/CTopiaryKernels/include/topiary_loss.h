#ifndef TOPIARY_LOSS_H
#define TOPIARY_LOSS_H
#include <stddef.h>
#include <stdint.h>

/// log Σ_j exp(z_j) over c logits, around the largest (exp by polynomial, sums in 16 lanes).
float topiary_log_sum_exp(size_t c, const float *z);

/// Softmax cross-entropy of `rows` rows of c logits against labels (each in 0..<c, checked by
/// the caller): rowLoss[r] = logΣexp(z_r) − z_r[label], and the gradient row
/// (softmax(z_r) − onehot(label))·scale.
void topiary_softmax_cross_entropy_rows(size_t rows, size_t c, const float *logits, const int32_t *labels, float scale,
                                        float *gradient, float *rowLoss);
#endif
