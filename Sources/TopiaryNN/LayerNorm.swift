import CTopiaryKernels
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
    /// Per worker of backward: Σ_rows g·x̂ (gain) then Σ_rows g (shift), n each.
    private var partialSums = ActivationBuffer()

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
        let rows = input.count / features, n = features, epsilon = epsilon
        let y = output.tensor(input.shape), xhat = normalized.tensor(input.shape)
        if inverseDeviation.count < rows { inverseDeviation = [Float](repeating: 0, count: rows) }
        let (gain, shift, x) = (UnsafePointer(weight.value.pointer), UnsafePointer(bias.value.pointer), UnsafePointer(input.pointer))
        let (normals, outputs) = (xhat.pointer, y.pointer)
        inverseDeviation.withUnsafeMutableBufferPointer { inverses in
            LayerNorm.normalize(rows: rows, features: n, x, gain: gain, shift: shift, epsilon: epsilon, into: outputs,
                                normal: normals, inverse: inverses.baseAddress!)
        }
        cachedNormalized = xhat
        return y
    }

    /// out = x̂·gain + shift for `rows` rows of `features`, rows split over cores (a GPT step
    /// normalises B·T rows 9 times); x̂ and 1/σ per row are written when given (training keeps
    /// them for backward, inference passes nil).
    public static func normalize(rows: Int, features n: Int, _ x: UnsafePointer<Float>, gain: UnsafePointer<Float>,
                                 shift: UnsafePointer<Float>, epsilon: Float, into out: UnsafeMutablePointer<Float>,
                                 normal: UnsafeMutablePointer<Float>? = nil, inverse: UnsafeMutablePointer<Float>? = nil) {
        splitOverCores(rows, minimumPerPart: 64, alignment: 1) { range in
            let offset = range.lowerBound * n
            topiary_layernorm_forward(range.count, n, x + offset, gain, shift, epsilon, normal.map { $0 + offset }, out + offset,
                                      inverse.map { $0 + range.lowerBound })
        }
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let xhat = cachedNormalized else { fatalError("\(name).backward called before forward") }
        require(outputGradient.count == xhat.count, "\(name) backward expects \(xhat.shape), got \(outputGradient.shape)")
        let rows = xhat.count / features, n = features
        let dx = needsInputGradient ? inputGradient.tensor(xhat.shape) : nil
        let (gain, gradients, normals) = (UnsafePointer(weight.value.pointer), UnsafePointer(outputGradient.pointer), UnsafePointer(xhat.pointer))
        let inputGradients = dx?.pointer
        let threads = BLASRuntime.threadCount
        // Added in worker order afterwards, so the sums do not depend on timing.
        let sums = partialSums.tensor([threads, 2, n])
        sums.fill(0)
        let partials = sums.pointer
        inverseDeviation.withUnsafeBufferPointer { inverses in
            let inverses = inverses.baseAddress!
            splitOverCores(rows, minimumPerPart: 64, alignment: 1, threads: threads) { worker, range in
                let gainSum = partials + 2 * n * worker, offset = range.lowerBound * n
                topiary_layernorm_backward(range.count, n, gradients + offset, normals + offset, gain, inverses + range.lowerBound,
                                           inputGradients.map { $0 + offset }, gainSum, gainSum + n)
            }
        }
        for worker in 0..<threads {
            let gainSum = partials + 2 * n * worker, shiftSum = gainSum + n
            if weight.needsGradient { for i in 0..<n { weight.grad.pointer[i] += gainSum[i] } }
            if bias.needsGradient { for i in 0..<n { bias.grad.pointer[i] += shiftSum[i] } }
        }
        return dx
    }

    /// The plain loops the C kernels are tested against: forward of `rows` rows of n, writing
    /// x̂, y and 1/σ per row.
    static func referenceForward(rows: Int, n: Int, x: UnsafePointer<Float>, gain: UnsafePointer<Float>, shift: UnsafePointer<Float>,
                                 epsilon: Float, normal: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>,
                                 inverse: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let row = x + r * n, xhat = normal + r * n, y = out + r * n
            var mean: Float = 0
            for i in 0..<n { mean += row[i] }
            mean /= Float(n)
            var variance: Float = 0
            for i in 0..<n { variance += (row[i] - mean) * (row[i] - mean) }
            variance /= Float(n)
            inverse[r] = 1 / (variance + epsilon).squareRoot()
            for i in 0..<n {
                xhat[i] = (row[i] - mean) * inverse[r]
                y[i] = xhat[i] * gain[i] + shift[i]
            }
        }
    }

    /// Backward's plain loops: gain and shift sums accumulated, dx written when given.
    static func referenceBackward(rows: Int, n: Int, g: UnsafePointer<Float>, normal: UnsafePointer<Float>, gain: UnsafePointer<Float>,
                                  inverse: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?, gainSum: UnsafeMutablePointer<Float>,
                                  shiftSum: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let gr = g + r * n, xhat = normal + r * n
            var sumD: Float = 0, sumDX: Float = 0
            for i in 0..<n {
                gainSum[i] += gr[i] * xhat[i]
                shiftSum[i] += gr[i]
                sumD += gr[i] * gain[i]
                sumDX += gr[i] * gain[i] * xhat[i]
            }
            guard let dx else { continue }
            for i in 0..<n { dx[r * n + i] = inverse[r] * (gr[i] * gain[i] - sumD / Float(n) - xhat[i] * sumDX / Float(n)) }
        }
    }
}
