import Foundation
import TopiaryNN
import TopiaryTensor

/// Chooses which alive weights to remove so the targets reach a sparsity, from scores.
///
/// - `global`: one ranking across all target layers (one threshold).
/// - `perLayer`: each layer reaches the sparsity on its own.
/// The count is exact: round(sparsity · n) weights are pruned (per layer, or over all targets
/// for global), so realised sparsity equals the target to within half a weight. New pruning
/// happens only among weights still alive, so masks only shrink. Ties in score are broken by
/// position (earlier layer, then lower row-major index, goes first), so masks are
/// deterministic.
public struct UnstructuredPruner: Sendable {
    public enum Scope: String, Sendable, Codable, CaseIterable {
        case global
        case perLayer = "per_layer"
        /// N:M semi-structured (see `NMPruner`; the spec's `n_of_m` gives N and M).
        case nm
        /// Each output row on its own (Wanda compares scores within a row).
        case perRow = "per_row"
        /// Whole output channels or neurons (see `ChannelPruner`): the target is the fraction
        /// of each prunable matrix's rows removed (`neurons` in earlier specs).
        case channels
    }

    public let scope: Scope
    /// Global scope: no layer keeps fewer than this fraction of its weights.
    public let minimumDensity: Double

    public init(scope: Scope, minimumDensity: Double = 0) {
        require(minimumDensity >= 0 && minimumDensity < 1, "minimum density must lie in [0, 1), got \(minimumDensity)")
        self.scope = scope
        self.minimumDensity = minimumDensity
    }

    /// Updates masks (and zeroes the newly pruned values and gradients) so the targets reach
    /// `sparsity`. Returns how many weights each target lost.
    /// - Parameter zeroValues: false leaves pruned values in place (OBS uses the old values for
    ///   its error terms and zeroes them itself).
    @discardableResult
    public func prune(_ targets: [PrunableMatrix], scores: [Tensor], to sparsity: Double, zeroValues: Bool = true) throws -> [Int] {
        require(targets.count == scores.count, "\(targets.count) targets but \(scores.count) score tensors")
        require(sparsity >= 0 && sparsity < 1, "sparsity must lie in [0, 1), but got \(sparsity)")
        for (parameter, score) in zip(targets, scores) {
            require(parameter.count == score.count, "\(parameter.name): score shape \(score.shape) does not match \(parameter.rows) × \(parameter.fanIn)")
            if let bad = (0..<score.count).first(where: { score[$0].isNaN }) {
                throw PruningError.invalidScore(parameter: parameter.name, index: bad)
            }
        }
        switch scope {
        case .global:
            return try pruneJointly(targets, scores, sparsity, zeroValues)
        case .perLayer:
            return try zip(targets, scores).map { try pruneJointly([$0], [$1], sparsity, zeroValues)[0] }
        case .perRow:
            return try zip(targets, scores).map { try pruneRows($0, $1, sparsity) }
        case .nm, .channels:
            fatalError("\(scope.rawValue) pruning goes through its own pruner")
        }
    }

    /// Every row of `target` (rows, fan-in) to round(sparsity · fan-in) pruned, lowest scores
    /// first (ties: lower column first). Keys are sorted as plain integers over raw buffers:
    /// a 135M-parameter model's rows take seconds, not minutes.
    private func pruneRows(_ target: PrunableMatrix, _ score: Tensor, _ sparsity: Double) throws -> Int {
        let (rows, columns) = (target.rows, target.fanIn)
        let wanted = Int((sparsity * Double(columns)).rounded())
        let (mask, value, grad, scores) = (target.parameter.mask.pointer, target.parameter.value.pointer, target.parameter.grad.pointer,
                                           UnsafePointer(score.pointer))
        var pruned = 0
        var keys: [UInt64] = []
        keys.reserveCapacity(columns)
        for i in 0..<rows {
            let row = i * columns
            keys.removeAll(keepingCapacity: true)
            for j in 0..<columns where mask[row + j] != 0 { keys.append(UInt64(orderedBits(scores[row + j])) << 32 | UInt64(j)) }
            let dead = columns - keys.count
            guard wanted >= dead else {
                throw PruningError.sparsityBelowCurrent(target: sparsity, current: Double(dead) / Double(columns),
                                                        layers: [target.layerName + " row \(i)"])
            }
            keys.sort()
            for key in keys.prefix(wanted - dead) {
                let j = row + Int(key & 0xFFFF_FFFF)
                (mask[j], value[j], grad[j]) = (0, 0, 0)
                pruned += 1
            }
        }
        return pruned
    }

