import TopiaryNN
import TopiaryTensor

/// LoRA (Hu et al., 2021) on prunable matrices, kept sparse. Each target W (rows × fanIn,
/// frozen at W₀) computes
///
///     masked:    y = W₀·x + s·(B·A ⊙ M)·drop(x)     A: (rank, fanIn), B: (rows, rank), s = alpha / rank
///     unmasked:  y = W₀·x + s·B·A·drop(x)           M: the base's pruning mask
///
/// and only A and B are trained (their own `store`, so the optimizer's state covers the
/// adapters alone). A starts uniform in ±1/√fanIn (PEFT's kaiming_uniform with a = √5), B at
/// zero, so training starts from the base model exactly. drop is inverted dropout on the
/// adapter's input (PEFT's `lora_dropout`), drawn in training only.
///
/// The masked form is what keeps a pruned model pruned: the merged weight is the trained one,
/// with exactly the base's zeros. The unmasked form is plain LoRA: its merge revives pruned
/// weights, and masking it afterwards changes what was trained; both are measured.
///
/// Two ways to compute it (`path`), the cheaper for the form:
/// - `folded` (masked, no dropout): the weight is rewritten as W₀ + s·(B·A ⊙ M) each step and
///   the layer's own weight gradient G = ∂L/∂W is mapped back: with Ĝ = s·(G ⊙ M),
///   ∂L/∂B = Ĝ·Aᵀ, ∂L/∂A = Bᵀ·Ĝ. The masked update needs all of G, so the base's gradient
///   GEMM stays; three GEMMs of the matrix's size per step, as full fine-tuning.
/// - `beside` (unmasked, or any dropout): the weight stays W₀ with no gradient and a
///   `FanInBranch` adds the adapter's path. Unmasked it is rank-`rank` work only (the base
///   costs its forward and input-gradient GEMMs, not its weight gradient); masked with dropout
///   it needs ΔW = s·(B·A ⊙ M) densely and costs three GEMMs beside the base's two.
public final class LowRankAdapters: WeightReparametrization {
    public enum Form: String, Codable, Sendable, CaseIterable {
        case masked, unmasked
    }

    public enum Path: Sendable {
        case folded, beside
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
        /// The adapter's own path (`beside` only).
        let branch: AdapterBranch?
    }

    public let rank: Int
    public let alpha: Float
    public let form: Form
    /// Probability of zeroing each adapter input in training; 0 for none.
    public let dropout: Float
    public let path: Path
    public let store: ParameterStore
    public private(set) var targets: [Target] = []
    /// The targets' flags before they were frozen, restored by `merge`.
    private let originalFlags: [(trainable: Bool, gradient: Bool)]
    /// Dropout's draws, seeded from the adapters' generator.
    var dropoutGenerator: SeededGenerator
    public var scale: Float { alpha / Float(rank) }

    /// Adapters on `matrices` (each at most once). Freezes them: no optimizer state; the
    /// gradient is kept for the folded path. Dropout needs linear targets (PEFT drops a
    /// convolution's input pixels before the unroll, which the fan-in view cannot see).
    public init(matrices: [PrunableMatrix], rank: Int, alpha: Float, form: Form, dropout: Float = 0,
                generator: inout SeededGenerator) {
        require(rank >= 1, "LoRA rank must be >= 1, but got \(rank)")
        require(alpha > 0 && alpha.isFinite, "LoRA alpha must be finite and > 0, but got \(alpha)")
        require(dropout >= 0 && dropout < 1, "LoRA dropout must lie in [0, 1), but got \(dropout)")
        require(!matrices.isEmpty, "LoRA needs at least one target matrix")
        require(Set(matrices.map(\.name)).count == matrices.count, "LoRA targets repeat a matrix: \(matrices.map(\.name))")
        require(dropout == 0 || matrices.allSatisfy { $0.operation == .linear },
                "LoRA dropout applies to linear targets only, but \(matrices.filter { $0.operation != .linear }.map(\.name)) are convolutions")
        self.rank = rank
        self.alpha = alpha
        self.form = form
        self.dropout = dropout
        path = form == .masked && dropout == 0 ? .folded : .beside
        var layout = ParameterStore.Layout()
        for factor in LowRankAdapters.factors(of: matrices, rank: rank) {
            layout.add(layer: factor.layer, name: factor.name, role: .weight, shape: factor.shape)
        }
        let store = ParameterStore(layout)
        self.store = store
        originalFlags = matrices.map { ($0.parameter.flags.trainable, $0.parameter.flags.gradientForReparametrization) }
        dropoutGenerator = SeededGenerator(seed: 0, stream: "lora dropout")
        targets = matrices.enumerated().map { index, matrix in
            let (a, b) = (store.parameters[2 * index], store.parameters[2 * index + 1])
            return Target(matrix: matrix, base: matrix.value.copy(), a: a, b: b,
                          branch: path == .beside ? AdapterBranch(a: a, b: b, mask: matrix.mask) : nil)
        }
        for target in targets {
            let bound = 1 / Float(target.matrix.fanIn).squareRoot()
            for i in 0..<target.a.count { target.a.value[i] = generator.nextFloat(in: -bound, bound) }
            target.matrix.parameter.flags.trainable = false
            target.matrix.parameter.flags.gradientForReparametrization = path == .folded
        }
        // Drawn after A's values, so adapters without dropout start as they always have.
        dropoutGenerator = SeededGenerator(seed: generator.next(), stream: "lora dropout")
        for target in targets { target.branch?.owner = self }
        attachBranches()
        materialize()
    }

