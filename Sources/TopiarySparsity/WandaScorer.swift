import Foundation
import TopiaryNN
import TopiaryTensor

/// Wanda (Sun et al. 2024), pruning by weights and activations: |W_ij| · ‖X_j‖₂, with ‖X_j‖₂
/// the norm of input feature j over all calibration samples reaching the layer. No
/// gradients. The paper compares scores within each output row: use it with
/// `scope: per_row`.
public struct WandaScorer: ImportanceScorer {
    public let name = "wanda"
    public init() {}

    public func scores(for targets: [Parameter], context: inout ScoringContext) throws -> [Tensor] {
        let layers = context.model.linearLayers(owning: targets)
        var squaredNorms: [Int: [Double]] = [:]
        for layer in layers {
            let offset = layer.weight.offset
            squaredNorms[offset] = [Double](repeating: 0, count: layer.inFeatures)
            layer.onForward = { x in
                for r in 0..<x.rows {
                    let row = x.pointer + r * x.columns
                    for j in 0..<x.columns { squaredNorms[offset]![j] += Double(row[j]) * Double(row[j]) }
                }
            }
        }
        defer { for layer in layers { layer.onForward = nil } }
        context.forEachCalibrationBatch { batch in _ = context.model.forward(batch.inputs) }
        return targets.map { parameter in
            let norms = squaredNorms[parameter.offset]!.map { Float($0.squareRoot()) }
            let (rows, columns) = (parameter.shape[0], parameter.shape[1])
            let score = Tensor(zeros: parameter.shape)
            for i in 0..<rows { for j in 0..<columns { score[i * columns + j] = abs(parameter.value[i * columns + j]) * norms[j] } }
            return score
        }
    }
}