    /// Ranks the alive weights of `targets` together and prunes the lowest-scored ones.
    private func pruneJointly(_ targets: [PrunableMatrix], _ scores: [Tensor], _ sparsity: Double, _ zeroValues: Bool) throws -> [Int] {
        let total = targets.reduce(0) { $0 + $1.count }
        require(total < Int(UInt32.max), "too many weights to rank jointly: \(total)")
        let wantedPruned = Int((sparsity * Double(total)).rounded())
        // Sort keys: order-preserving bits of the score in the high half, position in the low.
        var aliveKeys: [UInt64] = []
        aliveKeys.reserveCapacity(total)
        var base = 0
        for (parameter, score) in zip(targets, scores) {
            let mask = parameter.mask.pointer
            let s = score.pointer
            for i in 0..<parameter.count where mask[i] != 0 {
                aliveKeys.append(UInt64(orderedBits(s[i])) << 32 | UInt64(base + i))
            }
            base += parameter.count
        }
        let alreadyPruned = total - aliveKeys.count
        guard wantedPruned >= alreadyPruned else {
            throw PruningError.sparsityBelowCurrent(target: sparsity,
                                                    current: Double(alreadyPruned) / Double(total),
                                                    layers: targets.map(\.layerName))
        }
        let toPrune = wantedPruned - alreadyPruned
        var prunedPerTarget = [Int](repeating: 0, count: targets.count)
        if toPrune == 0 { return prunedPerTarget }
        // Only the `toPrune` smallest keys matter; a full sort of ~10⁵–10⁶ keys costs
        // milliseconds, well below one training step's worth of time per stage.
        aliveKeys.sort()
        let starts = targets.reduce(into: [0]) { $0.append($0.last! + $1.count) }
        // A layer at its minimum density is skipped; the next-lowest weight elsewhere goes instead.
        let caps = targets.map { $0.count - Int((minimumDensity * Double($0.count)).rounded(.up)) }
        var alreadyPrunedPerTarget = targets.map { $0.count - countNonzeros($0.mask) }
        var taken = 0
        for key in aliveKeys {
            if taken == toPrune { break }
            let position = Int(key & 0xFFFF_FFFF)
            var t = 0
            while position >= starts[t + 1] { t += 1 }
            guard alreadyPrunedPerTarget[t] < caps[t] else { continue }
            alreadyPrunedPerTarget[t] += 1
            taken += 1
            let i = position - starts[t]
            targets[t].mask[i] = 0
            if zeroValues { targets[t].value[i] = 0 }
            targets[t].grad[i] = 0
            prunedPerTarget[t] += 1
        }
        guard taken == toPrune else {
            throw PruningError.minimumDensityUnreachable(target: sparsity, minimumDensity: minimumDensity)
        }
        return prunedPerTarget
    }
}

/// Maps a Float to a UInt32 whose unsigned order equals the Float's numeric order
/// (negative scores, e.g. from movement pruning, sort below positive ones).
@inline(__always)
func orderedBits(_ x: Float) -> UInt32 {
    let bits = (x == 0 ? Float(0) : x).bitPattern // -0 and +0 rank equal
    return bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
}

public enum PruningError: Error, LocalizedError, Equatable {
    case sparsityBelowCurrent(target: Double, current: Double, layers: [String])
    case invalidScore(parameter: String, index: Int)
    case missedTarget(stage: Int, target: Double, realised: Double)
    case minimumDensityUnreachable(target: Double, minimumDensity: Double)

    public var errorDescription: String? {
        switch self {
        case .sparsityBelowCurrent(let target, let current, let layers):
            return "cannot prune \(layers.joined(separator: ", ")) to sparsity \(target): it is already at \(current) and masks only shrink. Use increasing stage targets."
        case .invalidScore(let parameter, let index):
            return "the scorer produced NaN for \(parameter)[\(index)]; training has probably diverged (lower the learning rate)."
        case .minimumDensityUnreachable(let target, let minimumDensity):
            return "sparsity \(target) cannot be reached while every layer keeps at least \(minimumDensity) of its weights; lower pruning.minimum_density or the target."
        case .missedTarget(let stage, let target, let realised):
            return "stage \(stage) asked for sparsity \(target) but realised \(realised): pruning did not reach its target."
        }
    }
}
