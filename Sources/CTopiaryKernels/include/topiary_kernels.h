#ifndef TOPIARY_KERNELS_H
#define TOPIARY_KERNELS_H
#include <stddef.h>

// Per-element optimizer sweeps over flat parameter buffers. They live in C because each is
// compiled several times (AVX-512, AVX2, baseline) and the loader picks the clone this CPU
// runs (target_clones): Swift builds for baseline x86-64, where SIMD16 square roots and
// divisions become scalar calls. Built with -ffp-contract=off, so every clone gives
// bit-identical results (same seed, same masks and accuracies on any x86 CPU).
// All buffers hold n floats and must not overlap; k is the mask (0.0 or 1.0).

typedef struct {
    float beta1, beta2, epsilon;
    float step_size;                 // lr / (1 - beta1^t)
    float inverse_root_correction2;  // 1 / sqrt(1 - beta2^t)
    float coupled_decay;             // lambda added to the gradient (Adam + L2), else 0
    float decoupled_shrink;          // 1 - lr * lambda (AdamW), else 1
} topiary_adam_constants;

/// g <- (g + cd*w)*k; m <- (b1 m + (1-b1) g)*k; v <- (b2 v + (1-b2) g^2)*k;
/// w <- (w*shrink - step_size * m / (sqrt(v) * irc2 + eps)) * k
void topiary_adam_sweep(size_t n, float *w, float *g, const float *k, float *m, float *v,
                        topiary_adam_constants c);

/// g <- (g + wd*w)*k; if momentum: b <- (mu b + g)*k, d = nesterov ? g + mu b : b; else d = g;
/// w <- (w - lr d) * k.  b may be NULL when mu == 0.
void topiary_sgd_sweep(size_t n, float *w, float *g, const float *k, float *b,
                       float lr, float mu, float weight_decay, int nesterov);
#endif
