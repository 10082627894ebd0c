import TopiaryTensor

/// y = factor · x, a fixed multiplier with no parameters: µP's output multiplier
/// (base_width / width on a readout's logits). Inference folds it into the matrix or norm
/// before it.
public final class Scale: Layer {
    public var name: String
    public let factor: Float
    private var output = ActivationBuffer()
    private var inputGradient = ActivationBuffer()

    public init(name: String, factor: Float) {
        require(factor.isFinite && factor != 0, "a scale's factor must be finite and nonzero, got \(factor)")
        self.name = name
        self.factor = factor
    }

    public func plan(inputShape: [Int]) throws -> LayerPlan { LayerPlan(outputShape: inputShape) }
    public func bind(_ parameters: [Parameter]) {}
    public var parameters: [Parameter] { [] }

    public func forward(_ input: Tensor) -> Tensor {
        let y = output.tensor(input.shape)
        let s = factor
        simdMap(y.count, input.pointer, y.pointer, { $0 * s }, { $0 * s })
        return y
    }

    /// dx = factor · dy.
    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        let dx = inputGradient.tensor(outputGradient.shape)
        let s = factor
        simdMap(dx.count, outputGradient.pointer, dx.pointer, { $0 * s }, { $0 * s })
        return dx
    }
}
