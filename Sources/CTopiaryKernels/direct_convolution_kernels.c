#include "topiary_direct_convolution.h"
#include <string.h>

// Contract a·b + c into FMAs here (the rest of the library keeps -ffp-contract=off): these
// are throughput kernels tested against naive loops with a tolerance.
#pragma clang fp contract(fast)

#include "topiary_clones.h"
#define INLINE static inline __attribute__((always_inline))

// 16 floats: one AVX-512 register, two AVX2 or four SSE registers on the other clones.
typedef float vec16 __attribute__((vector_size(64)));
enum { LANES = 16 };

// Macros rather than functions: a 64-byte vector passed by value would change the calling
// convention between the AVX-512 and the other clones.
#define load16(p) ({ vec16 loaded_; memcpy(&loaded_, (p), sizeof loaded_); loaded_; })
#define store16(p, v) do { vec16 stored_ = (v); memcpy((p), &stored_, sizeof stored_); } while (0)
#define splat16(x) ((vec16){0} + (float)(x))
// The lanes' sum, pairwise in a fixed order.
#define sum16(v) ({                                                          \
    float lanes_[LANES];                                                     \
    vec16 summed_ = (v);                                                     \
    memcpy(lanes_, &summed_, sizeof lanes_);                                 \
    for (int width_ = LANES / 2; width_ >= 1; width_ /= 2)                   \
        for (int l_ = 0; l_ < width_; l_++) lanes_[l_] += lanes_[l_ + width_]; \
    lanes_[0];                                                               \
})

// ---- Correlation: a JB × QB block of accumulators (channels × 16-float vectors of q).

enum { CORRELATE_JB = 6, CORRELATE_QB = 4 };

INLINE void correlate_block(const int JB, const int QB, const float *in, size_t inputs, size_t inStride,
                            const ptrdiff_t *offsets, size_t taps, const float *w, const float *bias,
                            float *out, size_t outStride) {
    vec16 acc[CORRELATE_JB][CORRELATE_QB];
    size_t wRow = inputs * taps;
    for (int a = 0; a < JB; a++)
        for (int b = 0; b < QB; b++) acc[a][b] = splat16(bias ? bias[a] : 0.0f);
    for (size_t i = 0; i < inputs; i++) {
        const float *plane = in + i * inStride;
        const float *wi = w + i * taps;
        for (size_t t = 0; t < taps; t++) {
            const float *source = plane + offsets[t];
            vec16 x[CORRELATE_QB];
            for (int b = 0; b < QB; b++) x[b] = load16(source + b * LANES);
            for (int a = 0; a < JB; a++) {
                vec16 weight = splat16(wi[a * wRow + t]);
                for (int b = 0; b < QB; b++) acc[a][b] += weight * x[b];
            }
        }
    }
    for (int a = 0; a < JB; a++)
        for (int b = 0; b < QB; b++) store16(out + a * outStride + b * LANES, acc[a][b]);
}

#define CORRELATE_CASE(jb, qb) \
    case (jb) * 8 + (qb): correlate_block(jb, qb, in + v * LANES, inputs, inStride, offsets, taps, wj, bj, oj + v * LANES, outStride); break;
#define CORRELATE_ROW(jb) CORRELATE_CASE(jb, 1) CORRELATE_CASE(jb, 2) CORRELATE_CASE(jb, 3) CORRELATE_CASE(jb, 4)

TOPIARY_CLONES
void topiary_wide_correlate(const float *in, size_t inputs, size_t inStride, const ptrdiff_t *offsets, size_t taps,
                            const float *w, const float *bias, size_t outputs, float *out, size_t outStride, size_t q) {
    size_t vectors = (q + LANES - 1) / LANES;
    for (size_t j = 0; j < outputs; j += CORRELATE_JB) {
        int jb = (int)(outputs - j < CORRELATE_JB ? outputs - j : CORRELATE_JB);
        const float *wj = w + j * inputs * taps;
        const float *bj = bias ? bias + j : NULL;
        float *oj = out + j * outStride;
        for (size_t v = 0; v < vectors; v += CORRELATE_QB) {
            int qb = (int)(vectors - v < CORRELATE_QB ? vectors - v : CORRELATE_QB);
            switch (jb * 8 + qb) {
                CORRELATE_ROW(1) CORRELATE_ROW(2) CORRELATE_ROW(3) CORRELATE_ROW(4) CORRELATE_ROW(5) CORRELATE_ROW(6)
                default: break;
            }
        }
    }
}

