import TopiaryNN
import TopiaryTensor

/// Alive and total counts of the prunable weights, per layer and overall.
public struct SparsityAccounting: Sendable, Equatable {
    public struct Layer: Sendable, Equatable {
        public let name: String
        public let total: Int
        public let alive: Int
        /// Alive weights of each output row (empty when not known).
        public var aliveByRow: [Int] = []
        public var sparsity: Double { total == 0 ? 0 : 1 - Double(alive) / Double(total) }

        /// Within half a weight of `target`: what one exact prune of this layer produces.
        public func realises(_ target: Double) -> Bool { SparsityAccounting.realises(sparsity, target, units: total) }
    }

    /// Whether a sparsity `realised` over `units` (weights, or neurons) is what pruning
    /// exactly to `target` gives: one prune rounds to a whole unit, so within half of one.
    public static func realises(_ realised: Double, _ target: Double, units: Int) -> Bool {
        abs(realised - target) * Double(units) <= 0.5 + 1e-9
    }

    public let layers: [Layer]
    public init(_ targets: [PrunableMatrix]) {
        layers = targets.map { parameter in
            let (rows, columns) = (parameter.rows, parameter.fanIn)
            let mask = parameter.parameter.mask.pointer
            let byRow = (0..<rows).map { row in (0..<columns).reduce(0) { $0 + (mask[row * columns + $1] != 0 ? 1 : 0) } }
            return Layer(name: parameter.layerName, total: parameter.count, alive: byRow.reduce(0, +), aliveByRow: byRow)
        }
    }

    init(layers: [Layer]) { self.layers = layers }

    public var total: Int { layers.reduce(0) { $0 + $1.total } }
    public var alive: Int { layers.reduce(0) { $0 + $1.alive } }
    public var sparsity: Double { total == 0 ? 0 : 1 - Double(alive) / Double(total) }

    /// Where the masks miss what pruning to `target` at `scope` must produce, as (target,
    /// realised there); nil when they realise it. Each prune rounds once per unit it counts
    /// in, so: global — the total within half a weight; per layer — every layer; per row —
    /// every row; N:M — exactly (it fixes the count). Channel targets count channels, not
    /// weights (`ChannelSelection` checks them).
    public func miss(target: Double, scope: UnstructuredPruner.Scope) -> (target: Double, realised: Double)? {
        switch scope {
        case .global:
            return SparsityAccounting.realises(sparsity, target, units: total) ? nil : (target, sparsity)
        case .nm:
            return abs(sparsity - target) < 1e-9 ? nil : (target, sparsity)
        case .perLayer:
            return layers.first { !$0.realises(target) }.map { (target, $0.sparsity) }
        case .perRow:
            for layer in layers {
                guard !layer.aliveByRow.isEmpty else {
                    if !layer.realises(target) { return (target, layer.sparsity) }
                    continue
                }
                let columns = layer.total / layer.aliveByRow.count
                for alive in layer.aliveByRow {
                    let realised = 1 - Double(alive) / Double(columns)
                    if !SparsityAccounting.realises(realised, target, units: columns) { return (target, realised) }
                }
            }
            return nil
        case .channels:
            fatalError("channel targets count channels; ChannelSelection checks them")
        }
    }

    /// Whether the masks realise `target` at `scope` (see `miss`).
    public func matches(target: Double, scope: UnstructuredPruner.Scope) -> Bool { miss(target: target, scope: scope) == nil }
}
