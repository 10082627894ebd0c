import TopiaryNN
import TopiaryTensor

/// |w|: the classic baseline (Han et al. 2015); PyTorch's L1Unstructured.
public struct MagnitudeScorer: ImportanceScorer {
    public let name = "magnitude"
    public init() {}

    public func scores(for targets: [PrunableMatrix], context: inout ScoringContext) throws -> [Tensor] {
        targets.map { matrix in
            let score = Tensor(zeros: [matrix.rows, matrix.fanIn])
            simdMap(matrix.count, matrix.parameter.value.pointer, score.pointer,
                    { $0.replacing(with: -$0, where: $0 .< 0) }, { abs($0) })
            return score
        }
    }
}