// ---- Weight gradient: a JB × TB block (output channels × taps) of vector accumulators,
// summed over q and samples, reduced across lanes once per call.

enum { GRADIENT_JB = 4, GRADIENT_TB = 5 };

INLINE void weight_gradient_block(const int JB, const int TB, const float *in, size_t inSampleStride,
                                  const ptrdiff_t *offsets, const float *g, size_t gStride, size_t gSampleStride,
                                  size_t vectors, size_t samples, float *dw, size_t dwRow) {
    vec16 acc[GRADIENT_JB][GRADIENT_TB];
    for (int a = 0; a < JB; a++)
        for (int c = 0; c < TB; c++) acc[a][c] = splat16(0.0f);
    for (size_t s = 0; s < samples; s++) {
        const float *gs = g + s * gSampleStride;
        const float *xs = in + s * inSampleStride;
        for (size_t v = 0; v < vectors; v++) {
            vec16 gradient[GRADIENT_JB];
            for (int a = 0; a < JB; a++) gradient[a] = load16(gs + a * gStride + v * LANES);
            for (int c = 0; c < TB; c++) {
                vec16 x = load16(xs + offsets[c] + v * LANES);
                for (int a = 0; a < JB; a++) acc[a][c] += gradient[a] * x;
            }
        }
    }
    for (int a = 0; a < JB; a++)
        for (int c = 0; c < TB; c++) dw[a * dwRow + c] += sum16(acc[a][c]);
}

#define GRADIENT_CASE(jb, tb) \
    case (jb) * 8 + (tb): weight_gradient_block(jb, tb, xi, inSampleStride, offsets + t, gj, gStride, gSampleStride, vectors, samples, dwj + i * taps + t, dwRow); break;
#define GRADIENT_ROW(jb) GRADIENT_CASE(jb, 1) GRADIENT_CASE(jb, 2) GRADIENT_CASE(jb, 3) GRADIENT_CASE(jb, 4) GRADIENT_CASE(jb, 5)

TOPIARY_CLONES
void topiary_wide_weight_gradient(const float *in, size_t inputs, size_t inStride, size_t inSampleStride,
                                  const ptrdiff_t *offsets, size_t taps,
                                  const float *g, size_t outputs, size_t gStride, size_t gSampleStride,
                                  size_t q, size_t samples, float *dw) {
    size_t vectors = (q + LANES - 1) / LANES;
    size_t dwRow = inputs * taps;
    for (size_t j = 0; j < outputs; j += GRADIENT_JB) {
        int jb = (int)(outputs - j < GRADIENT_JB ? outputs - j : GRADIENT_JB);
        const float *gj = g + j * gStride;
        float *dwj = dw + j * dwRow;
        for (size_t i = 0; i < inputs; i++) {
            const float *xi = in + i * inStride;
            for (size_t t = 0; t < taps; t += GRADIENT_TB) {
                int tb = (int)(taps - t < GRADIENT_TB ? taps - t : GRADIENT_TB);
                switch (jb * 8 + tb) {
                    GRADIENT_ROW(1) GRADIENT_ROW(2) GRADIENT_ROW(3) GRADIENT_ROW(4)
                    default: break;
                }
            }
        }
    }
}

// ---- Copies between compact (C, H, W) planes and padded or wide rows. Rows here are
// short (LeNet-5's are 5 to 32 floats): inline loops, not a memcpy call per row.

#define NO_MEMCPY_CALLS __attribute__((no_builtin("memcpy", "memset")))

TOPIARY_CLONES NO_MEMCPY_CALLS
void topiary_pad_planes(const float *restrict source, size_t planes, size_t h, size_t w, size_t ph, size_t pw,
                        size_t wp, size_t planeStride, float *restrict target) {
    for (size_t p = 0; p < planes; p++)
        for (size_t y = 0; y < h; y++) {
            const float *from = source + (p * h + y) * w;
            float *to = target + p * planeStride + (y + ph) * wp + pw;
            for (size_t x = 0; x < w; x++) to[x] = from[x];
        }
}

TOPIARY_CLONES NO_MEMCPY_CALLS
void topiary_unpad_planes(const float *restrict source, size_t planes, size_t h, size_t w, size_t ph, size_t pw,
                          size_t wp, size_t planeStride, float *restrict target) {
    for (size_t p = 0; p < planes; p++)
        for (size_t y = 0; y < h; y++) {
            const float *from = source + p * planeStride + (y + ph) * wp + pw;
            float *to = target + (p * h + y) * w;
            for (size_t x = 0; x < w; x++) to[x] = from[x];
        }
}

