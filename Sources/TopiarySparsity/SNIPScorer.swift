import TopiaryNN
import TopiaryTensor

/// SNIP (Lee et al. 2019), connection sensitivity: |w ⊙ g| / Σ|w ⊙ g| with g the gradient of
/// the loss summed over the calibration batches (one gradient, then the absolute value —
/// unlike Taylor, which takes |w·g| per batch). Meant for pruning at initialisation (set
/// training.epochs: 0); the normalisation is over all targets, so scores sum to 1.
public struct SNIPScorer: ImportanceScorer {
    public let name = "snip"
    public init() {}

    public func scores(for targets: [PrunableMatrix], context: inout ScoringContext) throws -> [Tensor] {
        let gradients = targets.map { Tensor(zeros: [$0.rows, $0.fanIn]) }
        context.forEachCalibrationGradient {
            for (matrix, sum) in zip(targets, gradients) {
                simdMap(sum.count, sum.pointer, matrix.parameter.grad.pointer, sum.pointer, { $0 + $1 }, { $0 + $1 })
            }
        }
        var total = 0.0
        let scores = zip(targets, gradients).map { matrix, g in
            let score = Tensor(zeros: [matrix.rows, matrix.fanIn])
            for i in 0..<score.count {
                score[i] = abs(matrix.parameter.value[i] * g[i])
                total += Double(score[i])
            }
            return score
        }
        if total > 0 { for score in scores { scaleInPlace(score, by: Float(1 / total)) } }
        return scores
    }
}
