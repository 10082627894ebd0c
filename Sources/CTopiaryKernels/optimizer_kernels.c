#include "topiary_kernels.h"
#include <math.h>

#include "topiary_clones.h"

TOPIARY_CLONES
void topiary_adam_sweep(size_t n, float *restrict w, float *restrict g, const float *restrict k,
                        float *restrict m, float *restrict v, topiary_adam_constants c) {
    for (size_t i = 0; i < n; i++) {
        float mask = k[i];
        float grad = (g[i] + c.coupled_decay * w[i]) * mask;
        float m1 = (c.beta1 * m[i] + (1.0f - c.beta1) * grad) * mask;
        float v1 = (c.beta2 * v[i] + (1.0f - c.beta2) * grad * grad) * mask;
        float update = c.step_size * m1 / (sqrtf(v1) * c.inverse_root_correction2 + c.epsilon);
        w[i] = (w[i] * c.decoupled_shrink - update) * mask;
        g[i] = grad;
        m[i] = m1;
        v[i] = v1;
    }
}

TOPIARY_CLONES
void topiary_sgd_sweep(size_t n, float *restrict w, float *restrict g, const float *restrict k,
                       float *restrict b, float lr, float mu, float weight_decay, int nesterov) {
    if (mu == 0.0f) {
        for (size_t i = 0; i < n; i++) {
            float grad = (g[i] + weight_decay * w[i]) * k[i];
            w[i] = (w[i] - lr * grad) * k[i];
            g[i] = grad;
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float grad = (g[i] + weight_decay * w[i]) * k[i];
        float buffer = (mu * b[i] + grad) * k[i];
        float direction = nesterov ? grad + mu * buffer : buffer;
        w[i] = (w[i] - lr * direction) * k[i];
        g[i] = grad;
        b[i] = buffer;
    }
}
