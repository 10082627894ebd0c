import Foundation
import TopiaryNN
import TopiaryTensor

/// Wanda (Sun et al. 2024), pruning by weights and activations: |W_ij| · ‖X_j‖₂, with ‖X_j‖₂
/// the norm of fan-in column j over all calibration rows reaching the matrix (a Linear's
/// samples, a convolution's unrolled patches, a transformer's tokens). No gradients. The paper
/// compares scores within each output row: use it with `scope: per_row`.
public struct WandaScorer: ImportanceScorer {
    public let name = "wanda"
    public init() {}

    public func scores(for targets: [PrunableMatrix], context: inout ScoringContext) throws -> [Tensor] {
        let squaredNorms = targets.map { [Double](repeating: 0, count: $0.fanIn) }
        let sums = squaredNorms.map { Box($0) }
        for (matrix, sum) in zip(targets, sums) {
            matrix.observer.onForward = { x, _ in
                for r in 0..<x.rows {
                    let row = x.pointer + r * x.columns
                    for j in 0..<x.columns { sum.value[j] += Double(row[j]) * Double(row[j]) }
                }
            }
        }
        defer { for matrix in targets { matrix.observer.onForward = nil } }
        context.forEachCalibrationBatch { batch in _ = context.model.forward(batch.inputs) }
        return zip(targets, sums).map { matrix, sum in
            let norms = sum.value.map { Float($0.squareRoot()) }
            let (rows, columns) = (matrix.rows, matrix.fanIn)
            let score = Tensor(zeros: [rows, columns])
            for i in 0..<rows { for j in 0..<columns { score[i * columns + j] = abs(matrix.value[i * columns + j]) * norms[j] } }
            return score
        }
    }
}

/// A mutable value a listener closure can add to.
final class Box<Value> {
    var value: Value
    init(_ value: Value) { self.value = value }
}
