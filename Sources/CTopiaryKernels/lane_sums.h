#ifndef TOPIARY_LANE_SUMS_H
#define TOPIARY_LANE_SUMS_H
#include <stddef.h>

// Sums that vectorise without reassociating one accumulator: 16 running partial sums, lane k
// taking elements k, k+16, …; then the tail in order, then the lanes in turn. The order is
// fixed by n alone (not the vector width or thread count), so results are reproducible.

static inline __attribute__((always_inline)) float lane_sum16(const float *x, size_t n) {
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

// Σ a·b in the same order.
static inline __attribute__((always_inline)) float lane_dot16(const float *a, const float *b, size_t n) {
    float lanes[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int k = 0; k < 16; k++) lanes[k] += a[i + k] * b[i + k];
    }
    float total = 0;
    for (; i < n; i++) total += a[i] * b[i];
    for (int k = 0; k < 16; k++) total += lanes[k];
    return total;
}

// Σ (x − c)² in the same order.
static inline __attribute__((always_inline)) float lane_squared_deviation16(const float *x, float c, size_t n) {
    float lanes[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int k = 0; k < 16; k++) lanes[k] += (x[i + k] - c) * (x[i + k] - c);
    }
    float total = 0;
    for (; i < n; i++) total += (x[i] - c) * (x[i] - c);
    for (int k = 0; k < 16; k++) total += lanes[k];
    return total;
}
#endif
