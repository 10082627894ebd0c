import TopiaryTensor

/// Batch normalisation over axis 1 (channels) of (B, C), (B, C, L) or (B, C, H, W), as
/// PyTorch's BatchNorm1d/2d: in training, each channel is normalised by its batch mean and
/// biased variance, y = (x − μ)/√(σ² + ε)·γ + β, and the running statistics move by
/// `momentum` toward μ and the unbiased variance; in evaluation the running statistics
/// normalise. γ (`weight`) and β (`bias`) train; `running_mean`/`running_var` are buffers.
///
/// For inference the affine map folds into the convolution or Linear before it.
public final class BatchNorm: Layer {
    public var name: String
    public let features: Int
    public let epsilon: Float
    public let momentum: Float
    public private(set) var weight: Parameter!
    public private(set) var bias: Parameter!
    public private(set) var runningMean: Parameter!
    public private(set) var runningVariance: Parameter!
    public private(set) var isTraining = true

    private var cachedNormalized: Tensor?
    private var inverseDeviation: [Float] = []
    private var output = ActivationBuffer()
    private var normalized = ActivationBuffer()
    private var inputGradient = ActivationBuffer()

    public init(name: String, features: Int, epsilon: Float = 1e-5, momentum: Float = 0.1) {
        self.name = name
        self.features = features
        self.epsilon = epsilon
        self.momentum = momentum
    }

    public func plan(inputShape: [Int]) throws -> LayerPlan {
        guard !inputShape.isEmpty, inputShape[0] == features else {
            throw ModelError.shape(layer: name, expected: "(\(features), …)", got: inputShape)
        }
        return LayerPlan(outputShape: inputShape, parameters: [
            .init("weight", [features], role: .weight), .init("bias", [features], role: .bias),
            .init("running_mean", [features], role: .buffer), .init("running_var", [features], role: .buffer)])
    }

    public func bind(_ parameters: [Parameter]) {
        (weight, bias, runningMean, runningVariance) = (parameters[0], parameters[1], parameters[2], parameters[3])
    }

    public var parameters: [Parameter] { [weight, bias, runningMean, runningVariance] }

    /// PyTorch's: γ = 1, β = 0, running mean 0, running variance 1.
    public func initialize(using generator: inout SeededGenerator) {
        weight.value.fill(1)
        multiply(weight.value, weight.mask, into: weight.value)
        bias.value.fill(0)
        runningMean.value.fill(0)
        runningVariance.value.fill(1)
    }

    public func setTraining(_ training: Bool) { isTraining = training }

    /// γ/√(σ²_running + ε) and β − μ_running·that: the evaluation-mode affine map per channel.
    public var evaluationAffine: (scale: [Float], shift: [Float]) {
        var scale = [Float](repeating: 0, count: features), shift = scale
        for c in 0..<features {
            scale[c] = weight.value[c] / (runningVariance.value[c] + epsilon).squareRoot()
            shift[c] = bias.value[c] - runningMean.value[c] * scale[c]
        }
        return (scale, shift)
    }

    public func forward(_ input: Tensor) -> Tensor {
        require(input.rank >= 2 && input.shape[1] == features, "\(name) expects (B, \(features), …), got \(input.shape)")
        let (batch, spatial) = (input.shape[0], input.shape.dropFirst(2).reduce(1, *))
        let n = batch * spatial
        let y = output.tensor(input.shape)
        let xhat = normalized.tensor(input.shape)
        inverseDeviation = [Float](repeating: 0, count: features)
        for c in 0..<features {
            var mean: Float, variance: Float
            if isTraining {
                var sum = 0.0
                forEachPlane(batch, c, spatial) { plane in for i in 0..<spatial { sum += Double(input.pointer[plane + i]) } }
                mean = Float(sum / Double(n))
                var squares = 0.0
                forEachPlane(batch, c, spatial) { plane in
                    for i in 0..<spatial { let d = Double(input.pointer[plane + i] - mean); squares += d * d }
                }
                variance = Float(squares / Double(n))
                runningMean.value[c] = (1 - momentum) * runningMean.value[c] + momentum * mean
                let unbiased = n > 1 ? Float(squares / Double(n - 1)) : variance
                runningVariance.value[c] = (1 - momentum) * runningVariance.value[c] + momentum * unbiased
            } else {
                (mean, variance) = (runningMean.value[c], runningVariance.value[c])
            }
            let inverse = 1 / (variance + epsilon).squareRoot()
            inverseDeviation[c] = inverse
            let (gain, shift) = (weight.value[c], bias.value[c])
            forEachPlane(batch, c, spatial) { plane in
                for i in 0..<spatial {
                    let normal = (input.pointer[plane + i] - mean) * inverse
                    xhat.pointer[plane + i] = normal
                    y.pointer[plane + i] = normal * gain + shift
                }
            }
        }
        cachedNormalized = xhat
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let xhat = cachedNormalized else { fatalError("\(name).backward called before forward") }
        require(outputGradient.count == xhat.count, "\(name) backward expects \(xhat.shape), got \(outputGradient.shape)")
        let (batch, spatial) = (xhat.shape[0], xhat.shape.dropFirst(2).reduce(1, *))
        let n = Float(batch * spatial)
        let dx = needsInputGradient ? inputGradient.tensor(xhat.shape) : nil
        for c in 0..<features {
            var sumGradient: Float = 0, sumGradientXhat: Float = 0
            forEachPlane(batch, c, spatial) { plane in
                for i in 0..<spatial {
                    sumGradient += outputGradient.pointer[plane + i]
                    sumGradientXhat += outputGradient.pointer[plane + i] * xhat.pointer[plane + i]
                }
            }
            if weight.needsGradient { weight.grad[c] += sumGradientXhat }
            if bias.needsGradient { bias.grad[c] += sumGradient }
            guard let dx else { continue }
            let gain = weight.value[c], inverse = inverseDeviation[c]
            forEachPlane(batch, c, spatial) { plane in
                for i in 0..<spatial {
                    let g = outputGradient.pointer[plane + i]
                    dx.pointer[plane + i] = isTraining
                        // Through the batch statistics: γ/σ · (g − mean(g) − x̂·mean(g·x̂)).
                        ? gain * inverse * (g - sumGradient / n - xhat.pointer[plane + i] * sumGradientXhat / n)
                        : gain * inverse * g
                }
            }
        }
        return dx
    }

    /// The start of channel c's plane in every sample.
    @inline(__always)
    private func forEachPlane(_ batch: Int, _ c: Int, _ spatial: Int, _ body: (Int) -> Void) {
        for b in 0..<batch { body((b * features + c) * spatial) }
    }
}
