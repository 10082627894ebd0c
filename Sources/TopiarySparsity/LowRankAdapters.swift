import TopiaryNN
import TopiaryTensor

/// LoRA (Hu et al., 2021) on prunable matrices, kept sparse. Each target W (rows × fanIn,
/// frozen at W₀) is reparametrized as
///
///     masked:    W = W₀ + s·(B·A ⊙ M)      A: (rank, fanIn), B: (rows, rank), s = alpha / rank
///     unmasked:  W = W₀ + s·B·A            M: the base's pruning mask
///
/// and only A and B are trained (their own `store`, so the optimizer's state covers the
/// adapters alone). A starts uniform in ±1/√fanIn (PEFT's kaiming_uniform with a = √5), B at
/// zero, so training starts from the base model exactly.
///
/// The masked form is what keeps a pruned model pruned: the merged weight is the trained one,
/// with exactly the base's zeros. The unmasked form is plain LoRA: its merge revives pruned
/// weights, and masking it afterwards changes what was trained; both are measured.
///
/// Gradients: with G = ∂L/∂W (the layer's weight gradient, dense) and Ĝ = s·(G ⊙ M) (masked)
/// or s·G, ∂L/∂B = Ĝ·Aᵀ and ∂L/∂A = Bᵀ·Ĝ. Adapter dropout has no merged form and is not offered.
public final class LowRankAdapters: WeightReparametrization {
    public enum Form: String, Codable, Sendable, CaseIterable {
        case masked, unmasked
    }

    /// One adapted matrix: the frozen base and its two factors.
    public struct Target {
        public let matrix: PrunableMatrix
        /// W₀ (rows, fanIn): the weight when the adapters were made.
        public let base: Tensor
        /// (rank, fanIn)
        public let a: Parameter
        /// (rows, rank)
        public let b: Parameter
    }

    public let rank: Int
    public let alpha: Float
    public let form: Form
    public let store: ParameterStore
    public let targets: [Target]
    /// The targets' flags before they were frozen, restored by `merge`.
    private let originalFlags: [(trainable: Bool, gradient: Bool)]
    public var scale: Float { alpha / Float(rank) }

    /// Adapters on `matrices` (each at most once). Freezes them: no optimizer state, gradient kept.
    public init(matrices: [PrunableMatrix], rank: Int, alpha: Float, form: Form, generator: inout SeededGenerator) {
        require(rank >= 1, "LoRA rank must be >= 1, but got \(rank)")
        require(alpha > 0 && alpha.isFinite, "LoRA alpha must be finite and > 0, but got \(alpha)")
        require(!matrices.isEmpty, "LoRA needs at least one target matrix")
        require(Set(matrices.map(\.name)).count == matrices.count, "LoRA targets repeat a matrix: \(matrices.map(\.name))")
        self.rank = rank
        self.alpha = alpha
        self.form = form
        var layout = ParameterStore.Layout()
        for matrix in matrices {
            layout.add(layer: matrix.layerName, name: "lora_A.weight", role: .weight, shape: [rank, matrix.fanIn])
            layout.add(layer: matrix.layerName, name: "lora_B.weight", role: .weight, shape: [matrix.rows, rank])
        }
        let store = ParameterStore(layout)
        self.store = store
        targets = matrices.enumerated().map { index, matrix in
            Target(matrix: matrix, base: matrix.value.copy(), a: store.parameters[2 * index], b: store.parameters[2 * index + 1])
        }
        originalFlags = matrices.map { ($0.parameter.flags.trainable, $0.parameter.flags.gradientForReparametrization) }
        for target in targets {
            let bound = 1 / Float(target.matrix.fanIn).squareRoot()
            for i in 0..<target.a.count { target.a.value[i] = generator.nextFloat(in: -bound, bound) }
            target.matrix.parameter.flags.trainable = false
            target.matrix.parameter.flags.gradientForReparametrization = true
        }
        materialize()
    }

    /// Adapter parameters (what is trained instead of the targets' rows × fanIn each).
    public var parameterCount: Int { store.parameterCount }

    /// W = W₀ + s·B·A (⊙ M) for every target.
    public func materialize() {
        for target in targets {
            let weight = target.matrix.value
            if form == .masked {
                // (B·A ⊙ M): the product in place, masked, then scaled onto the base.
                matmul(target.b.value, target.a.value, into: weight, alpha: scale)
                multiply(weight, target.matrix.mask, into: weight)
                add(weight, target.base, into: weight)
            } else {
                plainMerge(target, into: weight)
            }
        }
    }

    /// `out` (rows, fanIn) = W₀ + s·B·A, the target's unmasked merge.
    private func plainMerge(_ target: Target, into out: Tensor) {
        out.assign(from: target.base)
        matmul(target.b.value, target.a.value, into: out, alpha: scale, beta: 1)
    }

    /// ∂L/∂B += Ĝ·Aᵀ and ∂L/∂A += Bᵀ·Ĝ, Ĝ = s·(G ⊙ M) or s·G, from each target's G = ∂L/∂W.
    public func backpropagate() {
        for target in targets {
            let g = target.matrix.grad
            if form == .masked { multiply(g, target.matrix.mask, into: g) }
            matmul(g, target.a.value, transposeB: true, into: target.b.grad, alpha: scale, beta: 1)   // (rows, rank)
            matmul(target.b.value, transposeA: true, g, into: target.a.grad, alpha: scale, beta: 1)   // (rank, fanIn)
        }
    }

    /// Ends the reparametrization: the targets keep the merged weights and become what they
    /// were before (trainable again, if they were). The masked form's merge has exactly the
    /// base's zeros; the unmasked form's is masked too (pruned weights stay 0: masks only
    /// shrink), so it differs from what was trained — `unmaskedMergeZeros` tells by how much
    /// sparsity the unmasked merge would have lost.
    public func merge() {
        materialize()
        for (target, flags) in zip(targets, originalFlags) {
            multiply(target.matrix.value, target.matrix.mask, into: target.matrix.value)
            target.matrix.parameter.flags.trainable = flags.trainable
            target.matrix.parameter.flags.gradientForReparametrization = flags.gradient
        }
    }

    /// `body` run with the targets at the plain merge W₀ + s·B·A (the masked form's weights are
    /// written back after): what a LoRA merge that ignores the masks computes.
    public func withUnmaskedMerge<T>(_ body: () throws -> T) rethrows -> T {
        for target in targets { plainMerge(target, into: target.matrix.value) }
        defer { materialize() }
        return try body()
    }

    /// Zeros of each target after a plain (unmasked) merge W₀ + s·B·A, beside the zeros of its
    /// weight now (after `merge`: the masked merge's): what a merge that ignores masks costs.
    public func unmaskedMergeZeros() -> [(name: String, unmasked: Int, masked: Int)] {
        targets.map { target in
            let merged = Tensor(zeros: target.base.shape)
            plainMerge(target, into: merged)
            let weight = target.matrix.value
            return (target.matrix.name, merged.count - countNonzeros(merged), weight.count - countNonzeros(weight))
        }
    }
}
