import TopiaryNN
import TopiaryTensor

/// One pruning granularity as the runner sees it: how scores become masks at a stage's
/// target sparsity, and the check that the masks afterwards realise that target. The two
/// live together so a new granularity cannot be selected one way and checked another.
public protocol MaskSelection: Sendable {
    /// Prunes `targets` (the prunable matrices, in model order) to `target` given one score
    /// tensor per target.
    func select(_ targets: [PrunableMatrix], scores: [Tensor], to target: Double) throws
    /// Nil when the masks realise `target`; else the target of the first layer (or the
    /// whole model) that misses it and what it realises.
    func miss(_ targets: [PrunableMatrix], target: Double) -> (target: Double, realised: Double)?
}

/// Unstructured pruning at any `UnstructuredPruner.Scope` but channels and N:M (global with a
/// minimum density per layer, per layer, per row).
public struct UnstructuredSelection: MaskSelection {
    public let scope: UnstructuredPruner.Scope
    public let minimumDensity: Double
    public init(scope: UnstructuredPruner.Scope, minimumDensity: Double = 0) {
        self.scope = scope
        self.minimumDensity = minimumDensity
    }
    public func select(_ targets: [PrunableMatrix], scores: [Tensor], to target: Double) throws {
        try UnstructuredPruner(scope: scope, minimumDensity: minimumDensity).prune(targets, scores: scores, to: target)
    }
    public func miss(_ targets: [PrunableMatrix], target: Double) -> (target: Double, realised: Double)? {
        SparsityAccounting(targets).miss(target: target, scope: scope)
    }
}

/// Per-layer targets that differ by layer: at a stage of nominal sparsity s, layer L is
/// pruned to `finalTargets[L] · s / lastStage` (layers not listed: s), so every layer
/// reaches its own final target at the last stage.
public struct LayerTargetSelection: MaskSelection {
    public let finalTargets: [String: Double]
    public let lastStage: Double
    public init(finalTargets: [String: Double], lastStage: Double) {
        self.finalTargets = finalTargets
        self.lastStage = lastStage
    }
    public func target(for layer: String, stage: Double) -> Double {
        guard let final = finalTargets[layer], lastStage > 0 else { return stage }
        return final * stage / lastStage
    }
    public func select(_ targets: [PrunableMatrix], scores: [Tensor], to target: Double) throws {
        for (matrix, score) in zip(targets, scores) {
            try UnstructuredPruner(scope: .perLayer).prune([matrix], scores: [score], to: self.target(for: matrix.layerName, stage: target))
        }
    }
    public func miss(_ targets: [PrunableMatrix], target: Double) -> (target: Double, realised: Double)? {
        for layer in SparsityAccounting(targets).layers {
            let wanted = self.target(for: layer.name, stage: target)
            if !layer.realises(wanted) { return (wanted, layer.sparsity) }
        }
        return nil
    }
}

/// N:M semi-structured pruning: in every group of M consecutive weights of a row's fan-in,
/// N stay; the target is N:M's own sparsity, 1 − N/M.
public struct NMSelection: MaskSelection {
    public let n: Int, m: Int
    public init(n: Int, m: Int) {
        self.n = n
        self.m = m
    }
    public func select(_ targets: [PrunableMatrix], scores: [Tensor], to target: Double) throws {
        try NMPruner(n: n, m: m).prune(targets, scores: scores)
    }
    public func miss(_ targets: [PrunableMatrix], target: Double) -> (target: Double, realised: Double)? {
        SparsityAccounting(targets).miss(target: target, scope: .nm)
    }
}

/// Whole output channels (neurons, filters) of every matrix the model lets lose rows, with
/// their companions and their consumers' columns; `target` is the fraction of each such
/// matrix's channels removed.
public struct ChannelSelection: MaskSelection {
    /// Per target (same order), what else goes with a row; nil: the target keeps its rows.
    public let couplings: @Sendable (PrunableMatrix) -> ChannelCoupling?
    public let norm: ChannelPruner.Norm
    public init(norm: ChannelPruner.Norm = .l2, couplings: @escaping @Sendable (PrunableMatrix) -> ChannelCoupling?) {
        self.norm = norm
        self.couplings = couplings
    }
    public func select(_ targets: [PrunableMatrix], scores: [Tensor], to target: Double) throws {
        try ChannelPruner(norm: norm).prune(targets, scores: scores, couplings: targets.map(couplings), to: target)
    }
    public func miss(_ targets: [PrunableMatrix], target: Double) -> (target: Double, realised: Double)? {
        for matrix in targets {
            guard let coupling = couplings(matrix) else { continue }
            let realised = ChannelPruner.channelSparsity(matrix, coupling: coupling)
            if !SparsityAccounting.realises(realised, target, units: coupling.units(rows: matrix.rows).count) { return (target, realised) }
        }
        return nil
    }
}
