#include "topiary_normalization.h"
#include <math.h>

#include "lane_sums.h"
#include "topiary_clones.h"

TOPIARY_CLONES
void topiary_layernorm_forward(size_t rows, size_t n, const float *x, const float *gain, const float *shift, float epsilon,
                               float *normal, float *out, float *inverse) {
    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * n;
        float *xhat = normal ? normal + r * n : NULL, *y = out + r * n;
        float mean = lane_sum16(row, n) / (float)n;
        float variance = lane_squared_deviation16(row, mean, n) / (float)n;
        float inv = 1.0f / sqrtf(variance + epsilon);
        if (!normal) {   // inference: no backward will read x̂ or 1/σ
            for (size_t i = 0; i < n; i++) y[i] = (row[i] - mean) * inv * gain[i] + shift[i];
            continue;
        }
        inverse[r] = inv;
        for (size_t i = 0; i < n; i++) {
            xhat[i] = (row[i] - mean) * inv;
            y[i] = xhat[i] * gain[i] + shift[i];
        }
    }
}

TOPIARY_CLONES
void topiary_layernorm_backward(size_t rows, size_t n, const float *g, const float *normal, const float *gain, const float *inverse,
                                float *dx, float *gainSum, float *shiftSum) {
    for (size_t r = 0; r < rows; r++) {
        const float *gr = g + r * n, *xhat = normal + r * n;
        for (size_t i = 0; i < n; i++) {
            gainSum[i] += gr[i] * xhat[i];
            shiftSum[i] += gr[i];
        }
        if (!dx) continue;
        // Σ dx̂ and Σ dx̂·x̂ with dx̂ = g·gain, in lanes.
        float lanesD[16] = {0}, lanesDX[16] = {0};
        size_t i = 0;
        for (; i + 16 <= n; i += 16) {
            for (int k = 0; k < 16; k++) {
                float d = gr[i + k] * gain[i + k];
                lanesD[k] += d;
                lanesDX[k] += d * xhat[i + k];
            }
        }
        float sumD = 0, sumDX = 0;
        for (; i < n; i++) {
            float d = gr[i] * gain[i];
            sumD += d;
            sumDX += d * xhat[i];
        }
        for (int k = 0; k < 16; k++) {
            sumD += lanesD[k];
            sumDX += lanesDX[k];
        }
        float inv = inverse[r], meanD = sumD / (float)n, meanDX = sumDX / (float)n;
        float *out = dx + r * n;
        for (size_t j = 0; j < n; j++) out[j] = inv * (gr[j] * gain[j] - meanD - xhat[j] * meanDX);
    }
}
