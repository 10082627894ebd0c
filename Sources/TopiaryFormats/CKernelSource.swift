/// The portable kernels every exported model carries, as C99 text: scalar loops only (no
/// intrinsics, no allocation), each sum taken in one fixed order — ascending fan-in column,
/// then the bias (int8: the per-row scale times the sum, then the bias) — so a host compiler
/// and a Cortex-M compiler, both with `-ffp-contract=off`, give the same bits.
///
/// A matrix is applied at every output position of a grid (1 × 1 for a Linear): position
/// (oy, ox) reads the input at base = oy·stride_h·pitch + ox·stride_w plus each column's
/// offset, so a convolution's fan-in column (channel, ky, kx) is the offset
/// channel·plane + ky·pitch + kx into its (padded) input, fixed at export time. Outputs are
/// channel-major: y[row · positions + position].
enum CKernelSource {
    /// What every export carries: the grid type, the finishing ReLU and the loop the matrix kernels share.
    static let common = #"""
typedef struct {
    int out_h, out_w;        /* output grid (1 x 1 for a Linear) */
    int stride_h, stride_w;  /* input steps between neighbouring outputs */
    int pitch;               /* floats per input row */
} topiary_grid;

static float topiary_finish(float value, int relu) { return relu && value < 0.0f ? 0.0f : value; }

/* The loop every layout shares: each row at each output position, y = SCALE sum + bias, where
 * ROW_SUM adds the row's products into `sum`, reading the window that starts at `xb`. */
#define TOPIARY_EACH_ROW_AND_POSITION(ROW_SUM, SCALE)                                           \
    int positions = g->out_h * g->out_w;                                                        \
    for (int r = 0; r < rows; r++)                                                              \
        for (int oy = 0; oy < g->out_h; oy++)                                                   \
            for (int ox = 0; ox < g->out_w; ox++) {                                             \
                const float *xb = x + (long)oy * g->stride_h * g->pitch + (long)ox * g->stride_w; \
                float sum = 0.0f;                                                               \
                ROW_SUM;                                                                        \
                y[(long)r * positions + oy * g->out_w + ox] = topiary_finish(SCALE sum + bias[r], relu); \
            }

"""#

    /// Each kernel by name, emitted only when a step uses it (an unused static function is a
    /// warning under -Wall), in this order.
    static let kernels: KeyValuePairs<String, String> = [
        "topiary_scale": #"""
/* In place: x * factor (a multiplier not folded into a matrix). */
static void topiary_scale(int count, float factor, float *x) {
    for (int i = 0; i < count; i++) x[i] = x[i] * factor;
}
"""#,
        "topiary_dense_f32": #"""
/* Dense Float32 rows (rows x cols); offsets NULL means column j reads input j. */
static void topiary_dense_f32(const topiary_grid *g, int rows, int cols, const topiary_col_t *offsets,
                              const float *w, const float *bias, const float *x, float *y, int relu) {
    TOPIARY_EACH_ROW_AND_POSITION(
        const float *wr = w + (long)r * cols;
        if (offsets) { for (int j = 0; j < cols; j++) sum += wr[j] * xb[offsets[j]]; }
        else { for (int j = 0; j < cols; j++) sum += wr[j] * xb[j]; }, )
}
"""#,
        "topiary_csr_f32": #"""
/* Compressed sparse rows of Float32 values; a column index is the input offset. */
static void topiary_csr_f32(const topiary_grid *g, int rows, const topiary_ptr_t *row_start, const topiary_col_t *columns,
                            const float *values, const float *bias, const float *x, float *y, int relu) {
    TOPIARY_EACH_ROW_AND_POSITION(
        for (long k = row_start[r]; k < (long)row_start[r + 1]; k++) sum += values[k] * xb[columns[k]], )
}
"""#,
        "topiary_dense_q8": #"""
/* Dense int8 codes with one Float32 scale per row: y = scale * sum(code * x) + bias. */
static void topiary_dense_q8(const topiary_grid *g, int rows, int cols, const topiary_col_t *offsets, const int8_t *q,
                             const float *scale, const float *bias, const float *x, float *y, int relu) {
    TOPIARY_EACH_ROW_AND_POSITION(
        const int8_t *qr = q + (long)r * cols;
        if (offsets) { for (int j = 0; j < cols; j++) sum += (float)qr[j] * xb[offsets[j]]; }
        else { for (int j = 0; j < cols; j++) sum += (float)qr[j] * xb[j]; }, scale[r] *)
}
"""#,
        "topiary_csr_q8": #"""
/* Compressed sparse rows of int8 codes, per-row scales. */
static void topiary_csr_q8(const topiary_grid *g, int rows, const topiary_ptr_t *row_start, const topiary_col_t *columns,
                           const int8_t *q, const float *scale, const float *bias, const float *x, float *y, int relu) {
    TOPIARY_EACH_ROW_AND_POSITION(
        for (long k = row_start[r]; k < (long)row_start[r + 1]; k++) sum += (float)q[k] * xb[columns[k]], scale[r] *)
}
"""#,
        "topiary_pad": #"""
/* Copies (channels, h, w) into (channels, h + 2 pad_h, w + 2 pad_w) with zero borders. */
static void topiary_pad(int channels, int h, int w, int pad_h, int pad_w, const float *x, float *padded) {
    int ph = h + 2 * pad_h, pw = w + 2 * pad_w;
    for (long i = 0; i < (long)channels * ph * pw; i++) padded[i] = 0.0f;
    for (int c = 0; c < channels; c++)
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) padded[((long)c * ph + i + pad_h) * pw + j + pad_w] = x[((long)c * h + i) * w + j];
}
"""#,
        "topiary_pool": #"""
