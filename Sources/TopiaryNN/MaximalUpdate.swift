import TopiaryTensor

/// µP, the Maximal Update parametrization (Yang & Hu, Tensor Programs IV/V): hyperparameters
/// tuned on a model of `baseWidth` carry over to any width, because every layer's activations
/// and updates keep their size as the width grows. With m = width / baseWidth, for Adam(W):
///
/// | parameter | example | init | Adam learning rate | forward |
/// |---|---|---|---|---|
/// | input (fan-in fixed) | first Linear, wte, wpe | as standard | × 1 | as standard |
/// | hidden (fan-in and fan-out ∝ width) | fc2, qkv, attn.proj, mlp.fc, mlp.proj | std ∝ 1/√fan-in | × 1/m | as standard |
/// | output (fan-in ∝ width) | the last Linear, the tied head | as standard | × 1 | logits × 1/m |
/// | vectors | biases, norm gains | as standard | × 1 | as standard |
///
/// and attention logits q·k × √(base hs)/hs instead of 1/√hs (∝ 1/hs, equal to GPT-2's at
/// the base width). At the base width the model is the standard one, so a learning rate tuned
/// there means the same thing in both parametrizations.
public struct MaximalUpdate: Sendable, Equatable, Codable {
    public let baseWidth: Int

    public init(baseWidth: Int) {
        require(baseWidth >= 1, "µP's base width must be >= 1, got \(baseWidth)")
        self.baseWidth = baseWidth
    }

    /// m = width / baseWidth.
    public func multiplier(width: Int) -> Float { Float(width) / Float(baseWidth) }

    /// Hidden weights learn at 1/m of the base learning rate.
    public static func scaleLearningRates(of hidden: [Parameter], multiplier m: Float) {
        for parameter in hidden { parameter.flags.learningRateScale = 1 / m }
    }
}

extension Sequential {
    /// An MLP (`multilayerPerceptron`'s layers) under µP, its width m·baseWidth read from the
    /// first hidden size (every hidden size scales by the same m): the readout's logits × 1/m
    /// (a `Scale` after the last Linear), hidden Linears' weights learning at 1/m. PyTorch's
    /// Linear init is already ∝ 1/√fan-in.
    public static func maximalUpdateMLP(inputFeatures: Int, hiddenSizes: [Int], outputs: Int, parametrization: MaximalUpdate,
                                        generator: inout SeededGenerator) throws -> Sequential {
        let m = parametrization.multiplier(width: hiddenSizes[0])
        let layers = mlpLayers(inputFeatures: inputFeatures, hiddenSizes: hiddenSizes, outputs: outputs)
            + [Scale(name: "readout_scale", factor: 1 / m)]
        let model = try Sequential(inputShape: [inputFeatures], layers: layers, generator: &generator)
        let linears = model.layers.compactMap { $0 as? Linear }
        MaximalUpdate.scaleLearningRates(of: linears.dropFirst().dropLast().map { $0.weight! }, multiplier: m)
        return model
    }
}
