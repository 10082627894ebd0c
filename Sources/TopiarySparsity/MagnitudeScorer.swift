import TopiaryNN
import TopiaryTensor

/// |w|: the classic baseline (Han et al. 2015); PyTorch's L1Unstructured.
public struct MagnitudeScorer: ImportanceScorer {
    public let name = "magnitude"
    public init() {}

    public func scores(for targets: [Parameter], context: inout ScoringContext) throws -> [Tensor] {
        targets.map { parameter in
            let score = Tensor(zeros: parameter.shape)
            simdMap(parameter.count, parameter.value.pointer, score.pointer,
                    { $0.replacing(with: -$0, where: $0 .< 0) }, { abs($0) })
            return score
        }
    }
}