/* Max (maximum != 0) or mean over each kernel window of (planes, h, w), no padding. */
static void topiary_pool(int planes, int h, int w, int kh, int kw, int sh, int sw, int oh, int ow, int maximum,
                         const float *x, float *y) {
    float scale = 1.0f / (float)(kh * kw);
    for (int p = 0; p < planes; p++) {
        for (int oy = 0; oy < oh; oy++) {
            for (int ox = 0; ox < ow; ox++) {
                float value = maximum ? -INFINITY : 0.0f;
                for (int ky = 0; ky < kh; ky++) {
                    const float *row = x + ((long)p * h + oy * sh + ky) * w + ox * sw;
                    for (int kx = 0; kx < kw; kx++) value = maximum ? (row[kx] > value ? row[kx] : value) : value + row[kx];
                }
                y[((long)p * oh + oy) * ow + ox] = maximum ? value : value * scale;
            }
        }
    }
}
"""#,
        "topiary_global_average": #"""
/* (planes, spatial) -> (planes): the mean of each plane. */
static void topiary_global_average(int planes, int spatial, const float *x, float *y) {
    for (int p = 0; p < planes; p++) {
        float sum = 0.0f;
        for (int i = 0; i < spatial; i++) sum += x[(long)p * spatial + i];
        y[p] = sum / (float)spatial;
    }
}
"""#,
        "topiary_channel_affine": #"""
/* In place, per channel of (channels, spatial): x * scale[c] + shift[c]. */
static void topiary_channel_affine(int channels, int spatial, const float *scale, const float *shift, float *x) {
    for (int c = 0; c < channels; c++)
        for (int i = 0; i < spatial; i++) x[(long)c * spatial + i] = x[(long)c * spatial + i] * scale[c] + shift[c];
}
"""#,
        "topiary_gather": #"""
/* y[i] = x[index[i]]: the inputs a compacted first layer still reads. */
static void topiary_gather(int count, const topiary_col_t *index, const float *x, float *y) {
    for (int i = 0; i < count; i++) y[i] = x[index[i]];
}
"""#,
    ]

    /// In-place activations other than a fused ReLU, by Topiary's activation name (libm
    /// functions: results may differ in the last bit between C libraries).
    static func activation(_ name: String) -> String? {
        let body: String
        switch name {
        case "relu": body = "x[i] = x[i] < 0.0f ? 0.0f : x[i];"
        case "tanh": body = "x[i] = tanhf(x[i]);"
        case "silu": body = "x[i] = x[i] / (1.0f + expf(-x[i]));"
        case "gelu": body = "x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));"
        case "gelu_tanh": body = "x[i] = 0.5f * x[i] * (1.0f + tanhf(0.79788456080286536f * (x[i] + 0.044715f * x[i] * x[i] * x[i])));"
        default: return nil
        }
        return "static void topiary_\(name)(int count, float *x) { for (int i = 0; i < count; i++) \(body) }\n"
    }
}
