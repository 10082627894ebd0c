import TopiaryNN
import TopiaryTensor

/// SynFlow (Tanaka et al. 2020), iterative synaptic flow, data-free: every parameter is
/// replaced by its absolute value (pruned ones stay 0), an all-ones input goes through the
/// network (in evaluation mode), R = Σ outputs, and each weight scores |θ ⊙ ∂R/∂θ| — how much
/// "flow" from input to output runs through it. The iteration is the schedule's: a geometric
/// schedule with many stages of 0 epochs rescores after every cut, as the paper does at
/// initialisation.
public struct SynFlowScorer: ImportanceScorer {
    public let name = "synflow"
    public init() {}

    public func scores(for targets: [PrunableMatrix], context: inout ScoringContext) throws -> [Tensor] {
        let model = context.model
        let saved = model.store.values.copy()
        model.setTraining(false)
        defer {
            model.store.values.assign(from: saved)
            model.store.zeroGrads()
            model.setTraining(true)
        }
        let values = model.store.values
        simdMap(values.count, values.pointer, values.pointer, { $0.replacing(with: -$0, where: $0 .< 0) }, { abs($0) })
        model.store.zeroGrads()
        let ones = Tensor(zeros: [1] + model.inputShape)
        ones.fill(1)
        let outputs = model.forward(ones)
        let seed = Tensor(zeros: outputs.shape)
        seed.fill(1)
        model.backward(seed)
        return targets.map { matrix in
            let score = Tensor(zeros: [matrix.rows, matrix.fanIn])
            multiply(matrix.value, matrix.grad, into: score)  // |θ| · ∂R/∂θ, both ≥ 0
            return score
        }
    }
}
