import TopiaryTensor

/// y = max(x, 0); dx = dy where y > 0.
public final class ReLU: Layer {
    public let name: String
    public var parameters: [Parameter] { [] }
    private var cachedOutput: Tensor?
    private var output = ActivationBuffer()
    private var inputGradient = ActivationBuffer()

    public init(name: String) { self.name = name }

    public func outputFeatures(inputFeatures: Int) -> Int { inputFeatures }

    public func forward(_ input: Tensor) -> Tensor {
        let y = output.rows(input.rows, columns: input.columns)
        reluForward(input, into: y)
        cachedOutput = y
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        guard let y = cachedOutput else { fatalError("\(name).backward called before forward") }
        let dx = inputGradient.rows(y.rows, columns: y.columns)
        reluBackward(outputGrad: outputGradient, output: y, into: dx)
        return dx
    }
}
