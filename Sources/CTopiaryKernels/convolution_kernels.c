#include "topiary_convolution.h"
#include <string.h>

#include "topiary_clones.h"

// The output columns x whose input column x*sw + kx - pw lies inside [0, width): a range
// [first, last). Computed once per (kx), so the inner loops have no bounds checks.
static inline void valid_range(size_t kx, size_t stride, size_t pad, size_t width, size_t out,
                               size_t *first, size_t *last) {
    // x*stride + kx >= pad  and  x*stride + kx - pad < width
    size_t lo = kx >= pad ? 0 : (pad - kx + stride - 1) / stride;
    size_t limit = width + pad;  // x*stride + kx < limit
    size_t hi = kx >= limit ? 0 : (limit - kx + stride - 1) / stride;
    if (hi > out) hi = out;
    if (lo > hi) lo = hi;
    *first = lo;
    *last = hi;
}

TOPIARY_CLONES
void topiary_im2col(const float *restrict image, size_t channels, size_t height, size_t width,
                    size_t kernel_h, size_t kernel_w, size_t stride_h, size_t stride_w,
                    size_t pad_h, size_t pad_w, size_t out_h, size_t out_w,
                    float *restrict columns, size_t column_stride) {
    for (size_t c = 0; c < channels; c++) {
        for (size_t ky = 0; ky < kernel_h; ky++) {
            for (size_t kx = 0; kx < kernel_w; kx++) {
                float *row = columns + ((c * kernel_h + ky) * kernel_w + kx) * column_stride;
                size_t first, last;
                valid_range(kx, stride_w, pad_w, width, out_w, &first, &last);
                for (size_t y = 0; y < out_h; y++) {
                    float *out = row + y * out_w;
                    ptrdiff_t iy = (ptrdiff_t)(y * stride_h + ky) - (ptrdiff_t)pad_h;
                    if (iy < 0 || iy >= (ptrdiff_t)height) {
                        memset(out, 0, out_w * sizeof(float));
                        continue;
                    }
                    const float *in = image + (c * height + (size_t)iy) * width;
                    for (size_t x = 0; x < first; x++) out[x] = 0;
                    if (stride_w == 1) {
                        const float *source = in + first + kx - pad_w;
                        for (size_t x = first; x < last; x++) out[x] = source[x - first];
                    } else {
                        for (size_t x = first; x < last; x++) out[x] = in[x * stride_w + kx - pad_w];
                    }
                    for (size_t x = last; x < out_w; x++) out[x] = 0;
                }
            }
        }
    }
}

TOPIARY_CLONES
void topiary_col2im_add(const float *restrict columns, size_t column_stride, size_t channels, size_t height, size_t width,
                        size_t kernel_h, size_t kernel_w, size_t stride_h, size_t stride_w,
                        size_t pad_h, size_t pad_w, size_t out_h, size_t out_w, float *restrict image) {
    for (size_t c = 0; c < channels; c++) {
        for (size_t ky = 0; ky < kernel_h; ky++) {
            for (size_t kx = 0; kx < kernel_w; kx++) {
                const float *row = columns + ((c * kernel_h + ky) * kernel_w + kx) * column_stride;
                size_t first, last;
                valid_range(kx, stride_w, pad_w, width, out_w, &first, &last);
                for (size_t y = 0; y < out_h; y++) {
                    ptrdiff_t iy = (ptrdiff_t)(y * stride_h + ky) - (ptrdiff_t)pad_h;
                    if (iy < 0 || iy >= (ptrdiff_t)height) continue;
                    const float *in = row + y * out_w;
                    float *target = image + (c * height + (size_t)iy) * width;
                    if (stride_w == 1) {
                        float *t = target + first + kx - pad_w;
                        for (size_t x = first; x < last; x++) t[x - first] += in[x];
                    } else {
                        for (size_t x = first; x < last; x++) target[x * stride_w + kx - pad_w] += in[x];
                    }
                }
            }
        }
    }
}
