import CTopiaryKernels
import TopiaryTensor

/// One attention head's causal core over flat strided buffers, in blocks of query rows
/// (`CausalSelfAttention.causalRowBlocks`): a block's score and value GEMMs read only the keys
/// its rows can see. GPT-2's attention, Llama's grouped-query attention and the KV cache's
/// attention all run it.
///
/// Legend: n query rows at positions p0 ..< p0 + n, attending to keys 0 ..< p0 + n; hs the
/// head size; ldq, ldkv, ldw, ldo the row strides (floats) of queries, keys and values,
/// weights and outputs.
public enum CausalAttentionHead {
    /// weights row i = softmax over keys ≤ p0 + i of scale·q_i·k (max subtracted first), zero
    /// after them through `zeroedLength` (nil: through the block's last key); out row i =
    /// Σ_s weights[i, s]·v_s.
    public static func forward(rows n: Int, start p0: Int = 0, headSize hs: Int, scale: Float,
                        query: UnsafePointer<Float>, ldq: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>, ldkv: Int,
                        weights: UnsafeMutablePointer<Float>, ldw: Int, zeroedLength: Int? = nil,
                        into out: UnsafeMutablePointer<Float>, ldo: Int) {
        for rows in CausalSelfAttention.causalRowBlocks(n) {
            let (r0, m, live) = (rows.lowerBound, rows.count, p0 + rows.upperBound)
            stridedMatmul(m: m, n: live, k: hs, alpha: scale, query + r0 * ldq, lda: ldq, key, ldb: ldkv, transposeB: true,
                          into: weights + r0 * ldw, ldc: ldw)
            for i in rows { CausalSelfAttention.causalSoftmax(weights + i * ldw, live: p0 + i + 1, length: zeroedLength ?? live) }
            stridedMatmul(m: m, n: hs, k: live, weights + r0 * ldw, lda: ldw, value, ldb: ldkv, into: out + r0 * ldo, ldc: ldo)
        }
    }

    /// The backward of `forward` over a whole window (p0 = 0, n = T), from its weights (T × T,
    /// ld T) and the output gradient: per block dA = dOut·Vᵀ, dV += Aᵀ·dOut, dZ = A ⊙ (dA −
    /// rowsum(A ⊙ dA))·scale (in `scratch`, T × T; zero above the diagonal since A is), dQ =
    /// dZ·K (written: each row once), dK += dZᵀ·Q. dQ shares the queries' stride, dK and dV
    /// the keys'.
    public static func backward(positions T: Int, headSize hs: Int, scale: Float,
                         query: UnsafePointer<Float>, ldq: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>, ldkv: Int,
                         weights a: UnsafePointer<Float>, outputGradient dOut: UnsafePointer<Float>, ldo: Int,
                         scratch: UnsafeMutablePointer<Float>, queryGradient dQuery: UnsafeMutablePointer<Float>,
                         keyGradient dKey: UnsafeMutablePointer<Float>, valueGradient dValue: UnsafeMutablePointer<Float>) {
        for rows in CausalSelfAttention.causalRowBlocks(T) {
            let (r0, m, live) = (rows.lowerBound, rows.count, rows.upperBound)
            let (aRows, dZRows, dOutRows) = (a + r0 * T, scratch + r0 * T, dOut + r0 * ldo)
            stridedMatmul(m: m, n: live, k: hs, dOutRows, lda: ldo, value, ldb: ldkv, transposeB: true, into: dZRows, ldc: T)
            stridedMatmul(m: live, n: hs, k: m, aRows, lda: T, transposeA: true, dOutRows, ldb: ldo, beta: 1, into: dValue, ldc: ldkv)
            for t in rows { topiary_causal_softmax_backward_row(t + 1, T, a + t * T, scratch + t * T, scale) }
            stridedMatmul(m: m, n: hs, k: live, dZRows, lda: T, key, ldb: ldkv, into: dQuery + r0 * ldq, ldc: ldq)
            stridedMatmul(m: live, n: hs, k: m, dZRows, lda: T, transposeA: true, query + r0 * ldq, ldb: ldq, beta: 1, into: dKey, ldc: ldkv)
        }
    }
}
