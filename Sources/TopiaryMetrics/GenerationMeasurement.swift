import TopiaryInference
import TopiaryTensor

/// What generating text costs a language model in each engine at batch 1: tokens per second
/// with the KV cache, the cache's bytes, FLOPs per token with attention counted, and the
/// greedy continuation of one prompt, so a reader sees what the model has become.
public struct GenerationMeasurement: Sendable {
    public var promptTokens: Int
    public var newTokens: Int
    /// Per engine: new tokens ÷ wall-clock seconds of the whole generation (the prompt's
    /// pass included), median over the timed generations.
    public var tokensPerSecond: [String: Double] = [:]
    /// Keys and values of every layer at batch 1 over the whole context, Float32 (the dense
    /// model's: engines other than compact keep every head).
    public var kvCacheBytes: Int
    /// FLOPs per generated token: 2 × weights of every matrix (dense) or surviving weights
    /// (effective), a tied head 2·V·C (an untied one is a matrix), and attention 4·NH·hs·L per
    /// layer for the L positions a token attends to, averaged over positions 1 … context.
    /// The compact engine's cache: smaller once whole heads are pruned (nil: not measured).
    public var compactKVCacheBytes: Int?
    public var flopsPerTokenDense: Int
    public var flopsPerTokenEffective: Int
    /// The greedy continuation under the dense engine (new tokens only).
    public var greedyTokens: [Int]

    /// Times `repetitions` generations of `newTokens` after `prompt` per model (in turns, so
    /// drift hits all alike); `models` by engine name, "dense" among them.
    public static func measure(_ models: [(String, InferenceModel)], prompt: [Int], newTokens: Int,
                               repetitions: Int) -> GenerationMeasurement? {
        guard let dense = models.first(where: { $0.0 == "dense" })?.1, let context = dense.context else { return nil }
        let shape = dense.transformerShape
        let attentionWidth = shape.attentionWidths.reduce(0, +)   // Σ over blocks
        let attentionFLOPs = 4 * attentionWidth * (context + 1) / 2
        let headFLOPs = dense.program.tiedHeadFLOPsPerPosition
        let matrices = dense.program.flopsPerPosition
        var result = GenerationMeasurement(
            promptTokens: prompt.count, newTokens: newTokens,
            kvCacheBytes: KVCache.bytes(layers: 1, batch: 1, context: context, channels: shape.keyValueWidths.reduce(0, +)),
            flopsPerTokenDense: matrices.dense + headFLOPs + attentionFLOPs,
            flopsPerTokenEffective: matrices.effective + headFLOPs + attentionFLOPs,
            greedyTokens: dense.generate(prompt: prompt, count: newTokens, sampling: .greedy))
        if let compact = models.first(where: { $0.0 == "compact" })?.1 {
            result.compactKVCacheBytes = KVCache.bytes(layers: 1, batch: 1, context: context, channels: compact.transformerShape.keyValueWidths.reduce(0, +))
        }
        guard newTokens > 0 else { return result }
        // One untimed generation each first: caches and buffers are allocated on first use.
        for (_, model) in models { _ = model.generate(prompt: prompt, count: min(newTokens, 8), sampling: .greedy) }
        var seconds = [[Double]](repeating: [], count: models.count)
        for _ in 0..<repetitions {
            for (index, (_, model)) in models.enumerated() {
                let start = monotonicNanoseconds()
                _ = model.generate(prompt: prompt, count: newTokens, sampling: .greedy)
                seconds[index].append(Double(monotonicNanoseconds() - start) / 1e9)
            }
        }
        for ((engine, _), times) in zip(models, seconds) {
            result.tokensPerSecond[engine] = Double(newTokens) / times.sorted()[times.count / 2]
        }
        return result
    }
}