    /// A (rank, fanIn) then B (rows, rank) of each matrix, named as PEFT names them (the
    /// store's parameters are `<layer>.lora_A.weight`, `<layer>.lora_B.weight`).
    public static func factors(of matrices: [PrunableMatrix], rank: Int) -> [(layer: String, name: String, shape: [Int])] {
        matrices.flatMap { matrix in
            [(matrix.layerName, "lora_A.weight", [rank, matrix.fanIn]), (matrix.layerName, "lora_B.weight", [matrix.rows, rank])]
        }
    }

    private func attachBranches() { for target in targets { target.matrix.branch = target.branch } }
    private func detachBranches() { for target in targets { target.matrix.branch = nil } }

    /// Adapter parameters (what is trained instead of the targets' rows × fanIn each).
    public var parameterCount: Int { store.parameterCount }

    /// Folded: W = W₀ + s·B·A ⊙ M for every target. Beside: the masked form's ΔW = s·(B·A ⊙ M)
    /// for its branch (the weights stay W₀); nothing for the unmasked form, whose branch reads
    /// A and B directly.
    public func materialize() {
        for target in targets {
            switch (path, form) {
            case (.folded, _): writeMerge(target, into: target.matrix.value)
            case (.beside, .masked): target.branch!.updateDelta(scale: scale)
            case (.beside, .unmasked): break
            }
        }
    }

    /// `out` (rows, fanIn) = the form's merge: W₀ + s·(B·A ⊙ M), or W₀ + s·B·A.
    private func writeMerge(_ target: Target, into out: Tensor) {
        if form == .masked {
            // (B·A ⊙ M): the product in place, masked, then scaled onto the base.
            matmul(target.b.value, target.a.value, into: out, alpha: scale)
            multiply(out, target.matrix.mask, into: out)
            add(out, target.base, into: out)
        } else {
            plainMerge(target, into: out)
        }
    }

    /// `out` (rows, fanIn) = W₀ + s·B·A, the target's unmasked merge.
    func plainMerge(_ target: Target, into out: Tensor) {
        out.assign(from: target.base)
        matmul(target.b.value, target.a.value, into: out, alpha: scale, beta: 1)
    }

    /// Folded: ∂L/∂B += Ĝ·Aᵀ and ∂L/∂A += Bᵀ·Ĝ, Ĝ = s·(G ⊙ M), from each target's G = ∂L/∂W.
    /// Beside: nothing (the branches accumulated their gradients in the layers' backward).
    public func backpropagate() {
        guard path == .folded else { return }
        for target in targets {
            let g = target.matrix.grad
            multiply(g, target.matrix.mask, into: g)
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
        detachBranches()
        for (target, flags) in zip(targets, originalFlags) {
            writeMerge(target, into: target.matrix.value)
            multiply(target.matrix.value, target.matrix.mask, into: target.matrix.value)
            target.matrix.parameter.flags.trainable = flags.trainable
            target.matrix.parameter.flags.gradientForReparametrization = flags.gradient
        }
    }

    /// `body` run with the targets at the plain merge W₀ + s·B·A and no branches (the weights
    /// and branches are put back after): what a LoRA merge that ignores the masks computes.
    public func withUnmaskedMerge<T>(_ body: () throws -> T) rethrows -> T {
        detachBranches()
        for target in targets { plainMerge(target, into: target.matrix.value) }
        defer {
            if path == .beside { for target in targets { target.matrix.value.assign(from: target.base) } }
            attachBranches()
            materialize()
        }
        return try body()
    }

    /// `body` run with the targets holding the frozen base W₀ (what a checkpoint saves beside
    /// A and B, so a resume rebuilds the adapters exactly); folded weights are rewritten after.
    public func withBaseWeights<T>(_ body: () throws -> T) rethrows -> T {
        guard path == .folded else { return try body() }
        for target in targets { target.matrix.value.assign(from: target.base) }
        defer { materialize() }
        return try body()
    }

    /// The dropout generator's state, which a checkpoint between federated rounds keeps.
    public var dropoutState: [UInt64] {
        get { dropoutGenerator.stateArray }
        set { dropoutGenerator = SeededGenerator(stateArray: newValue) }
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
