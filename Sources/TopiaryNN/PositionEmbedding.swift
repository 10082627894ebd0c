import TopiaryTensor

/// Learned absolute positions, GPT-2's `wpe`: adds row t of a (context, features) table to
/// position t of every sequence. Input and output (B, T, features) with T ≤ context; the
/// input gradient is the output gradient, and row t's gradient is Σ_b dY[b, t].
public final class PositionEmbedding: Layer {
    public var name: String
    public let context: Int
    public let features: Int
    public private(set) var weight: Parameter!
    private var output = ActivationBuffer()
    private var positions = 0

    public init(name: String, context: Int, features: Int) {
        self.name = name
        self.context = context
        self.features = features
    }

    public func plan(inputShape: [Int]) throws -> LayerPlan {
        guard inputShape.count == 2, inputShape[0] <= context, inputShape[1] == features else {
            throw ModelError.shape(layer: name, expected: "(T ≤ \(context), \(features))", got: inputShape)
        }
        return LayerPlan(outputShape: inputShape, parameters: [.init("weight", [context, features], role: .weight)])
    }

    public func bind(_ parameters: [Parameter]) { weight = parameters[0] }
    public var parameters: [Parameter] { [weight] }

    /// PyTorch's Embedding default, N(0, 1) (a GPT re-initialises it).
    public func initialize(using generator: inout SeededGenerator) {
        for i in 0..<weight.count { weight.value[i] = generator.nextNormalPair().0 }
    }

    public func forward(_ input: Tensor) -> Tensor {
        require(input.rank == 3 && input.shape[1] <= context && input.shape[2] == features,
                "\(name) expects (B, T ≤ \(context), \(features)), got \(input.shape)")
        positions = input.shape[1]
        let y = output.tensor(input.shape)
        let block = positions * features
        for b in 0..<input.shape[0] {
            simdMap(block, input.pointer + b * block, weight.value.pointer, y.pointer + b * block, { $0 + $1 }, { $0 + $1 })
        }
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        let block = positions * features
        require(outputGradient.count % max(block, 1) == 0, "\(name) backward expects (B, \(positions), \(features)), got \(outputGradient.shape)")
        if weight.needsGradient {
            // Row t of the table gets Σ_b dY[b, t]: column sums of dY seen as (B, T·C).
            let rows = weight.grad.reshaped([context * features])
            accumulateColumnSums(of: outputGradient.reshaped([outputGradient.count / block, block]),
                                 into: Tensor(storage: rows.storage, offset: rows.offset, shape: [block]))
        }
        return needsInputGradient ? outputGradient : nil
    }
}
