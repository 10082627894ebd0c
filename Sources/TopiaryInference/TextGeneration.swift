import Foundation
import TopiaryTensor

/// How the next token is picked from a position's logits.
public enum Sampling: Sendable, Equatable {
    /// The most likely token (the lowest id among equals): deterministic.
    case greedy
    /// A draw from softmax(logits / temperature) restricted to the `topK` most likely tokens
    /// (all when nil), from a generator seeded with `seed`: the same seed, the same text.
    case sample(temperature: Float, topK: Int?, seed: UInt64)

    /// Nil when valid, else what is wrong.
    public var problem: String? {
        guard case .sample(let temperature, let topK, _) = self else { return nil }
        if !(temperature.isFinite && temperature > 0) { return "temperature must be a finite number above 0, got \(temperature)" }
        if let topK, topK < 1 { return "top-k must be at least 1, got \(topK)" }
        return nil
    }
}

/// Picks tokens from logits rows under one `Sampling`.
public struct TokenSampler: Sendable {
    public let sampling: Sampling
    private var generator: SeededGenerator

    public init(_ sampling: Sampling) {
        precondition(sampling.problem == nil, sampling.problem ?? "")
        self.sampling = sampling
        if case .sample(_, _, let seed) = sampling { generator = SeededGenerator(seed: seed, stream: "sampling") } else {
            generator = SeededGenerator(seed: 0)
        }
    }

    /// The next token from one position's logits (V values).
    public mutating func next(_ logits: UnsafeBufferPointer<Float>) -> Int {
        switch sampling {
        case .greedy:
            var best = 0
            for v in 1..<logits.count where logits[v] > logits[best] { best = v }
            return best
        case .sample(let temperature, let topK, _):
            // Candidates by falling logit (ties: lower id first), cut to k, then a softmax draw.
            var order = Array(0..<logits.count)
            order.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
            if let topK { order = Array(order.prefix(topK)) }
            let top = logits[order[0]]
            let weights = order.map { Double(exp((logits[$0] - top) / temperature)) }
            var draw = Double(generator.nextUnitFloat()) * weights.reduce(0, +)
            for (candidate, weight) in zip(order, weights) {
                draw -= weight
                if draw < 0 { return candidate }
            }
            return order[weights.lastIndex { $0 > 0 } ?? 0]
        }
    }
}

extension InferenceModel {
    /// `count` tokens continuing `prompt` at batch 1 with the KV cache: one pass over the
    /// prompt (its last `context` tokens when longer), then one position per new token.
    ///
    /// Learned absolute positions cannot slide a cache, so when the window is full the last
    /// ⌈context / 2⌉ tokens are fed again from position 0 and generation goes on from there
    /// (the model always sees between half a window and a whole one of the recent text).
    /// `referenceWindow` states that rule for checks against a model without a cache.
    public func generate(prompt: [Int], count: Int, sampling: Sampling) -> [Int] {
        guard let context else { preconditionFailure("generation needs a model with positions") }
        require(!prompt.isEmpty, "generation needs a prompt of at least one token")
        require(count >= 0, "cannot generate \(count) tokens")
        var sampler = TokenSampler(sampling)
        var sequence = prompt
        var produced: [Int] = []
        startGeneration(batch: 1)
        var logits = extendLast(Array(sequence.suffix(context)))
        while produced.count < count {
            let next = sampler.next(logits)
            produced.append(next)
            sequence.append(next)
            guard produced.count < count else { break }
            if cachedPositions == context {
                startGeneration(batch: 1)
                logits = extendLast(Array(sequence.suffix(InferenceModel.restartLength(context: context))))
            } else {
                logits = extendLast([next])
            }
        }
        return produced
    }

    /// Tokens fed again when a generation's window is full.
    public static func restartLength(context: Int) -> Int { (context + 1) / 2 }

    /// The window a cache-free model must read to predict the token after `sequence` (whose
    /// first `promptCount` tokens are the prompt) under `generate`'s rule.
    public static func referenceWindow(_ sequence: [Int], promptCount: Int, context: Int) -> ArraySlice<Int> {
        let first = min(promptCount, context)
        var length = first + (sequence.count - promptCount)   // positions a cache would hold
        let restart = restartLength(context: context)
        while length > context { length -= context + 1 - restart }   // a full window becomes the restart
        return sequence.suffix(length)
    }

    /// The logits of the last of `tokens` after feeding them all.
    private func extendLast(_ tokens: [Int]) -> UnsafeBufferPointer<Float> {
        let logits = extend(Tensor(shape: [1, tokens.count], values: tokens.map(Float.init)))
        let vocabulary = logits.shape[2]
        return UnsafeBufferPointer(start: logits.pointer + (tokens.count - 1) * vocabulary, count: vocabulary)
    }
}
