import TopiaryNN
import TopiaryTensor

/// Alive and total counts of the prunable weights, per layer and overall.
public struct SparsityAccounting: Sendable, Equatable {
    public struct Layer: Sendable, Equatable {
        public let name: String
        public let total: Int
        public let alive: Int
        /// Output rows (per-row pruning rounds once per row).
        public var rows: Int = 1
        public var sparsity: Double { total == 0 ? 0 : 1 - Double(alive) / Double(total) }
    }

    public let layers: [Layer]
    public init(_ targets: [Parameter]) {
        layers = targets.map { Layer(name: $0.layerName, total: $0.count, alive: countNonzeros($0.mask), rows: $0.shape[0]) }
    }

    init(layers: [Layer]) { self.layers = layers }

    public var total: Int { layers.reduce(0) { $0 + $1.total } }
    public var alive: Int { layers.reduce(0) { $0 + $1.alive } }
    public var sparsity: Double { total == 0 ? 0 : 1 - Double(alive) / Double(total) }

    /// Whether `sparsity` is what pruning to `target` must produce: within half a weight per
    /// rounding (one per layer for per-layer pruning).
    public func matches(target: Double, scope: UnstructuredPruner.Scope) -> Bool {
        let roundingSlack: Double
        switch scope {
        case .global: roundingSlack = 0.5
        case .perRow: roundingSlack = 0.5 * Double(layers.reduce(0) { $0 + $1.rows })
        case .perLayer, .nm, .neurons: roundingSlack = 0.5 * Double(layers.count)
        }
        if scope == .nm { return abs(sparsity - target) < 1e-9 }
        return abs(sparsity - target) * Double(total) <= roundingSlack + 1e-9
    }
}
