#ifndef TOPIARY_SPARSE_H
#define TOPIARY_SPARSE_H
#include <stddef.h>
#include <stdint.h>

// Inference kernels for pruned and quantized layers (see optimizer_kernels.c for why C).
// Every kernel computes y = act(W x + b) for one Linear layer, act = ReLU when relu != 0.
// Summation order is fixed (16 partial sums, combined in a fixed order), so every ISA clone
// gives the same results.
//
// CSR: row_ptr (rows + 1, UInt32), col (nnz; UInt16 when the layer has <= 65,536 columns,
// else UInt32), val (nnz, Float32). int8 variants store val as int8 with one Float32 scale
// per row (w = scale[i] * q).

/// Batch 1: x (cols), y (rows).
void topiary_csr16_spmv(size_t rows, const uint32_t *row_ptr, const uint16_t *col, const float *val,
                        const float *x, const float *bias, float *y, int relu);
void topiary_csr32_spmv(size_t rows, const uint32_t *row_ptr, const uint32_t *col, const float *val,
                        const float *x, const float *bias, float *y, int relu);
void topiary_int8_csr16_spmv(size_t rows, const uint32_t *row_ptr, const uint16_t *col, const int8_t *val,
                             const float *scale, const float *x, const float *bias, float *y, int relu);

/// Batch > 1 in features-by-batch layout: xt (cols x ldx), yt (rows x ldy); only batch
/// columns [b0, b1) are computed, so callers split the batch over threads and cache blocks.
void topiary_csr16_spmm(size_t rows, const uint32_t *row_ptr, const uint16_t *col, const float *val,
                        const float *xt, size_t ldx, const float *bias, float *yt, size_t ldy,
                        size_t b0, size_t b1, int relu);
void topiary_csr32_spmm(size_t rows, const uint32_t *row_ptr, const uint32_t *col, const float *val,
                        const float *xt, size_t ldx, const float *bias, float *yt, size_t ldy,
                        size_t b0, size_t b1, int relu);
void topiary_int8_csr16_spmm(size_t rows, const uint32_t *row_ptr, const uint16_t *col, const int8_t *val,
                             const float *scale, const float *xt, size_t ldx, const float *bias,
                             float *yt, size_t ldy, size_t b0, size_t b1, int relu);

/// Dense int8 weights q (rows x cols, row-major), batch 1.
void topiary_int8_gemv(size_t rows, size_t cols, const int8_t *q, const float *scale, const float *x,
                       const float *bias, float *y, int relu);
/// w = scale[i] * q for a block of rows (the int8 engine's large-batch path dequantizes into
/// a scratch matrix and calls sgemm).
void topiary_int8_dequantize(size_t rows, size_t cols, const int8_t *q, const float *scale, float *w);
#endif

// SELL-16/32 (sliced ELLPACK with column windows), batch 1. Rows are taken 16 at a time
// (a chunk); a chunk's nonzeros are grouped by 32-column window of x; each slot holds one
// value and one 5-bit window offset per row of the chunk (value 0 where a row has fewer).
// The kernel loads the window's 32 inputs into two vector registers and picks each slot's 16
// inputs with one permute instead of a gather.
//   chunk_windows (chunks + 1): offsets into window_index / window_slots
//   window_index: the window (column / 32) of each chunk-window entry
//   window_slots (entries + 1): offsets into slot arrays; values (slots x 16), offsets (slots x 16)
//   row_order (rows): the output row lane l of chunk c computes is row_order[16c + l]
void topiary_sell_spmv(size_t rows, size_t cols, const uint32_t *chunk_windows, const uint16_t *window_index,
                       const uint32_t *window_slots, const float *values, const uint8_t *offsets,
                       const uint32_t *row_order, const float *x, const float *bias, float *y, int relu);

// N:M packed, batch 1: per row and 32-column window, 16 values and their window offsets
// (values 0 where a window keeps fewer than 16). values/offsets: rows x windows x 16.
void topiary_nm_spmv(size_t rows, size_t cols, size_t windows, const float *values, const uint8_t *offsets,
                     const float *x, const float *bias, float *y, int relu);
