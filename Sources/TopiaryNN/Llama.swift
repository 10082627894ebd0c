import Foundation
import TopiaryTensor

/// The shape of a Llama-family model (SmolLM, TinyLlama, Qwen-like), as Hugging Face's
/// `LlamaConfig` or a GGUF's `llama.*` metadata give it.
public struct LlamaConfiguration: Sendable, Equatable, Codable {
    public var vocabulary: Int
    /// Positions a training or evaluation window holds (T); rotary embeddings need no table
    /// of this size, so it may be below the model's trained context.
    public var context: Int
    public var layers: Int
    public var heads: Int
    public var keyValueHeads: Int
    /// Width of the residual stream (C).
    public var channels: Int
    /// Width of the SwiGLU hidden layer (I).
    public var intermediate: Int
    public var ropeTheta: Float
    public var normEpsilon: Float
    /// The output head is the token embedding (SmolLM2) or its own matrix.
    public var tiedHead: Bool

    public init(vocabulary: Int, context: Int, layers: Int, heads: Int, keyValueHeads: Int, channels: Int, intermediate: Int,
                ropeTheta: Float = 10_000, normEpsilon: Float = 1e-5, tiedHead: Bool = true) {
        (self.vocabulary, self.context, self.layers, self.heads, self.keyValueHeads) = (vocabulary, context, layers, heads, keyValueHeads)
        (self.channels, self.intermediate, self.ropeTheta, self.normEpsilon, self.tiedHead) = (channels, intermediate, ropeTheta, normEpsilon, tiedHead)
    }

    public var headSize: Int { channels / heads }

    /// Sizes that cannot make a model, as a sentence; nil when they can.
    public var problem: String? {
        if [vocabulary, context, layers, heads, keyValueHeads, channels, intermediate].contains(where: { $0 < 1 }) {
            return "needs positive sizes, got \(self)"
        }
        if channels % heads != 0 { return "width \(channels) does not divide into \(heads) heads" }
        if heads % keyValueHeads != 0 { return "\(heads) query heads do not share \(keyValueHeads) key/value heads evenly" }
        if headSize % 2 != 0 { return "rotary embeddings need an even head size, got \(headSize)" }
        if !(ropeTheta > 1) || !(normEpsilon > 0) { return "needs rope theta > 1 and norm epsilon > 0, got \(ropeTheta) and \(normEpsilon)" }
        return nil
    }

    /// Parameters, embedding (and an untied head) included.
    public var parameterCount: Int {
        let kv = keyValueHeads * headSize
        let block = 2 * channels * channels + 2 * channels * kv + 3 * channels * intermediate + 2 * channels
        return vocabulary * channels * (tiedHead ? 1 : 2) + layers * block + channels
    }
}

extension Sequential {
    /// A Llama model over (B, T) token ids held as floats, giving (B, T, V) logits, with
    /// Hugging Face's module names (so its safetensors files load by name):
    ///
    ///     model.embed_tokens (V, C)
    ///     model.layers.i: x += self_attn(input_layernorm(x))            (RoPE, GQA)
    ///                     x += mlp(post_attention_layernorm(x))         (SwiGLU)
    ///     model.norm, then lm_head (tied: x · embed_tokensᵀ)
    ///
    /// Initialised as HF's `LlamaPreTrainedModel`: matrices and embedding N(0, 0.02), RMSNorm
    /// gains 1 (a model is normally loaded from a file instead). Prunable: every block's
    /// q/k/v/o and gate/up/down projections; not the embedding, the norms or the head.
    /// `initialize: false` skips the random draws (seconds for 100 M weights) for a model
    /// whose weights are loaded next.
    public static func llama(_ configuration: LlamaConfiguration, generator: inout SeededGenerator, initialize: Bool = true) throws -> Sequential {
        let c = configuration
        if let problem = c.problem { throw ModelError.invalid(layer: "llama", problem: problem) }
        let tokens = Embedding(name: "model.embed_tokens", count: c.vocabulary, features: c.channels)
        var layers: [any Layer] = [tokens]
        for block in 0..<c.layers {
            layers.append(Residual(name: "model.layers.\(block)", body: [
                RMSNorm(name: "input_layernorm", features: c.channels, epsilon: c.normEpsilon),
                GroupedQueryAttention(name: "self_attn", channels: c.channels, heads: c.heads, keyValueHeads: c.keyValueHeads,
                                      ropeTheta: c.ropeTheta)]))
            layers.append(Residual(name: "model.layers.\(block)", body: [
                RMSNorm(name: "post_attention_layernorm", features: c.channels, epsilon: c.normEpsilon),
                GatedMLP(name: "mlp", channels: c.channels, intermediate: c.intermediate)]))
        }
        layers.append(RMSNorm(name: "model.norm", features: c.channels, epsilon: c.normEpsilon))
        if c.tiedHead {
            layers.append(TiedEmbeddingHead(name: "lm_head", tiedTo: tokens))
        } else {
            let head = Linear(name: "lm_head", inFeatures: c.channels, outFeatures: c.vocabulary, bias: false)
            head.offersPruning = false
            layers.append(head)
        }
        let model = try Sequential(inputShape: [c.context], layers: layers, generator: &generator, initialize: initialize)
        model.summary = "llama(\(c.layers) blocks, width \(c.channels), heads \(c.heads)/\(c.keyValueHeads) kv, SwiGLU \(c.intermediate), vocabulary \(c.vocabulary), \(c.tiedHead ? "tied" : "untied") head)"
        if initialize { for parameter in model.parameters where parameter.shape.count == 2 { generator.fillNormal(parameter.value, deviation: 0.02) } }
        return model
    }
}
