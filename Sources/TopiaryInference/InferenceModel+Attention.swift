import TopiaryNN
import TopiaryTensor

/// The attention steps of a transformer program: GPT-2's fused qkv and Llama's separate,
/// rotary projections, both attending through a KV cache (a generation's, or one a whole
/// window fills and reads once).
extension InferenceModel {
    /// (B, n, C) → (B, n, C): the qkv matrix, causal attention of the n positions against
    /// the cache (a generation's, or a fresh one for a whole window), the proj matrix.
    func attention(qkv: Int, proj: Int, heads: Int, _ flow: Flow) -> Flow {
        // The attention's own width: C, or fewer once compaction dropped heads.
        let channels = program.matrices[qkv].rows / 3
        let projected = batchMajor(linear(qkv, flow))               // (B·n, 3C)
        let positions = projected.count / (batch * 3 * max(channels, 1))
        let mixed = attend(cacheKey: qkv, .fused(projected.pointer, heads: heads, headSize: channels / max(heads, 1), count: positions))
        return linear(proj, Flow(tensor: mixed, featureMajor: false))
    }

    /// (B, n, C) → (B, n, C): q, k, v projections, q and k rotated to their absolute positions
    /// (p₀ + i), grouped-query attention against the cache, the output projection.
    func groupedAttention(_ attention: GroupedAttentionStep, _ flow: Flow) -> Flow {
        let x = Flow(tensor: batchMajor(flow), featureMajor: false)
        let (queryWidth, keyValueWidth) = (attention.heads * attention.headSize, attention.keyValueHeads * attention.headSize)
        let q = batchMajor(linear(attention.query, x)), k = batchMajor(linear(attention.key, x)), v = batchMajor(linear(attention.value, x))
        let rows = q.count / queryWidth, positions = rows / batch
        require(positionOffset + positions <= attention.rotary.preparedPositions,
                "positions \(positionOffset) ..< \(positionOffset + positions) exceed the context of \(attention.rotary.preparedPositions)")
        for row in 0..<rows {
            let position = positionOffset + row % positions
            attention.rotary.rotate(q.pointer + row * queryWidth, heads: attention.heads, position: position)
            attention.rotary.rotate(k.pointer + row * keyValueWidth, heads: attention.keyValueHeads, position: position)
        }
        let new = KVCache.NewPositions(queries: q.pointer, queryStride: queryWidth, queryHeads: attention.heads, keys: k.pointer,
                                       values: v.pointer, keyValueStride: keyValueWidth, count: positions)
        let mixed = attend(cacheKey: attention.query, new)
        return linear(attention.output, Flow(tensor: mixed, featureMajor: false))
    }

    /// (B, n, NH·hs): the new positions attending causally to the cache named `cacheKey` (a
    /// generation's, or one a whole window fills and reads once).
    func attend(cacheKey: Int, _ new: KVCache.NewPositions) -> Tensor {
        let cache: KVCache
        if generating {
            cache = generationCaches[cacheKey]!
            require(cache.batch == batch, "a generation of \(cache.batch) sequences was fed \(batch)")
        } else {
            windowCaches = caches(batch: batch, context: new.count, reusing: windowCaches)
            cache = windowCaches[cacheKey]!
        }
        let mixed = buffer([batch, new.count, new.queryHeads * cache.headSize])
        // Heads in parallel when there is a window's worth of work (not for one new token).
        let workers = batch * new.count >= 16 ? max(1, BLASRuntime.threadCount) : 1
        let scratch = buffer([workers * new.count * (positionOffset + new.count)])
        cache.attend(new, start: positionOffset, into: mixed.pointer, scratch: scratch.pointer, workers: workers)
        return mixed
    }

}
