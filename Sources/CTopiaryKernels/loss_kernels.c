#include "topiary_loss.h"
#include <math.h>

#include "exp_nonpositive.h"
#include "lane_sums.h"
#include "topiary_clones.h"

// Largest of n ≥ 1 floats in 16 lanes (max is exact, so any order gives the same value).
static inline __attribute__((always_inline)) float lane_max16(const float *z, size_t n) {
    float lanes[16];
    for (int k = 0; k < 16; k++) lanes[k] = z[0];
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int k = 0; k < 16; k++) lanes[k] = z[i + k] > lanes[k] ? z[i + k] : lanes[k];
    }
    float best = z[0];
    for (; i < n; i++) best = z[i] > best ? z[i] : best;
    for (int k = 0; k < 16; k++) best = lanes[k] > best ? lanes[k] : best;
    return best;
}

TOPIARY_CLONES
float topiary_log_sum_exp(size_t c, const float *z) {
    float maximum = lane_max16(z, c);
    float lanes[16] = {0};
    size_t j = 0;
    for (; j + 16 <= c; j += 16) {
        for (int k = 0; k < 16; k++) lanes[k] += exp_nonpositive(z[j + k] - maximum);
    }
    float sum = 0;
    for (; j < c; j++) sum += exp_nonpositive(z[j] - maximum);
    for (int k = 0; k < 16; k++) sum += lanes[k];
    return maximum + logf(sum);
}

TOPIARY_CLONES
void topiary_softmax_cross_entropy_rows(size_t rows, size_t c, const float *logits, const int32_t *labels, float scale,
                                        float *gradient, float *rowLoss) {
    for (size_t r = 0; r < rows; r++) {
        const float *z = logits + r * c;
        float *g = gradient + r * c;
        float maximum = lane_max16(z, c);
        for (size_t j = 0; j < c; j++) g[j] = exp_nonpositive(z[j] - maximum);
        float sum = lane_sum16(g, c);
        rowLoss[r] = maximum + logf(sum) - z[labels[r]];
        float factor = scale / sum;
        for (size_t j = 0; j < c; j++) g[j] *= factor;
        g[labels[r]] -= scale;
    }
}