TOPIARY_CLONES NO_MEMCPY_CALLS
void topiary_wide_unpack(const float *restrict wide, size_t rows, size_t wideStride, size_t ho, size_t wp, size_t wo,
                         int rectify, float *restrict out) {
    for (size_t r = 0; r < rows; r++)
        for (size_t y = 0; y < ho; y++) {
            const float *from = wide + r * wideStride + y * wp;
            float *to = out + (r * ho + y) * wo;
            if (rectify)
                for (size_t x = 0; x < wo; x++) to[x] = from[x] < 0.0f ? 0.0f : from[x];  // NaN stays NaN, as in ReLU
            else
                for (size_t x = 0; x < wo; x++) to[x] = from[x];
        }
}

TOPIARY_CLONES NO_MEMCPY_CALLS
void topiary_wide_pack(const float *restrict compact, size_t rows, size_t ho, size_t wo, size_t wp, size_t wideStride,
                       float *restrict wide) {
    for (size_t r = 0; r < rows; r++)
        for (size_t y = 0; y < ho; y++) {
            const float *from = compact + (r * ho + y) * wo;
            float *to = wide + r * wideStride + y * wp;
            for (size_t x = 0; x < wo; x++) to[x] = from[x];
            for (size_t x = wo; x < wp; x++) to[x] = 0.0f;
        }
}

// ---- Max pooling. Branch-free selects: which input of a window is largest is random, and
// a mispredicted branch per comparison cost more than the comparisons.

TOPIARY_CLONES
void topiary_max_pool(const float *restrict in, size_t planes, size_t h, size_t w, size_t kh, size_t kw,
                      size_t sh, size_t sw, size_t oh, size_t ow, float *restrict out, int *restrict argmax) {
    for (size_t p = 0; p < planes; p++) {
        const float *plane = in + p * h * w;
        float *o = out + p * oh * ow;
        int *a = argmax ? argmax + p * oh * ow : NULL;
        if (kh == 2 && kw == 2 && sh == 2 && sw == 2) {
            for (size_t y = 0; y < oh; y++) {
                const float *r0 = plane + 2 * y * w, *r1 = r0 + w;
                for (size_t x = 0; x < ow; x++) {
                    int first = (int)(2 * y * w + 2 * x);
                    float best = r0[2 * x];
                    int index = first;
                    float v = r0[2 * x + 1];
                    index = v > best ? first + 1 : index;
                    best = v > best ? v : best;
                    v = r1[2 * x];
                    index = v > best ? first + (int)w : index;
                    best = v > best ? v : best;
                    v = r1[2 * x + 1];
                    index = v > best ? first + (int)w + 1 : index;
                    best = v > best ? v : best;
                    o[y * ow + x] = best;
                    if (argmax) a[y * ow + x] = index;
                }
            }
            continue;
        }
        for (size_t y = 0; y < oh; y++) {
            for (size_t x = 0; x < ow; x++) {
                size_t best = y * sh * w + x * sw;
                float value = plane[best];
                for (size_t ky = 0; ky < kh; ky++) {
                    for (size_t kx = 0; kx < kw; kx++) {
                        size_t index = (y * sh + ky) * w + x * sw + kx;
                        best = plane[index] > value ? index : best;
                        value = plane[index] > value ? plane[index] : value;
                    }
                }
                o[y * ow + x] = value;
                if (argmax) a[y * ow + x] = (int)best;
            }
        }
    }
}

void topiary_max_pool_backward(const float *restrict dy, const int *restrict argmax, size_t planes, size_t h, size_t w,
                               size_t oh, size_t ow, float *restrict din) {
    for (size_t p = 0; p < planes; p++) {
        const float *g = dy + p * oh * ow;
        const int *a = argmax + p * oh * ow;
        float *d = din + p * h * w;
        for (size_t o = 0; o < oh * ow; o++) d[a[o]] += g[o];
    }
}

// ---- Bias gradient: row sums of wide gradients.

TOPIARY_CLONES
void topiary_wide_row_sums(const float *g, size_t rows, size_t gStride, size_t gSampleStride, size_t q, size_t samples,
                           float *sums) {
    size_t vectors = (q + LANES - 1) / LANES;
    for (size_t j = 0; j < rows; j++) {
        vec16 acc = splat16(0.0f);
        for (size_t s = 0; s < samples; s++) {
            const float *row = g + s * gSampleStride + j * gStride;
            for (size_t v = 0; v < vectors; v++) acc += load16(row + v * LANES);
        }
        sums[j] += sum16(acc);
    }
}
