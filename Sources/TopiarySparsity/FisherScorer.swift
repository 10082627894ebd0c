import TopiaryNN
import TopiaryTensor

/// Fisher / Optimal Brain Damage (LeCun et al. 1990): the loss rises by about ½·w²·H_ii when
/// w is removed, with the Hessian diagonal approximated by the empirical Fisher
/// F_ii = mean over samples of (∂L_s/∂w_i)² — per-sample squared gradients, not the square of
/// the batch mean.
///
/// A sample's gradient is ∂L_s/∂W = Σ_p δ_{s,p} x_{s,p}ᵀ over the positions p where the matrix
/// applies, δ the gradient of the sample's own loss (the mean loss's backprop signal times
/// B). With one position (a Linear on (B, in)) that is δ_s x_sᵀ, and Σ_s (∂L_s/∂W_ij)² =
/// Σ_s δ_si² x_sj²: one GEMM (δ⊙δ)ᵀ(x⊙x) per batch. With several (a convolution) each
/// sample's gradient is formed by one GEMM, then squared.
public struct FisherScorer: ImportanceScorer {
    public let name = "fisher"
    public init() {}

    public func scores(for targets: [PrunableMatrix], context: inout ScoringContext) throws -> [Tensor] {
        let sums = targets.map { Tensor(zeros: [$0.rows, $0.fanIn]) }
        for (matrix, sum) in zip(targets, sums) {
            matrix.observer.onBackward = { x, dY, samples in
                let b = Float(samples)
                let positions = x.rows / samples
                if positions == 1 {
                    let squaredInput = Tensor(zeros: x.shape), squaredSignal = Tensor(zeros: dY.shape)
                    multiply(x, x, into: squaredInput)
                    multiply(dY, dY, into: squaredSignal)
                    // Σ_s (B·δ_s)² ⊗ x_s²  =  B² · (δ⊙δ)ᵀ (x⊙x)
                    matmul(squaredSignal, transposeA: true, squaredInput, into: sum, alpha: b * b, beta: 1)
                    return
                }
                let gradient = Tensor(zeros: sum.shape)
                for s in 0..<samples {
                    // G_s (rows, fanIn) = B · δ_sᵀ X_s over the sample's positions.
                    matmul(dY.rowSlice(s * positions, count: positions), transposeA: true, x.rowSlice(s * positions, count: positions),
                           into: gradient, alpha: b)
                    simdMap(sum.count, gradient.pointer, sum.pointer, sum.pointer, { $0 * $0 + $1 }, { $0 * $0 + $1 })
                }
            }
        }
        defer { for matrix in targets { matrix.observer.onBackward = nil } }
        context.forEachCalibrationGradient { }
        let n = Float(context.calibrationRows)
        return zip(targets, sums).map { matrix, fisher in
            let score = Tensor(zeros: [matrix.rows, matrix.fanIn])
            for i in 0..<score.count { score[i] = 0.5 * matrix.parameter.value[i] * matrix.parameter.value[i] * fisher[i] / n }
            return score
        }
    }
}
