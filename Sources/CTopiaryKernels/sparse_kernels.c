#include "topiary_sparse.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// Summation order is part of the contract: every path keeps 16 lane sums (lane l takes
// nonzeros l, l + 16, …, each as a separate multiply and add, no fused multiply-add),
// combined pairwise at the end. The AVX-512 path and the portable path therefore give
// bit-identical results.

#include "topiary_clones.h"

typedef float v16f __attribute__((vector_size(64), aligned(4)));
typedef signed char v16b __attribute__((vector_size(16), aligned(1)));

static inline float reduce16(const float acc[16]) {
    float s8[8], s4[4];
    for (int l = 0; l < 8; l++) s8[l] = acc[l] + acc[l + 8];
    for (int l = 0; l < 4; l++) s4[l] = s8[l] + s8[l + 4];
    return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

static inline float activate(float v, int relu) { return relu && v < 0.0f ? 0.0f : v; }

// Whether the AVX-512 paths (F, BW, VL) can run here; checked once per kernel.
static int has_avx512_bw_vl(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

// ---- Batch 1: CSR SpMV -------------------------------------------------------------------

static void spmv16_portable(size_t rows, const uint32_t *row_ptr, const uint16_t *col, const float *val,
                            const int8_t *qval, const float *scale, const float *x, const float *bias,
                            float *y, int relu) {
    for (size_t i = 0; i < rows; i++) {
        float acc[16] = {0};
        for (uint32_t k = row_ptr[i]; k < row_ptr[i + 1]; k++) {
            float w = qval ? (float)qval[k] : val[k];
            float product = w * x[col[k]];
            acc[(k - row_ptr[i]) % 16] += product;
        }
        float sum = reduce16(acc);
        y[i] = activate((scale ? scale[i] * sum : sum) + bias[i], relu);
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f,avx512bw,avx512vl")))
static void spmv16_avx512(size_t rows, const uint32_t *row_ptr, const uint16_t *col, const float *val,
                          const int8_t *qval, const float *scale, const float *x, const float *bias,
                          float *y, int relu) {
    for (size_t i = 0; i < rows; i++) {
        __m512 acc = _mm512_setzero_ps();
        uint32_t k = row_ptr[i], end = row_ptr[i + 1];
        for (; k < end; k += 16) {
            uint32_t left = end - k;
            __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            __m512i index = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, col + k));
            __m512 xs = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, index, x, 4);
            __m512 ws = qval ? _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, qval + k)))
                             : _mm512_maskz_loadu_ps(m, val + k);
            acc = _mm512_add_ps(acc, _mm512_mul_ps(ws, xs));
        }
        float lanes[16];
        _mm512_storeu_ps(lanes, acc);
        float sum = reduce16(lanes);
        y[i] = activate((scale ? scale[i] * sum : sum) + bias[i], relu);
    }
}
#endif

typedef void (*spmv16_fn)(size_t, const uint32_t *, const uint16_t *, const float *, const int8_t *,
                          const float *, const float *, const float *, float *, int);

static spmv16_fn spmv16_choice(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (has_avx512_bw_vl()) return spmv16_avx512;
#endif
    return spmv16_portable;
}

void topiary_csr16_spmv(size_t rows, const uint32_t *row_ptr, const uint16_t *col, const float *val,
                        const float *x, const float *bias, float *y, int relu) {
    static spmv16_fn chosen;
    if (!chosen) chosen = spmv16_choice();
    chosen(rows, row_ptr, col, val, 0, 0, x, bias, y, relu);
}

void topiary_int8_csr16_spmv(size_t rows, const uint32_t *row_ptr, const uint16_t *col, const int8_t *val,
                             const float *scale, const float *x, const float *bias, float *y, int relu) {
    static spmv16_fn chosen;
    if (!chosen) chosen = spmv16_choice();
    chosen(rows, row_ptr, col, 0, val, scale, x, bias, y, relu);
}

// More than 65,536 columns: rare, portable code only.
void topiary_csr32_spmv(size_t rows, const uint32_t *row_ptr, const uint32_t *col, const float *val,
                        const float *x, const float *bias, float *y, int relu) {
    for (size_t i = 0; i < rows; i++) {
        float acc[16] = {0};
        for (uint32_t k = row_ptr[i]; k < row_ptr[i + 1]; k++) acc[(k - row_ptr[i]) % 16] += val[k] * x[col[k]];
        y[i] = activate(reduce16(acc) + bias[i], relu);
    }
}

