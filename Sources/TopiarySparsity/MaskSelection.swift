import TopiaryNN
import TopiaryTensor

/// One pruning granularity as the runner sees it: how scores become masks at a stage's
/// target sparsity, and the check that the masks afterwards realise that target. The two
/// live together so a new granularity cannot be selected one way and checked another.
public protocol MaskSelection: Sendable {
    /// Prunes `targets` (the prunable weights, in model order) to `target` given one score
    /// tensor per target.
    func select(_ targets: [Parameter], scores: [Tensor], to target: Double) throws
    /// Nil when the masks realise `target`; else the target of the first layer (or the
    /// whole model) that misses it and what it realises.
    func miss(_ targets: [Parameter], target: Double) -> (target: Double, realised: Double)?
}

/// Unstructured pruning at any `UnstructuredPruner.Scope` but neurons and N:M (global with a
/// minimum density per layer, per layer, per row).
public struct UnstructuredSelection: MaskSelection {
    public let scope: UnstructuredPruner.Scope
    public let minimumDensity: Double
    public init(scope: UnstructuredPruner.Scope, minimumDensity: Double = 0) {
        self.scope = scope
        self.minimumDensity = minimumDensity
    }
    public func select(_ targets: [Parameter], scores: [Tensor], to target: Double) throws {
        try UnstructuredPruner(scope: scope, minimumDensity: minimumDensity).prune(targets, scores: scores, to: target)
    }
    public func miss(_ targets: [Parameter], target: Double) -> (target: Double, realised: Double)? {
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
    public func select(_ targets: [Parameter], scores: [Tensor], to target: Double) throws {
        for (parameter, score) in zip(targets, scores) {
            try UnstructuredPruner(scope: .perLayer).prune([parameter], scores: [score], to: self.target(for: parameter.layerName, stage: target))
        }
    }
    public func miss(_ targets: [Parameter], target: Double) -> (target: Double, realised: Double)? {
        for layer in SparsityAccounting(targets).layers {
            let wanted = self.target(for: layer.name, stage: target)
            if !layer.realises(wanted) { return (wanted, layer.sparsity) }
        }
        return nil
    }
}

/// N:M semi-structured pruning: in every group of M consecutive weights of a row, N stay;
/// the target is N:M's own sparsity, 1 − N/M.
public struct NMSelection: MaskSelection {
    public let n: Int, m: Int
    public init(n: Int, m: Int) {
        self.n = n
        self.m = m
    }
    public func select(_ targets: [Parameter], scores: [Tensor], to target: Double) throws {
        try NMPruner(n: n, m: m).prune(targets, scores: scores)
    }
    public func miss(_ targets: [Parameter], target: Double) -> (target: Double, realised: Double)? {
        SparsityAccounting(targets).miss(target: target, scope: .nm)
    }
}

/// Whole hidden neurons (rows with their biases) of every layer but the output layer,
/// `target` being the fraction of each hidden layer's neurons removed.
public struct NeuronSelection: MaskSelection {
    /// The model's bias of each weight matrix, by layer name.
    public let biases: [String: Parameter]
    /// The output layer, never thinned (its rows are the classes).
    public let outputLayer: String
    public init(biases: [String: Parameter], outputLayer: String) {
        self.biases = biases
        self.outputLayer = outputLayer
    }
    public func select(_ targets: [Parameter], scores: [Tensor], to target: Double) throws {
        let hidden = zip(targets, scores).filter { $0.0.layerName != outputLayer }
        try NeuronPruner().prune(hidden.map { ($0.0, biases[$0.0.layerName]!) }, scores: hidden.map(\.1), to: target)
    }
    public func miss(_ targets: [Parameter], target: Double) -> (target: Double, realised: Double)? {
        for weight in targets where weight.layerName != outputLayer {
            let realised = NeuronPruner.neuronSparsity(weight)
            if !SparsityAccounting.realises(realised, target, units: weight.shape[0]) { return (target, realised) }
        }
        return nil
    }
}
