import TopiaryNN
import TopiaryTensor

/// Structured pruning of whole output channels (neurons of a Linear, filters of a
/// convolution): a channel's score is the norm (L1 or L2) of its row's scores over the weights
/// still alive, times |γ|/√(σ²+ε) when a BatchNorm scales that channel (what the network
/// really sees of it); in every matrix the model lets lose rows (`ChannelCoupling`), the
/// lowest-scored channels go until max(1, round(rows · (1 − fraction))) are left, halves
/// rounded to even (as the reference script counts with Python's round: 6 filters at 75 %
/// keep 2, not 1), so no layer is ever emptied.
///
/// A removed channel loses its weight row, its bias, and its BatchNorm gain and shift, so it
/// outputs exactly 0 (every activation here maps 0 to 0); the matrices that read it lose the
/// matching columns. The model can then be compacted — fewer rows here, fewer columns there —
/// without changing a single output (tested). Matrices without a coupling (the output layer,
/// a residual branch's last) keep all their rows.
public struct ChannelPruner: Sendable {
    public enum Norm: String, Sendable, Codable, CaseIterable { case l1, l2 }
    public let norm: Norm
    public init(norm: Norm = .l2) { self.norm = norm }

    /// Every target's channels are chosen first, from the masks as they are, and removed
    /// after (as PyTorch's L1 filter pruning picks each layer's filters from the model before
    /// the stage), so one layer's choice does not depend on the order of the layers.
    /// - Returns: channels removed per target (0 for uncoupled ones).
    @discardableResult
    public func prune(_ targets: [PrunableMatrix], scores: [Tensor], couplings: [ChannelCoupling?], to fraction: Double) throws -> [Int] {
        require(targets.count == scores.count && targets.count == couplings.count, "one score tensor and coupling per target")
        require(fraction >= 0 && fraction < 1, "the fraction of channels must lie in [0, 1), but got \(fraction)")
        let chosen = try zip(zip(targets, scores), couplings).map { pair, coupling -> [[Int]] in
            let (matrix, score) = pair
            guard let coupling else { return [] }
            let units = coupling.units(rows: matrix.rows)
            let alive = units.filter { $0.contains { ChannelPruner.isAlive(matrix, row: $0) } }
            let wanted = units.count - max(1, Int((Double(units.count) * (1 - fraction)).rounded(.toNearestOrEven)))
            guard wanted >= units.count - alive.count else {
                throw PruningError.sparsityBelowCurrent(target: fraction, current: Double(units.count - alive.count) / Double(units.count),
                                                        layers: [matrix.layerName])
            }
            let scale = coupling.rowScale?()
            // A row's norm times its scale; a unit of several rows: the norm of those.
            let unitScores = alive.enumerated().map { index, rows -> (Float, Int) in
                let rowValues = rows.map { i -> Float in
                    var sum: Float = 0
                    for j in 0..<matrix.fanIn where matrix.parameter.mask[i * matrix.fanIn + j] != 0 {
                        let s = score[i * matrix.fanIn + j]
                        sum += norm == .l1 ? abs(s) : s * s
                    }
                    return (norm == .l1 ? sum : sum.squareRoot()) * (scale?[i] ?? 1)
                }
                guard rowValues.count > 1 else { return (rowValues[0], index) }
                return (norm == .l1 ? rowValues.reduce(0, +) : rowValues.reduce(0) { $0 + $1 * $1 }.squareRoot(), index)
            }
            return unitScores.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.prefix(wanted - (units.count - alive.count)).map { alive[$0.1] }
        }
        for ((matrix, coupling), units) in zip(zip(targets, couplings), chosen) {
            for unit in units { for i in unit { ChannelPruner.remove(row: i, of: matrix, coupling: coupling!) } }
        }
        return chosen.map(\.count)
    }

    /// Zeroes row i (mask, value, gradient), its companions at i, and its consumers' columns.
    public static func remove(row i: Int, of matrix: PrunableMatrix, coupling: ChannelCoupling) {
        for j in 0..<matrix.fanIn { clear(matrix.parameter, i * matrix.fanIn + j) }
        for companion in coupling.companions { clear(companion, i) }
        for (consumer, columnsOfRow) in coupling.consumers {
            for r in 0..<consumer.rows { for j in columnsOfRow[i] { clear(consumer.parameter, r * consumer.fanIn + j) } }
        }
    }

    private static func clear(_ parameter: Parameter, _ index: Int) {
        parameter.mask[index] = 0
        parameter.value[index] = 0
        parameter.grad[index] = 0
    }

    /// A channel is alive while any weight of its row is.
    public static func isAlive(_ matrix: PrunableMatrix, row i: Int) -> Bool {
        (0..<matrix.fanIn).contains { matrix.parameter.mask[i * matrix.fanIn + $0] != 0 }
    }

    /// Fraction of a matrix's units (channels, heads) removed: a unit is gone when all its rows are.
    public static func channelSparsity(_ matrix: PrunableMatrix, coupling: ChannelCoupling? = nil) -> Double {
        let units = coupling?.units(rows: matrix.rows) ?? (0..<matrix.rows).map { [$0] }
        return Double(units.filter { !$0.contains { isAlive(matrix, row: $0) } }.count) / Double(units.count)
    }
}