// ---- Dense int8 GEMV ------------------------------------------------------------------------

TOPIARY_CLONES
void topiary_int8_gemv(size_t rows, size_t cols, const int8_t *restrict q, const float *restrict scale,
                       const float *restrict x, const float *restrict bias, float *restrict y, int relu) {
    for (size_t i = 0; i < rows; i++) {
        const int8_t *qr = q + i * cols;
        v16f acc = {0};
        size_t j = 0;
        for (; j + 16 <= cols; j += 16) {
            v16b codes;
            v16f xs;
            memcpy(&codes, qr + j, 16);
            memcpy(&xs, x + j, 64);
            acc += __builtin_convertvector(codes, v16f) * xs;
        }
        float lanes[16];
        memcpy(lanes, &acc, 64);
        for (int l = 0; j < cols; j++, l++) lanes[l] += (float)qr[j] * x[j];
        y[i] = activate(scale[i] * reduce16(lanes) + bias[i], relu);
    }
}

TOPIARY_CLONES
void topiary_int8_dequantize(size_t rows, size_t cols, const int8_t *restrict q, const float *restrict scale,
                             float *restrict w) {
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) w[i * cols + j] = scale[i] * (float)q[i * cols + j];
}

// ---- Batch > 1: features-major SpMM -------------------------------------------------------
// yt[i, b] = act(bias[i] + Σ_k w_k · xt[col_k, b]). Blocks of 64 batch columns stay in 8
// vector registers (4 vectors × even/odd nonzeros, enough independent chains to hide the
// add latency); each nonzero loads 64 contiguous input values. Columns past the last full
// block use plain loops. The summation order (even/odd partial sums, then their sum) is the
// same in both, so results do not depend on where a column falls.

#define SPMM_BODY(WEIGHT)                                                                        \
    for (size_t i = 0; i < rows; i++) {                                                          \
        float *restrict yr = yt + i * ldy;                                                       \
        uint32_t start = row_ptr[i], end = row_ptr[i + 1];                                       \
        size_t b = b0;                                                                           \
        for (; b + 64 <= b1; b += 64) {                                                          \
            v16f even[4] = {{0}}, odd[4] = {{0}};                                                \
            uint32_t k = start;                                                                  \
            for (; k + 2 <= end; k += 2) {                                                       \
                const float w0 = WEIGHT(k), w1 = WEIGHT(k + 1);                                  \
                const float *x0 = xt + (size_t)col[k] * ldx + b, *x1 = xt + (size_t)col[k + 1] * ldx + b; \
                for (int v = 0; v < 4; v++) {                                                    \
                    v16f a, c;                                                                   \
                    memcpy(&a, x0 + 16 * v, 64);                                                 \
                    memcpy(&c, x1 + 16 * v, 64);                                                 \
                    even[v] += w0 * a;                                                           \
                    odd[v] += w1 * c;                                                            \
                }                                                                                \
            }                                                                                    \
            if (k < end) {                                                                       \
                const float w0 = WEIGHT(k);                                                      \
                const float *x0 = xt + (size_t)col[k] * ldx + b;                                 \
                for (int v = 0; v < 4; v++) { v16f a; memcpy(&a, x0 + 16 * v, 64); even[v] += w0 * a; } \
            }                                                                                    \
            for (int v = 0; v < 4; v++) {                                                        \
                v16f s = (even[v] + odd[v]) + bias[i];                                           \
                if (relu) s = __builtin_elementwise_max(s, (v16f){0});                           \
                memcpy(yr + b + 16 * v, &s, 64);                                                 \
            }                                                                                    \
        }                                                                                        \
        for (; b < b1; b++) {                                                                    \
            float even = 0, odd = 0;                                                             \
            uint32_t k = start;                                                                  \
            for (; k + 2 <= end; k += 2) {                                                       \
                even += WEIGHT(k) * xt[(size_t)col[k] * ldx + b];                                \
                odd += WEIGHT(k + 1) * xt[(size_t)col[k + 1] * ldx + b];                         \
            }                                                                                    \
            if (k < end) even += WEIGHT(k) * xt[(size_t)col[k] * ldx + b];                      \
            yr[b] = activate((even + odd) + bias[i], relu);                                      \
        }                                                                                        \
    }

