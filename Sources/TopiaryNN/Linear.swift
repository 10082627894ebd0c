import TopiaryTensor

/// y = x · Wᵀ + b, W (out, in), b (out). PyTorch's layout, so scores and masks read row =
/// output neuron, column = input feature.
///
/// Inputs (B, in), or (B, …, in) with any leading axes (a sequence (B, T, in)): the matrix
/// applies to every vector along the last axis, so the rows are B·… and `positions` counts
/// the vectors per sample.
public final class Linear: Layer {
    public var name: String
    public let inFeatures: Int
    public let outFeatures: Int
    public let hasBias: Bool
    public private(set) var weight: Parameter!
    public private(set) var bias: Parameter?
    /// Vectors per sample (1 for (B, in); T for (B, T, in)).
    public private(set) var positions = 1
    public let observer = FanInObserver()
    /// False for a matrix pruning must leave alone (an untied language-model head).
    public var offersPruning = true

    private var cachedInput: Tensor?
    private var isTraining = true
    private var output = ActivationBuffer()
    private var inputGradient = ActivationBuffer()

    public init(name: String, inFeatures: Int, outFeatures: Int, bias: Bool = true) {
        self.name = name
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.hasBias = bias
    }

    public func plan(inputShape: [Int]) throws -> LayerPlan {
        guard inputShape.last == inFeatures else {
            throw ModelError.shape(layer: name, expected: "(…, \(inFeatures))", got: inputShape)
        }
        positions = inputShape.dropLast().reduce(1, *)
        return LayerPlan(outputShape: inputShape.dropLast() + [outFeatures],
                         parameters: [.init("weight", [outFeatures, inFeatures], role: .weight)]
                            + (hasBias ? [.init("bias", [outFeatures], role: .bias)] : []))
    }

    public func bind(_ parameters: [Parameter]) {
        weight = parameters[0]
        bias = hasBias ? parameters[1] : nil
        matrix = PrunableMatrix(parameter: weight, rows: outFeatures, fanIn: inFeatures, positions: positions,
                                operation: .linear, observer: observer)
    }

    /// The weight as pruning sees it (set when bound).
    public private(set) var matrix: PrunableMatrix!

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    /// PyTorch's default: kaiming-uniform with a = √5 for W, which is U(±1/√in), and the
    /// same bound for b.
    public func initialize(using generator: inout SeededGenerator) {
        let bound = 1 / Float(inFeatures).squareRoot()
        for parameter in parameters {
            for i in 0..<parameter.count { parameter.value[i] = generator.nextFloat(in: -bound, bound) }
        }
        multiply(weight.value, weight.mask, into: weight.value)
    }

    public var prunableMatrices: [PrunableMatrix] { offersPruning ? [matrix] : [] }
    public func setTraining(_ training: Bool) { isTraining = training }

    public func forward(_ input: Tensor) -> Tensor {
        require(input.shape.last == inFeatures, "\(name) expects (…, \(inFeatures)), got \(input.shape)")
        let x = input.reshaped([input.count / inFeatures, inFeatures])
        cachedInput = x
        observer.onForward?(x, input.shape[0])
        let y = output.rows(x.rows, columns: outFeatures)
        if let bias { broadcastRow(bias.value, into: y) }
        matmul(x, weight.value, transposeB: true, into: y, beta: bias == nil ? 0 : 1)
        matrix.branch?.forward(x, addingTo: y, layout: .rows, training: isTraining)
        return y.reshaped(input.shape.dropLast() + [outFeatures])
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let x = cachedInput else { fatalError("\(name).backward called before forward") }
        require(outputGradient.count == x.rows * outFeatures,
                "\(name) backward expects \(x.rows) × \(outFeatures) gradients, got \(outputGradient.shape)")
        let dy = outputGradient.reshaped([x.rows, outFeatures])
        observer.onBackward?(x, dy, outputGradient.shape[0])
        // dW (out, in) += dYᵀ · X ; db (out) += Σ_rows dY
        if weight.needsGradient { matmul(dy, transposeA: true, x, into: weight.grad, beta: 1) }
        if let bias, bias.needsGradient { accumulateColumnSums(of: dy, into: bias.grad) }
        guard needsInputGradient else {
            matrix.branch?.backward(x, outputGradient: dy, addingTo: nil, layout: .rows)
            return nil
        }
        // dX (rows, in) = dY · W
        let dx = inputGradient.rows(x.rows, columns: inFeatures)
        matmul(dy, weight.value, into: dx)
        matrix.branch?.backward(x, outputGradient: dy, addingTo: dx, layout: .rows)
        return dx.reshaped(outputGradient.shape.dropLast() + [inFeatures])
    }
}
