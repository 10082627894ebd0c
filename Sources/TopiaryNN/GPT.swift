import Foundation
import TopiaryTensor

/// The shape of a GPT-2-style language model (nanoGPT's `GPTConfig`).
public struct GPTConfiguration: Sendable, Equatable, Codable {
    /// Tokens in the vocabulary (256 for byte-level text).
    public var vocabulary: Int
    /// Positions a window holds (T); the learned position table has this many rows.
    public var context: Int
    /// Transformer blocks (L).
    public var layers: Int
    /// Attention heads per block (NH); `channels` must be a multiple.
    public var heads: Int
    /// Width of the residual stream (C).
    public var channels: Int
    /// µP with this base width (nil: GPT-2's standard parametrization).
    public var maximalUpdate: MaximalUpdate?

    public init(vocabulary: Int = 256, context: Int, layers: Int, heads: Int, channels: Int, maximalUpdate: MaximalUpdate? = nil) {
        (self.vocabulary, self.context, self.layers, self.heads, self.channels) = (vocabulary, context, layers, heads, channels)
        self.maximalUpdate = maximalUpdate
    }

    /// W3's model: 4 blocks of 4 heads, 128 wide, context 128, bytes (0.84 M parameters).
    public static let w3 = GPTConfiguration(context: 128, layers: 4, heads: 4, channels: 128)
}

extension GPTConfiguration {
    /// FLOPs of the matrix products in one training step over `batch` windows of `context`
    /// positions: per position the forward does 2 · 12C² per block (qkv 3C², proj C², fc and
    /// mlp.proj 4C² each), 2·V·C in the tied head, and per block attention's q·k and a·v,
    /// 2C FLOPs each for every pair s ≤ t of a window; the backward does each
    /// product twice (input and weight gradients; dA, dV, dQ, dK in attention). Elementwise
    /// work (norms, GELU, softmax, loss, AdamW) is not counted: this is the step's floor at
    /// a given GEMM rate, not its cost.
    public func trainingMatrixFLOPs(batch: Int) -> Int {
        let (C, T, L) = (channels, context, layers)
        let matrices = T * 2 * (12 * C * C * L + vocabulary * C)
        let attention = L * 4 * C * (T * (T + 1) / 2)   // (t, s ≤ t) pairs of a window
        return 3 * batch * (matrices + attention)
    }
}

extension Sequential {
    /// A GPT-2 model over (B, T) token ids held as floats, giving (B, T, V) logits:
    ///
    ///     wte (V, C) + wpe (T, C)
    ///     blocks.i: x += attn(ln_1(x)); x += mlp.proj(gelu(mlp.fc(ln_2(x))))   (pre-LayerNorm)
    ///     ln_f, then logits = x · wteᵀ                                          (tied head)
    ///
    /// Initialised as GPT-2 (and the W3 reference): every matrix and embedding N(0, 0.02), the
    /// residual projections `attn.proj` and `mlp.proj` N(0, 0.02/√(2L)) so the residual stream's
    /// variance does not grow with depth, biases 0, LayerNorm gains 1. Prunable matrices:
    /// `blocks.i.attn.qkv`, `attn.proj`, `mlp.fc`, `mlp.proj`; embeddings, norms and biases not.
    public static func gpt(_ configuration: GPTConfiguration, generator: inout SeededGenerator) throws -> Sequential {
        let c = configuration
        guard c.vocabulary >= 1, c.context >= 1, c.layers >= 1, c.heads >= 1, c.channels >= 1, c.channels % c.heads == 0 else {
            throw ModelError.invalid(layer: "gpt", problem: "needs positive sizes and channels divisible by heads, got \(c)")
        }
        // µP (`MaximalUpdate`): m = C / base width; attention logits × √(base hs)/hs.
        let m = c.maximalUpdate?.multiplier(width: c.channels) ?? 1
        let scoreScale = c.maximalUpdate.map { (Float($0.baseWidth) / Float(c.heads)).squareRoot() / Float(c.channels / c.heads) }
        let tokens = Embedding(name: "wte", count: c.vocabulary, features: c.channels)
        var layers: [any Layer] = [tokens, PositionEmbedding(name: "wpe", context: c.context, features: c.channels)]
        for block in 0..<c.layers {
            layers.append(Residual(name: "blocks.\(block)", body: [
                LayerNorm(name: "ln_1", features: c.channels),
                CausalSelfAttention(name: "attn", channels: c.channels, heads: c.heads, scoreScale: scoreScale)]))
            layers.append(Residual(name: "blocks.\(block)", body: [
                LayerNorm(name: "ln_2", features: c.channels), Linear(name: "mlp.fc", inFeatures: c.channels, outFeatures: 4 * c.channels),
                ActivationLayer(name: "mlp.gelu", .gelu), Linear(name: "mlp.proj", inFeatures: 4 * c.channels, outFeatures: c.channels)]))
        }
        layers.append(LayerNorm(name: "ln_f", features: c.channels))
        // µP's output multiplier: the tied head's logits × 1/m (folded into ln_f for inference).
        if c.maximalUpdate != nil { layers.append(Scale(name: "logit_scale", factor: 1 / m)) }
        layers.append(TiedEmbeddingHead(name: "lm_head", tiedTo: tokens))
        let model = try Sequential(inputShape: [c.context], layers: layers, generator: &generator)
        let residualScale = 0.02 / Float(2 * c.layers).squareRoot()
        var hidden: [Parameter] = []
        for parameter in model.parameters {
            switch parameter.role {
            case .bias: parameter.value.fill(0)
            case .weight where parameter.shape.count == 2:
                let isHidden = parameter.name.hasPrefix("blocks.")
                var deviation: Float = parameter.name.hasSuffix("attn.proj.weight") || parameter.name.hasSuffix("mlp.proj.weight") ? residualScale : 0.02
                // µP hidden matrices: std ∝ 1/√fan-in, i.e. GPT-2's at the base width.
                if isHidden && c.maximalUpdate != nil {
                    deviation /= m.squareRoot()
                    hidden.append(parameter)
                }
                generator.fillNormal(parameter.value, deviation: deviation)
            default: break   // LayerNorm gains keep 1, shifts 0
            }
        }
        MaximalUpdate.scaleLearningRates(of: hidden, multiplier: m)
        return model
    }
}