#define F32_WEIGHT(k) val[k]
#define I8_WEIGHT(k) ((float)val[k] * scale[i])

TOPIARY_CLONES
void topiary_csr16_spmm(size_t rows, const uint32_t *restrict row_ptr, const uint16_t *restrict col,
                        const float *restrict val, const float *restrict xt, size_t ldx, const float *restrict bias,
                        float *restrict yt, size_t ldy, size_t b0, size_t b1, int relu) {
    SPMM_BODY(F32_WEIGHT)
}

TOPIARY_CLONES
void topiary_csr32_spmm(size_t rows, const uint32_t *restrict row_ptr, const uint32_t *restrict col,
                        const float *restrict val, const float *restrict xt, size_t ldx, const float *restrict bias,
                        float *restrict yt, size_t ldy, size_t b0, size_t b1, int relu) {
    SPMM_BODY(F32_WEIGHT)
}

TOPIARY_CLONES
void topiary_int8_csr16_spmm(size_t rows, const uint32_t *restrict row_ptr, const uint16_t *restrict col,
                             const int8_t *restrict val, const float *restrict scale, const float *restrict xt,
                             size_t ldx, const float *restrict bias, float *restrict yt, size_t ldy,
                             size_t b0, size_t b1, int relu) {
    SPMM_BODY(I8_WEIGHT)
}

// ---- SELL-16/32, batch 1 ------------------------------------------------------------------
// Per row (lane) the order is: slots in storage order, each a multiply then an add; both paths.
// (Four partial sums indexed by slot number were tried: the dynamic index keeps them in
// memory and the kernel got 20 % slower.)

static void sell_portable(size_t rows, size_t cols, const uint32_t *chunk_windows, const uint16_t *window_index,
                          const uint32_t *window_slots, const float *values, const uint8_t *offsets,
                          const uint32_t *row_order, const float *x, const float *bias, float *y, int relu) {
    size_t chunks = (rows + 15) / 16;
    for (size_t c = 0; c < chunks; c++) {
        float acc[16] = {0};
        for (uint32_t e = chunk_windows[c]; e < chunk_windows[c + 1]; e++) {
            size_t base = (size_t)window_index[e] * 32;
            for (uint32_t s = window_slots[e]; s < window_slots[e + 1]; s++)
                for (int l = 0; l < 16; l++) {
                    size_t column = base + offsets[s * 16 + l];
                    float input = column < cols ? x[column] : 0.0f;
                    float product = values[s * 16 + l] * input;
                    acc[l] += product;
                }
        }
        for (int l = 0; l < 16 && c * 16 + l < rows; l++) {
            uint32_t row = row_order[c * 16 + l];
            y[row] = activate(acc[l] + bias[row], relu);
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f,avx512bw,avx512vl")))
static void sell_avx512(size_t rows, size_t cols, const uint32_t *chunk_windows, const uint16_t *window_index,
                        const uint32_t *window_slots, const float *values, const uint8_t *offsets,
                        const uint32_t *row_order, const float *x, const float *bias, float *y, int relu) {
    size_t chunks = (rows + 15) / 16;
    for (size_t c = 0; c < chunks; c++) {
        __m512 acc = _mm512_setzero_ps();
        for (uint32_t e = chunk_windows[c]; e < chunk_windows[c + 1]; e++) {
            size_t base = (size_t)window_index[e] * 32;
            size_t left = cols - base;
            __mmask16 mlo = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            __mmask16 mhi = left >= 32 ? (__mmask16)0xFFFF : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
            __m512 lo = _mm512_maskz_loadu_ps(mlo, x + base);
            __m512 hi = _mm512_maskz_loadu_ps(mhi, x + base + 16);
            for (uint32_t s = window_slots[e]; s < window_slots[e + 1]; s++) {
                __m512i index = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(offsets + (size_t)s * 16)));
                __m512 inputs = _mm512_permutex2var_ps(lo, index, hi);
                acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_loadu_ps(values + (size_t)s * 16), inputs));
            }
        }
        float lanes[16];
        _mm512_storeu_ps(lanes, acc);
        for (int l = 0; l < 16 && c * 16 + l < rows; l++) {
            uint32_t row = row_order[c * 16 + l];
            y[row] = activate(lanes[l] + bias[row], relu);
        }
    }
}
#endif

