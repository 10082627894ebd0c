import TopiaryNN
import TopiaryTensor

/// First-order Taylor saliency Σ_k |w · ∂L_k/∂w| over K calibration batches (Molchanov et
/// al. 2017, per weight): the estimated change of the loss when w is set to 0, with the
/// absolute value taken per batch so opposite-signed batches do not cancel.
public struct TaylorScorer: ImportanceScorer {
    public let name = "taylor"
    public init() {}

    public func scores(for targets: [PrunableMatrix], context: inout ScoringContext) throws -> [Tensor] {
        let accumulators = targets.map { Tensor(zeros: [$0.rows, $0.fanIn]) }
        context.forEachCalibrationGradient {
            for (matrix, accumulator) in zip(targets, accumulators) {
                accumulateAbsoluteProduct(matrix.value, matrix.grad, into: accumulator)
            }
        }
        return accumulators
    }
}
