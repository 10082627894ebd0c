import TopiaryTensor

/// In training, each element is zeroed with probability p and the survivors scaled by
/// 1/(1 − p); in evaluation, the identity. The mask comes from the layer's own seeded
/// generator, whose state a checkpoint keeps (`randomState`), so a resumed run draws the
/// same masks an uninterrupted one would.
public final class Dropout: Layer {
    public var name: String
    public let probability: Float
    public private(set) var isTraining = true
    public var generator: SeededGenerator
    private var keep: Tensor?
    private var output = ActivationBuffer()
    private var keepBuffer = ActivationBuffer()
    private var inputGradient = ActivationBuffer()

    public init(name: String, probability: Float, seed: UInt64 = 0) {
        require(probability >= 0 && probability < 1, "dropout probability must lie in [0, 1), got \(probability)")
        self.name = name
        self.probability = probability
        generator = SeededGenerator(seed: seed, stream: "dropout " + name)
    }

    /// Seeds the layer's generator from the model's initialisation stream, so the run's seed
    /// decides the masks.
    public func initialize(using generator: inout SeededGenerator) {
        self.generator = SeededGenerator(seed: generator.next(), stream: "dropout " + name)
    }

    public func plan(inputShape: [Int]) throws -> LayerPlan { LayerPlan(outputShape: inputShape) }
    public func bind(_ parameters: [Parameter]) {}
    public var parameters: [Parameter] { [] }
    public func setTraining(_ training: Bool) { isTraining = training }

    public func forward(_ input: Tensor) -> Tensor {
        guard isTraining, probability > 0 else { keep = nil; return input }
        let mask = keepBuffer.tensor(input.shape)
        drawInvertedDropout(into: mask, probability: probability, generator: &generator)
        let y = output.tensor(input.shape)
        multiply(input, mask, into: y)
        keep = mask
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        guard let keep else { return outputGradient }
        let dx = inputGradient.tensor(outputGradient.shape)
        multiply(outputGradient, keep, into: dx)
        return dx
    }
}

/// Inverted dropout's keep factors: each element 0 with probability p, else 1/(1 − p), so the
/// expected output equals the input.
public func drawInvertedDropout(into keep: Tensor, probability: Float, generator: inout SeededGenerator) {
    let scale = 1 / (1 - probability)
    for i in 0..<keep.count { keep[i] = generator.nextUnitFloat() < probability ? 0 : scale }
}