void topiary_sell_spmv(size_t rows, size_t cols, const uint32_t *chunk_windows, const uint16_t *window_index,
                       const uint32_t *window_slots, const float *values, const uint8_t *offsets,
                       const uint32_t *row_order, const float *x, const float *bias, float *y, int relu) {
    typedef void (*sell_fn)(size_t, size_t, const uint32_t *, const uint16_t *, const uint32_t *, const float *,
                            const uint8_t *, const uint32_t *, const float *, const float *, float *, int);
    static sell_fn chosen;
    if (!chosen) {
        chosen = sell_portable;
#if defined(__x86_64__) && defined(__GNUC__)
        if (has_avx512_bw_vl()) chosen = sell_avx512;
#endif
    }
    chosen(rows, cols, chunk_windows, window_index, window_slots, values, offsets, row_order, x, bias, y, relu);
}

// ---- N:M packed, batch 1 -----------------------------------------------------------------
// Per row: 16 lane sums over windows (multiply then add), reduced with reduce16; both paths.

static void nm_portable(size_t rows, size_t cols, size_t windows, const float *values, const uint8_t *offsets,
                        const float *x, const float *bias, float *y, int relu) {
    for (size_t i = 0; i < rows; i++) {
        float acc[16] = {0};
        for (size_t w = 0; w < windows; w++) {
            const float *v = values + (i * windows + w) * 16;
            const uint8_t *o = offsets + (i * windows + w) * 16;
            for (int l = 0; l < 16; l++) {
                size_t column = w * 32 + o[l];
                float input = column < cols ? x[column] : 0.0f;
                float product = v[l] * input;
                acc[l] += product;
            }
        }
        y[i] = activate(reduce16(acc) + bias[i], relu);
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
// One row's contribution from window w: permute the window's inputs, multiply, add.
#define NM_STEP(acc, row)                                                                        \
    do {                                                                                         \
        size_t at = ((row) * windows + w) * 16;                                                  \
        __m512i index = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(offsets + at)));  \
        acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_loadu_ps(values + at),                    \
                                               _mm512_permutex2var_ps(lo, index, hi)));          \
    } while (0)

// Four rows at a time: the window's inputs are loaded once, and four independent sums hide
// the add latency (one row alone waits ~4 cycles per window). Each row's order is unchanged.
__attribute__((target("avx512f,avx512bw,avx512vl")))
static void nm_avx512(size_t rows, size_t cols, size_t windows, const float *values, const uint8_t *offsets,
                      const float *x, const float *bias, float *y, int relu) {
    size_t i = 0;
    for (; i < rows; i += 4) {
        size_t group = rows - i < 4 ? rows - i : 4;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        for (size_t w = 0; w < windows; w++) {
            size_t base = w * 32, left = cols - base;
            __mmask16 mlo = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            __mmask16 mhi = left >= 32 ? (__mmask16)0xFFFF : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
            __m512 lo = _mm512_maskz_loadu_ps(mlo, x + base);
            __m512 hi = _mm512_maskz_loadu_ps(mhi, x + base + 16);
            NM_STEP(a0, i);
            if (group > 1) NM_STEP(a1, i + 1);
            if (group > 2) NM_STEP(a2, i + 2);
            if (group > 3) NM_STEP(a3, i + 3);
        }
        __m512 sums[4] = {a0, a1, a2, a3};
        for (size_t r = 0; r < group; r++) {
            float lanes[16];
            _mm512_storeu_ps(lanes, sums[r]);
            y[i + r] = activate(reduce16(lanes) + bias[i + r], relu);
        }
    }
}
#undef NM_STEP
#endif

void topiary_nm_spmv(size_t rows, size_t cols, size_t windows, const float *values, const uint8_t *offsets,
                     const float *x, const float *bias, float *y, int relu) {
    typedef void (*nm_fn)(size_t, size_t, size_t, const float *, const uint8_t *, const float *, const float *, float *, int);
    static nm_fn chosen;
    if (!chosen) {
        chosen = nm_portable;
#if defined(__x86_64__) && defined(__GNUC__)
        if (has_avx512_bw_vl()) chosen = nm_avx512;
#endif
    }
    chosen(rows, cols, windows, values, offsets, x, bias, y, relu);
}
