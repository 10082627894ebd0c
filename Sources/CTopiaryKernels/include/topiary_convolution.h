#ifndef TOPIARY_CONVOLUTION_H
#define TOPIARY_CONVOLUTION_H
#include <stddef.h>

// Unrolling a convolution's input into the columns of a matrix (Caffe's im2col), so a
// convolution becomes one GEMM with its (out_channels, in_channels*kh*kw) weight matrix,
// and the inverse that sums a column matrix back into an image (for the input gradient).
// Layouts, one sample: image (C, H, W) row-major; columns (C*kh*kw, Ho*Wo): row
// (c*kh + ky)*kw + kx, column y*Wo + x holds image[c, y*sh + ky - ph, x*sw + kx - pw], or 0
// outside the image. `column_stride` is the distance between rows of the column matrix
// (>= Ho*Wo), so several samples can sit side by side in one matrix.
void topiary_im2col(const float *image, size_t channels, size_t height, size_t width,
                    size_t kernel_h, size_t kernel_w, size_t stride_h, size_t stride_w,
                    size_t pad_h, size_t pad_w, size_t out_h, size_t out_w,
                    float *columns, size_t column_stride);

/// image += the column matrix folded back (each entry added to the pixel it was read from).
void topiary_col2im_add(const float *columns, size_t column_stride, size_t channels, size_t height, size_t width,
                        size_t kernel_h, size_t kernel_w, size_t stride_h, size_t stride_w,
                        size_t pad_h, size_t pad_w, size_t out_h, size_t out_w, float *image);
#endif
