import TopiaryNN
import TopiaryTensor

/// Uniform random scores: the baseline any real criterion must beat.
public struct RandomScorer: ImportanceScorer {
    public let name = "random"
    public init() {}

    public func scores(for targets: [PrunableMatrix], context: inout ScoringContext) throws -> [Tensor] {
        targets.map { matrix in
            let score = Tensor(zeros: [matrix.rows, matrix.fanIn])
            for i in 0..<score.count { score[i] = context.generator.nextUnitFloat() }
            return score
        }
    }
}
