#ifndef TOPIARY_DIRECT_CONVOLUTION_H
#define TOPIARY_DIRECT_CONVOLUTION_H
#include <stddef.h>

// Stride-1 convolutions computed directly on "wide rows". A zero-padded input plane
// (Hp, Wp) is read as one flat row; the output at flat position q = y·Wp + x is
//     out[j][q] = Σ_i Σ_t w[j][i][t] · in[i][q + offsets[t]],   offsets[t] = ky·Wp + kx,
// which is correct for x < Wo and garbage in the kw − 1 columns past Wo (the caller
// drops them). Every tap is then one contiguous, vectorisable stretch of the input, with no
// 25-fold unrolling and no GEMM too skinny for BLAS (LeNet-5's 6 and 16 channels, a sensor
// CNN's few). The kernels block over 16-float vectors of q and several channels j, so the
// accumulators stay in registers and each input vector feeds several FMAs.
//
// The input gradient is the same correlation with the roles swapped: channels j are the
// layer's inputs, i its outputs, offsets −(ky·Wp + kx) into the output gradient laid out
// wide with zeroed garbage columns and zero borders (see Convolution.swift).
//
// Every read at q + offsets[t] for q < round_up(Q, 16) must land in finite memory (the
// caller keeps slack after each buffer); results are summed in a fixed order per build
// clone (FMAs are contracted in this file only).

/// out[j][q] = (bias ? bias[j] : 0) + Σ_i Σ_t w[(j·I + i)·T + t] · in[i·inStride + q + offsets[t]]
/// for j < J, q < round_up(Q, 16); `outStride` ≥ round_up(Q, 16).
void topiary_wide_correlate(const float *in, size_t inputs, size_t inStride, const ptrdiff_t *offsets, size_t taps,
                            const float *w, const float *bias, size_t outputs, float *out, size_t outStride, size_t q);

/// dw[(j·I + i)·T + t] += Σ_s Σ_{q < round_up(Q, 16)} g[s·gSampleStride + j·gStride + q] ·
///                                      in[s·inSampleStride + i·inStride + q + offsets[t]]
/// over `samples` samples: the weight gradient of a wide correlation, g zero wherever the
/// output is garbage or past Q.
void topiary_wide_weight_gradient(const float *in, size_t inputs, size_t inStride, size_t inSampleStride,
                                  const ptrdiff_t *offsets, size_t taps,
                                  const float *g, size_t outputs, size_t gStride, size_t gSampleStride,
                                  size_t q, size_t samples, float *dw);

/// sums[j] += Σ_s Σ_{q < round_up(Q, 16)} g[s·gSampleStride + j·gStride + q]: the bias
/// gradient from wide output gradients.
void topiary_wide_row_sums(const float *g, size_t rows, size_t gStride, size_t gSampleStride, size_t q, size_t samples,
                           float *sums);

/// Copies `planes` planes (H, W) into the interior of padded planes (row width wp, planes
/// `planeStride` apart, offset by ph rows and pw columns); the borders are left alone.
void topiary_pad_planes(const float *source, size_t planes, size_t h, size_t w, size_t ph, size_t pw,
                        size_t wp, size_t planeStride, float *target);
/// The inverse of `topiary_pad_planes`: the interiors out into compact (planes, H, W).
void topiary_unpad_planes(const float *source, size_t planes, size_t h, size_t w, size_t ph, size_t pw,
                          size_t wp, size_t planeStride, float *target);
/// Wide rows (rows of `wideStride`, output row y at y·wp) → compact (rows, ho, wo), through
/// max(0, ·) when `rectify` is non-zero.
void topiary_wide_unpack(const float *wide, size_t rows, size_t wideStride, size_t ho, size_t wp, size_t wo, int rectify,
                         float *out);
/// Compact (rows, ho, wo) → wide rows, zeroing the wp − wo garbage columns of each row.
void topiary_wide_pack(const float *compact, size_t rows, size_t ho, size_t wo, size_t wp, size_t wideStride, float *wide);

/// Max pooling of every (H, W) plane with a kh×kw window and strides sh, sw (no padding);
/// `argmax` (may be NULL: inference) receives, per output, the index within its plane of
/// the input it took (first on ties).
void topiary_max_pool(const float *in, size_t planes, size_t h, size_t w, size_t kh, size_t kw,
                      size_t sh, size_t sw, size_t oh, size_t ow, float *out, int *argmax);

/// The gradient of `topiary_max_pool`: din (zeroed by the caller) += dy at each argmax.
void topiary_max_pool_backward(const float *dy, const int *argmax, size_t planes, size_t h, size_t w,
                               size_t oh, size_t ow, float *din);
#endif
