import TopiaryTensor

/// Root-mean-square normalisation over the last axis (Llama's, HF `LlamaRMSNorm`): each
/// vector is divided by its RMS, y = x / √(mean(x²) + ε) ⊙ γ. No mean subtraction, no shift.
public final class RMSNorm: Layer {
    public var name: String
    public let features: Int
    public let epsilon: Float
    public private(set) var weight: Parameter!
    private var cachedInput: Tensor?
    /// 1/√(mean(x²) + ε) per row, kept for backward.
    private var inverseRMS: [Float] = []
    private var output = ActivationBuffer()
    private var inputGradient = ActivationBuffer()
    /// Per worker of backward: Σ_rows dy ⊙ x̂, n each.
    private var partialSums = ActivationBuffer()

    public init(name: String, features: Int, epsilon: Float = 1e-5) {
        self.name = name
        self.features = features
        self.epsilon = epsilon
    }

    public func plan(inputShape: [Int]) throws -> LayerPlan {
        guard inputShape.last == features else { throw ModelError.shape(layer: name, expected: "(…, \(features))", got: inputShape) }
        return LayerPlan(outputShape: inputShape, parameters: [.init("weight", [features], role: .weight)])
    }

    public func bind(_ parameters: [Parameter]) { weight = parameters[0] }
    public var parameters: [Parameter] { [weight] }

    public func initialize(using generator: inout SeededGenerator) {
        weight.value.fill(1)
        multiply(weight.value, weight.mask, into: weight.value)
    }

    public func forward(_ input: Tensor) -> Tensor {
        require(input.shape.last == features, "\(name) expects (…, \(features)), got \(input.shape)")
        let rows = input.count / features, n = features, epsilon = epsilon
        let y = output.tensor(input.shape)
        if inverseRMS.count < rows { inverseRMS = [Float](repeating: 0, count: rows) }
        let (gain, x, out) = (UnsafePointer(weight.value.pointer), UnsafePointer(input.pointer), y.pointer)
        inverseRMS.withUnsafeMutableBufferPointer { inverses in
            let inverses = inverses.baseAddress!
            splitOverCores(rows, minimumPerPart: 64, alignment: 1) { range in
                for r in range { inverses[r] = RMSNorm.normalize(x + r * n, gain: gain, count: n, epsilon: epsilon, into: out + r * n) }
            }
        }
        cachedInput = input
        return y
    }

    /// One vector of `count` floats: target = row / √(mean(row²) + ε) ⊙ gain. Returns the
    /// inverse RMS (training keeps it for backward). Inference runs the same function.
    @inline(__always)
    public static func normalize(_ row: UnsafePointer<Float>, gain: UnsafePointer<Float>, count n: Int, epsilon: Float,
                                 into target: UnsafeMutablePointer<Float>) -> Float {
        var squares: Float = 0
        for i in 0..<n { squares += row[i] * row[i] }
        let inverse = 1 / (squares / Float(n) + epsilon).squareRoot()
        for i in 0..<n { target[i] = row[i] * inverse * gain[i] }
        return inverse
    }

    /// With x̂ = x·r (r = 1/rms): dγ += Σ_rows dy ⊙ x̂; dx = r·(dy⊙γ − x̂ · mean(dy⊙γ⊙x̂)).
    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let x = cachedInput else { fatalError("\(name).backward called before forward") }
        require(outputGradient.count == x.count, "\(name) backward expects \(x.shape), got \(outputGradient.shape)")
        let rows = x.count / features, n = features
        let dx = needsInputGradient ? inputGradient.tensor(x.shape) : nil
        let (gain, gradients, inputs) = (UnsafePointer(weight.value.pointer), UnsafePointer(outputGradient.pointer), UnsafePointer(x.pointer))
        let inputGradients = dx?.pointer
        let threads = BLASRuntime.threadCount
        // Per worker Σ_rows dy ⊙ x̂, added in worker order afterwards (deterministic).
        let sums = partialSums.tensor([threads, n])
        sums.fill(0)
        let partials = sums.pointer
        inverseRMS.withUnsafeBufferPointer { inverses in
            splitOverCores(rows, minimumPerPart: 64, alignment: 1, threads: threads) { worker, range in
                let gainSum = partials + n * worker
                for r in range {
                    let g = gradients + r * n, row = inputs + r * n, inverse = inverses[r]
                    var weighted: Float = 0
                    for i in 0..<n {
                        let normal = row[i] * inverse
                        gainSum[i] += g[i] * normal
                        weighted += g[i] * gain[i] * normal
                    }
                    guard let inputGradients else { continue }
                    let mean = weighted / Float(n), target = inputGradients + r * n
                    for i in 0..<n { target[i] = inverse * (g[i] * gain[i] - row[i] * inverse * mean) }
                }
            }
        }
        if weight.needsGradient {
            for worker in 0..<threads { for i in 0..<n { weight.grad.pointer[i] += partials[n * worker + i] } }
        }
        return dx
    }
}
