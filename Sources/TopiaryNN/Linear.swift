import TopiaryTensor

/// y = x · Wᵀ + b, W (out, in), b (out), x (B, in), y (B, out) — PyTorch's layout, so scores
/// and masks read row = output neuron, column = input feature.
public final class Linear: Layer {
    public let name: String
    public let weight: Parameter
    public let bias: Parameter
    public var parameters: [Parameter] { [weight, bias] }
    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    private var cachedInput: Tensor?
    /// Called with the input x (B, in) on every forward: scorers that need activations
    /// (Wanda's input norms) listen here. Valid only during the call.
    public var onForward: ((Tensor) -> Void)?
    /// Called with (x (B, in), dY (B, out)) on every backward: scorers that need per-sample
    /// gradients (Fisher) listen here. Valid only during the call.
    public var onBackward: ((Tensor, Tensor) -> Void)?
    private var output = ActivationBuffer()
    private var inputGradient = ActivationBuffer()

    public init(name: String, weight: Parameter, bias: Parameter) {
        require(weight.shape.count == 2 && bias.shape == [weight.shape[0]],
                     "\(name): weight \(weight.shape) and bias \(bias.shape) disagree")
        self.name = name
        self.weight = weight
        self.bias = bias
    }

    /// Declares a Linear layer's parameters in `layout`.
    public static func declare(_ name: String, in inFeatures: Int, out outFeatures: Int,
                               layout: inout ParameterStore.Layout) -> (weight: Int, bias: Int) {
        (layout.add(layer: name, role: .weight, shape: [outFeatures, inFeatures]),
         layout.add(layer: name, role: .bias, shape: [outFeatures]))
    }

    /// PyTorch's default: kaiming-uniform with a = √5 for W, which is U(±1/√in), and the
    /// same bound for b.
    public func initialize(using generator: inout SeededGenerator) {
        let bound = 1 / Float(inFeatures).squareRoot()
        for parameter in parameters {
            for i in 0..<parameter.count { parameter.value[i] = generator.nextFloat(in: -bound, bound) }
        }
        multiply(weight.value, weight.mask, into: weight.value)
    }

    public func outputFeatures(inputFeatures: Int) -> Int {
        require(inputFeatures == inFeatures, "\(name) expects \(inFeatures) inputs, got \(inputFeatures)")
        return outFeatures
    }

    public func forward(_ input: Tensor) -> Tensor {
        require(input.rank == 2 && input.columns == inFeatures,
                     "\(name) expects (B, \(inFeatures)), got \(input.shape)")
        cachedInput = input
        onForward?(input)
        let y = output.rows(input.rows, columns: outFeatures)
        broadcastRow(bias.value, into: y)
        matmul(input, weight.value, transposeB: true, into: y, beta: 1)
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let x = cachedInput else { fatalError("\(name).backward called before forward") }
        require(outputGradient.shape == [x.rows, outFeatures],
                     "\(name) backward expects (\(x.rows), \(outFeatures)), got \(outputGradient.shape)")
        onBackward?(x, outputGradient)
        // dW (out, in) += dYᵀ · X ; db (out) += Σ_b dY[b, :]
        matmul(outputGradient, transposeA: true, x, into: weight.grad, beta: 1)
        accumulateColumnSums(of: outputGradient, into: bias.grad)
        guard needsInputGradient else { return nil }
        // dX (B, in) = dY · W
        let dx = inputGradient.rows(x.rows, columns: inFeatures)
        matmul(outputGradient, weight.value, into: dx)
        return dx
    }
}
