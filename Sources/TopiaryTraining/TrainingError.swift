import Foundation

/// Why a run's numbers cannot be trusted, said so a user can act: which phase, which step,
/// what the value was, and which spec key to change. A run never records a non-finite loss
/// or accuracy as a result; it fails with one of these and a `failed` report.
public enum TrainingError: Error, LocalizedError, Equatable {
    /// A batch's loss was not finite; the optimizer step was not taken.
    case diverged(phase: String, epoch: Int, step: Int, loss: Double, learningRate: Double, setting: String)
    /// A weight became NaN or infinite during the phase (e.g. in its last step).
    case nonFiniteWeights(phase: String, epoch: Int, parameter: String, index: Int, setting: String)
    /// Evaluating a trained model gave a non-finite loss (logits overflowed).
    case nonFiniteEvaluation(stage: Int, split: String, loss: Double)
    case prunedWeightRevived(parameter: String, index: Int)

    public var errorDescription: String? {
        switch self {
        case .diverged(let phase, let epoch, let step, let loss, let rate, let setting):
            return "training diverged in \(phase), epoch \(epoch), optimizer step \(step): the batch loss is \(TrainingError.describe(loss)) (learning rate \(rate) at that step). "
                + "Lower \(setting), add warm-up steps to its lr_schedule, or check the data for extreme values."
        case .nonFiniteWeights(let phase, let epoch, let parameter, let index, let setting):
            return "training diverged in \(phase), epoch \(epoch): weight \(parameter)[\(index)] is not finite. Lower \(setting), or add warm-up steps to its lr_schedule."
        case .nonFiniteEvaluation(let stage, let split, let loss):
            return "stage \(stage): the loss on the \(split) set is \(TrainingError.describe(loss)): the model's outputs overflow, so its accuracy would be meaningless. "
                + "The learning rate was probably too high for this model; lower it in the spec."
        case .prunedWeightRevived(let parameter, let index):
            return "internal error: pruned weight \(parameter)[\(index)] is nonzero after retraining (mask invariant broken). Please report this."
        }
    }

    /// "NaN" or "infinite" rather than Swift's "-nan".
    static func describe(_ value: Double) -> String { value.isNaN ? "NaN" : value.isInfinite ? "infinite" : "\(value)" }
}

/// Warnings about a run that is finite but has not learned: an Adam run whose loss reached
/// 1e22 at chance accuracy used to finish as `complete` without a word.
package enum LossSanity {
    /// The loss of a model that guesses uniformly among `classes` is ln(classes); a mean
    /// training loss a hundred times that means the optimizer has blown the weights up.
    package static func warning(phase: String, epoch: Int, loss: Double, classes: Int, setting: String, learningRate: Float) -> String? {
        let uniform = log(Double(max(classes, 2)))
        guard loss > 100 * uniform else { return nil }
        return "\(phase) epoch \(epoch): mean training loss \(String(format: "%.3g", loss)) is far above ln(\(classes)) = \(String(format: "%.2f", uniform)), "
            + "the loss of a model that guesses uniformly: training has effectively diverged. Lower \(setting) (now \(learningRate))."
    }
}
