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
        // Σ over calibration rows of x_j², per fan-in column j, in Double (rows can be many
        // unrolled patches); one buffer per target, freed when scoring ends.
        let sums = targets.map { matrix in
            let buffer = UnsafeMutableBufferPointer<Double>.allocate(capacity: matrix.fanIn)
            buffer.initialize(repeating: 0)
            return buffer
        }
        defer { for buffer in sums { buffer.deallocate() } }
        for (matrix, sum) in zip(targets, sums) {
            matrix.observer.onForward = { x, _ in
                let columns = x.columns
                precondition(columns == sum.count, "\(matrix.name): fan-in \(sum.count), observed \(columns) columns")
                let total = sum.baseAddress!
                for r in 0..<x.rows {
                    let row = x.pointer + r * columns
                    for j in 0..<columns { total[j] += Double(row[j]) * Double(row[j]) }
                }
            }
        }
        defer { for matrix in targets { matrix.observer.onForward = nil } }
        context.forwardCalibration(reaching: targets)
        return zip(targets, sums).map { matrix, sum in
            let norms = sum.map { Float($0.squareRoot()) }
            let (rows, columns) = (matrix.rows, matrix.fanIn)
            let score = Tensor(zeros: [rows, columns])
            let (target, weights) = (score.pointer, UnsafePointer(matrix.parameter.value.pointer))
            for i in 0..<rows { for j in 0..<columns { target[i * columns + j] = abs(weights[i * columns + j]) * norms[j] } }
            return score
        }
    }
}
