import TopiaryNN
import TopiaryTensor

/// One attention layer's keys and values for the positions a generation has seen, so each
/// new token costs one row of projections and one pass over the cache instead of the whole
/// window again. Layout (B, NKV, context, hs) for both, NKV the key/value heads (all heads
/// for GPT-2, fewer with grouped-query attention): a head's keys are one contiguous
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

    /// Bytes of the caches a whole model needs: 2 (k, v) × layers × B × context × width × 4,
    /// width the key/value heads' NKV·hs (C for GPT-2).
    public static func bytes(layers: Int, batch: Int, context: Int, channels: Int) -> Int {
        2 * layers * batch * context * channels * 4
    }

    /// Where the new positions' projections are: rows of (B, n, ·) with the given strides
    /// (floats from one position's row to the next), head h at columns h·hs of each.
    struct NewPositions {
        let queries: UnsafePointer<Float>, queryStride: Int, queryHeads: Int
        let keys: UnsafePointer<Float>, values: UnsafePointer<Float>, keyValueStride: Int
        let count: Int

        /// GPT-2's fused projection: (B, n, 3C) rows [q | k | v], as many query as key/value heads.
        static func fused(_ qkv: UnsafePointer<Float>, heads: Int, headSize: Int, count: Int) -> NewPositions {
            let channels = heads * headSize
            return NewPositions(queries: qkv, queryStride: 3 * channels, queryHeads: heads, keys: qkv + channels,
                                values: qkv + 2 * channels, keyValueStride: 3 * channels, count: count)
        }
    }

    /// Causal attention of n new positions p₀ ..< p₀ + n against everything cached.
    ///
    /// - new: the n positions' queries (NH heads) and keys and values (this cache's NKV
    ///   heads); query head h reads key/value head h / (NH/NKV) (grouped-query attention;
    ///   NH = NKV is ordinary multi-head attention).
    /// - out: (B, n, NH·hs), head h's result at columns h·hs ..< (h+1)·hs.
    /// - scratch: at least `workers` · n · (p₀ + n) floats, one head's score rows per worker.
    /// - workers: how many (sample, head) pairs run at once (each with single-threaded GEMMs);
    ///   worth it for a prompt's pass, not for one new token.
    ///
    /// Appends the new keys and values at rows p₀ ..< p₀ + n, then per (b, h):
    /// S = Q·Kᵀ/√hs over the L = p₀ + n cached rows, row i softmaxed over its first p₀ + i + 1
    /// entries (position p₀ + i sees itself and the past), out = S·V. With p₀ = 0 and n = T this
    /// is exactly the training forward (`CausalSelfAttention.attend`, `GroupedQueryAttention`).
    func attend(_ new: NewPositions, start p0: Int, into out: UnsafeMutablePointer<Float>,
                scratch: UnsafeMutablePointer<Float>, workers: Int = 1) {
        let n = new.count
        require(p0 >= 0 && n >= 1 && p0 + n <= context, "KV cache of \(context) positions cannot take \(n) after \(p0)")
        require(new.queryHeads >= heads && new.queryHeads % heads == 0,
                "\(new.queryHeads) query heads cannot share \(heads) key/value heads evenly")
        let hs = headSize, length = p0 + n, group = new.queryHeads / heads, outStride = new.queryHeads * hs
        let scale = 1 / Float(hs).squareRoot()
        let (keys, values) = (keys.pointer, values.pointer)
        for b in 0..<batch {
            for h in 0..<heads {
                let block = (b * heads + h) * context * hs
                for i in 0..<n {
                    let row = (b * n + i) * new.keyValueStride + h * hs
                    (keys + block + (p0 + i) * hs).update(from: new.keys + row, count: hs)
                    (values + block + (p0 + i) * hs).update(from: new.values + row, count: hs)
                }
            }
        }
        CausalSelfAttention.forEachHead(batch: batch, heads: new.queryHeads, workers: workers) { worker, b, h in
            let block = (b * heads + h / group) * context * hs
            CausalAttentionHead.forward(rows: n, start: p0, headSize: hs, scale: scale, query: new.queries + b * n * new.queryStride + h * hs,
                                        ldq: new.queryStride, key: keys + block, value: values + block, ldkv: hs,
                                        weights: scratch + worker * n * length, ldw: length, into: out + b * n * outStride + h * hs, ldo: outStride)
        }
    }
}
