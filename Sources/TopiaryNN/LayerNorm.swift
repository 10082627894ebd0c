import TopiaryTensor

/// Layer normalisation over the last axis, as PyTorch's LayerNorm(C): each vector is
/// normalised by its own mean and biased variance, y = (x − μ)/√(σ² + ε)·γ + β.
public final class LayerNorm: Layer {
    public var name: String
    public let features: Int
    public let epsilon: Float
    public private(set) var weight: Parameter!
    public private(set) var bias: Parameter!
    private var cachedNormalized: Tensor?
    private var inverseDeviation: [Float] = []
    private var output = ActivationBuffer()
    private var normalized = ActivationBuffer()
    private var inputGradient = ActivationBuffer()

    public init(name: String, features: Int, epsilon: Float = 1e-5) {
        self.name = name
        self.features = features
        self.epsilon = epsilon
    }

    public func plan(inputShape: [Int]) throws -> LayerPlan {
        guard inputShape.last == features else { throw ModelError.shape(layer: name, expected: "(…, \(features))", got: inputShape) }
        return LayerPlan(outputShape: inputShape, parameters: [.init("weight", [features], role: .weight), .init("bias", [features], role: .bias)])
    }

    public func bind(_ parameters: [Parameter]) { (weight, bias) = (parameters[0], parameters[1]) }
    public var parameters: [Parameter] { [weight, bias] }

    public func initialize(using generator: inout SeededGenerator) {
        weight.value.fill(1)
        multiply(weight.value, weight.mask, into: weight.value)
        bias.value.fill(0)
    }

    public func forward(_ input: Tensor) -> Tensor {
        require(input.shape.last == features, "\(name) expects (…, \(features)), got \(input.shape)")
        let rows = input.count / features
        let y = output.tensor(input.shape), xhat = normalized.tensor(input.shape)
        if inverseDeviation.count < rows { inverseDeviation = [Float](repeating: 0, count: rows) }
        for r in 0..<rows {
            let x = input.pointer + r * features
            var mean: Float = 0
            for i in 0..<features { mean += x[i] }
            mean /= Float(features)
            var variance: Float = 0
            for i in 0..<features { variance += (x[i] - mean) * (x[i] - mean) }
            variance /= Float(features)
            let inverse = 1 / (variance + epsilon).squareRoot()
            inverseDeviation[r] = inverse
            for i in 0..<features {
                let normal = (x[i] - mean) * inverse
                xhat.pointer[r * features + i] = normal
                y.pointer[r * features + i] = normal * weight.value[i] + bias.value[i]
            }
        }
        cachedNormalized = xhat
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let xhat = cachedNormalized else { fatalError("\(name).backward called before forward") }
        require(outputGradient.count == xhat.count, "\(name) backward expects \(xhat.shape), got \(outputGradient.shape)")
        let rows = xhat.count / features
        let dx = needsInputGradient ? inputGradient.tensor(xhat.shape) : nil
        for r in 0..<rows {
            let g = outputGradient.pointer + r * features, normal = xhat.pointer + r * features
            var sumDxhat: Float = 0, sumDxhatXhat: Float = 0
            for i in 0..<features {
                if weight.trainable { weight.grad[i] += g[i] * normal[i] }
                if bias.trainable { bias.grad[i] += g[i] }
                let dxhat = g[i] * weight.value[i]
                sumDxhat += dxhat
                sumDxhatXhat += dxhat * normal[i]
            }
            guard let dx else { continue }
            let inverse = inverseDeviation[r], n = Float(features)
            for i in 0..<features {
                let dxhat = g[i] * weight.value[i]
                dx.pointer[r * features + i] = inverse * (dxhat - sumDxhat / n - normal[i] * sumDxhatXhat / n)
            }
        }
        return dx
    }
}
