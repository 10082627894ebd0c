import TopiaryNN
import TopiaryTensor

/// One attention layer's keys and values for the positions a generation has seen, so each
/// new token costs one row of projections and one pass over the cache instead of the whole
/// window again. Layout (B, NH, context, hs) for both: a head's keys are one contiguous
/// (positions, hs) block, which the score GEMM reads with stride hs.
public final class KVCache: @unchecked Sendable {
    public let batch: Int, heads: Int, context: Int, headSize: Int
    let keys: Tensor
    let values: Tensor

    public init(batch: Int, heads: Int, context: Int, headSize: Int) {
        (self.batch, self.heads, self.context, self.headSize) = (batch, heads, context, headSize)
        keys = Tensor(zeros: [batch, heads, context, headSize])
        values = Tensor(zeros: [batch, heads, context, headSize])
    }

    /// Float32 bytes of keys and values.
    public var bytes: Int { 4 * (keys.count + values.count) }

    /// Bytes of the caches a whole model needs: 2 (k, v) × layers × B × context × C × 4.
    public static func bytes(layers: Int, batch: Int, context: Int, channels: Int) -> Int {
        2 * layers * batch * context * channels * 4
    }

    /// Causal attention of n new positions p₀ ..< p₀ + n against everything cached.
    ///
    /// - qkv: (B, n, 3C) projections of the new positions, [q | k | v] per row, head h at
    ///   columns h·hs ..< (h+1)·hs of each third.
    /// - out: (B, n, C), head h's result at columns h·hs ..< (h+1)·hs.
    /// - scratch: at least `workers` · n · (p₀ + n) floats, one head's score rows per worker.
    /// - workers: how many (sample, head) pairs run at once (each with single-threaded GEMMs);
    ///   worth it for a prompt's pass, not for one new token.
    ///
    /// Appends the new keys and values at rows p₀ ..< p₀ + n, then per (b, h):
    /// S = Q·Kᵀ/√hs over the L = p₀ + n cached rows, row i softmaxed over its first p₀ + i + 1
    /// entries (position p₀ + i sees itself and the past), out = S·V. With p₀ = 0 and n = T this
    /// is exactly the training forward (`CausalSelfAttention.attend`).
    func attend(qkv: UnsafePointer<Float>, newPositions n: Int, start p0: Int, into out: UnsafeMutablePointer<Float>,
                scratch: UnsafeMutablePointer<Float>, workers: Int = 1) {
        require(p0 >= 0 && n >= 1 && p0 + n <= context, "KV cache of \(context) positions cannot take \(n) after \(p0)")
        let hs = headSize, channels = heads * hs, rowStride = 3 * channels, length = p0 + n
        let scale = 1 / Float(hs).squareRoot()
        CausalSelfAttention.forEachHead(batch: batch, heads: heads, workers: workers) { worker, b, h in
            let scratch = scratch + worker * n * length
            let block = (b * heads + h) * context * hs
            let cachedKeys = keys.pointer + block, cachedValues = values.pointer + block
            for i in 0..<n {
                let row = qkv + (b * n + i) * rowStride + h * hs
                (cachedKeys + (p0 + i) * hs).update(from: row + channels, count: hs)
                (cachedValues + (p0 + i) * hs).update(from: row + 2 * channels, count: hs)
            }
            let query = qkv + b * n * rowStride + h * hs
            stridedMatmul(m: n, n: length, k: hs, alpha: scale, query, lda: rowStride, cachedKeys, ldb: hs, transposeB: true,
                          into: scratch, ldc: length)
            for i in 0..<n { CausalSelfAttention.causalSoftmax(scratch + i * length, live: p0 + i + 1, length: length) }
            stridedMatmul(m: n, n: hs, k: length, scratch, lda: length, cachedValues, ldb: hs,
                          into: out + b * n * channels + h * hs, ldc: channels)
        }
    }
}
