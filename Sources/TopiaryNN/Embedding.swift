import TopiaryTensor

/// A lookup table, as PyTorch's Embedding(count, features): input (B, …) of integer indices
/// held as floats (exact up to 2²⁴), output (B, …, features). Backward adds each output
/// gradient row to its index's row of the table; there is no input gradient.
public final class Embedding: Layer {
    public var name: String
    public let count: Int
    public let features: Int
    public private(set) var weight: Parameter!
    private var cachedIndices: [Int] = []
    private var output = ActivationBuffer()

    public init(name: String, count: Int, features: Int) {
        self.name = name
        self.count = count
        self.features = features
    }

    public func plan(inputShape: [Int]) throws -> LayerPlan {
        LayerPlan(outputShape: inputShape + [features], parameters: [.init("weight", [count, features], role: .weight)])
    }

    public func bind(_ parameters: [Parameter]) { weight = parameters[0] }
    public var parameters: [Parameter] { [weight] }

    /// PyTorch's: N(0, 1).
    public func initialize(using generator: inout SeededGenerator) {
        generator.fillNormal(weight.value)
        multiply(weight.value, weight.mask, into: weight.value)
    }

    public func forward(_ input: Tensor) -> Tensor {
        let y = output.tensor(input.shape + [features])
        cachedIndices = (0..<input.count).map { i in
            let index = Int(input[i])
            require(Float(index) == input[i] && index >= 0 && index < count, "\(name): index \(input[i]) outside 0..<\(count)")
            (y.pointer + i * features).update(from: weight.value.pointer + index * features, count: features)
            return index
        }
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        require(outputGradient.count == cachedIndices.count * features, "\(name) backward expects \(cachedIndices.count) × \(features)")
        guard weight.needsGradient else { return nil }
        for (i, index) in cachedIndices.enumerated() {
            let source = outputGradient.pointer + i * features, target = weight.grad.pointer + index * features
            for j in 0..<features { target[j] += source[j] }
        }
        return nil
    }
}
