import Foundation
import TopiaryNN
import TopiaryTensor

/// Movement pruning (Sanh et al. 2020): S = −Σ_t w_t · ∂L/∂w_t over the optimizer steps since
/// the last pruning (the runner accumulates it during training): weights moving away from
/// zero score high, weights shrinking toward it score low, whatever their size now.
public struct MovementScorer: ImportanceScorer {
    public let name = "movement"
    public init() {}

    public func scores(for targets: [PrunableMatrix], context: inout ScoringContext) throws -> [Tensor] {
        // All zero: no optimizer step since the last pruning, so the scores would be all ties.
        guard let movement = context.movement, movement.count == targets.count,
              movement.contains(where: { countNonzeros($0) > 0 }) else { throw ScoringError.movementNeedsTraining }
        return zip(targets, movement).map { $1.copy().reshaped([$0.rows, $0.fanIn]) }
    }

    /// accumulator −= w ⊙ g for each target: one optimizer step's movement.
    public static func accumulate(_ targets: [PrunableMatrix], into accumulators: [Tensor]) {
        for (matrix, accumulator) in zip(targets, accumulators) {
            simdMap(matrix.count, matrix.parameter.value.pointer, matrix.parameter.grad.pointer, accumulator.pointer, accumulator.pointer,
                    { w, g, acc in acc - w * g }, { w, g, acc in acc - w * g })
        }
    }
}

public enum ScoringError: Error, LocalizedError, Equatable {
    case movementNeedsTraining

    public var errorDescription: String? {
        switch self {
        case .movementNeedsTraining:
            return "the movement scorer needs optimizer steps since the last pruning (dense training or the previous stage's retraining); give them epochs > 0."
        }
    }
}
