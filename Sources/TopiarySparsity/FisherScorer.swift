import TopiaryNN
import TopiaryTensor

/// Fisher / Optimal Brain Damage (LeCun et al. 1990): the loss rises by about ½·w²·H_ii when
/// w is removed, with the Hessian diagonal approximated by the empirical Fisher
/// F_ii = mean over samples of (∂L_s/∂w_i)² — per-sample squared gradients, not the square of
/// the batch mean.
///
/// For a Linear layer ∂L_s/∂W = δ_s x_sᵀ, so Σ_s (∂L_s/∂W_ij)² = Σ_s δ_si² x_sj²: one GEMM
/// (δ⊙δ)ᵀ(x⊙x) per batch. δ_s is the gradient of sample s's own loss (the mean loss's
/// backprop signal times B).
public struct FisherScorer: ImportanceScorer {
    public let name = "fisher"
    public init() {}

    public func scores(for targets: [Parameter], context: inout ScoringContext) throws -> [Tensor] {
        let layers = context.model.linearLayers(owning: targets)
        var sums: [Int: Tensor] = [:]  // by parameter offset
        for layer in layers {
            let sum = Tensor(zeros: layer.weight.shape)
            sums[layer.weight.offset] = sum
            layer.onBackward = { x, dY in
                let b = Float(x.rows)
                let squaredInput = Tensor(zeros: x.shape), squaredSignal = Tensor(zeros: dY.shape)
                multiply(x, x, into: squaredInput)
                multiply(dY, dY, into: squaredSignal)
                // Σ_s (B·δ_s)² ⊗ x_s²  =  B² · (δ⊙δ)ᵀ (x⊙x)
                matmul(squaredSignal, transposeA: true, squaredInput, into: sum, alpha: b * b, beta: 1)
            }
        }
        defer { for layer in layers { layer.onBackward = nil } }
        context.forEachCalibrationGradient { }
        let n = Float(context.calibrationRows)
        return targets.map { parameter in
            let fisher = sums[parameter.offset]!
            let score = Tensor(zeros: parameter.shape)
            for i in 0..<score.count { score[i] = 0.5 * parameter.value[i] * parameter.value[i] * fisher[i] / n }
            return score
        }
    }
}
