import Foundation
import TopiaryReport
import TopiarySparsity
import TopiarySpec

/// Everything besides tensors that a run needs to continue exactly where a checkpoint was
/// taken: the rows written so far, where the schedule stands, and the generators' states.
public struct RunProgress: Codable, Sendable {
    /// The resolved spec the run was started with (a resume must use the same).
    public var spec: ExperimentSpec
    public var rows: [StageRecord]
    /// Staged schedules: the index of the next stage to run.
    public var nextStage = 0
    /// Adaptive schedules: the search's state.
    public var adaptive: AdaptivePolicy.State?
    /// Gradual schedules: epochs of the pruning phase already done.
    public var gradualEpochsDone = 0
    /// Optimizer steps taken by a schedule that spans stages (lr continue, gradual).
    public var phaseStep = 0
    public var optimizerStepCount: Int?
    public var shuffleState: [UInt64]
    public var scorerState: [UInt64]
    /// report.json's warnings so far (absent in checkpoints of earlier versions).
    public var warnings: [String]?
    /// The model's own generators (dropout), when it has any.
    public var modelRandomState: [[UInt64]]?
    /// With `federated:`: rounds finished in the phase under way (0 between phases), the
    /// simulation's generator, the clients not yet sent the current mask, and every round so
    /// far; with adapters, their dropout generator. (`federated_mask_pending`, all clients or
    /// none, is what earlier versions wrote.)
    public var federatedRoundsDone: Int?
    public var federatedState: [UInt64]?
    public var federatedClientsAwaitingMask: [Int]?
    public var federatedMaskPending: Bool?
    public var adapterDropoutState: [UInt64]?
    public var rounds: [FederatedRoundRow]?

    /// What makes this progress unusable to continue from (a resume would index past its
    /// schedule or seed a generator with an invalid state), or nil.
    var problem: String? {
        let states = [("shuffle_state", shuffleState), ("scorer_state", scorerState)] + (modelRandomState ?? []).map { ("model_random_state", $0) }
            + (federatedState.map { [("federated_state", $0)] } ?? []) + (adapterDropoutState.map { [("adapter_dropout_state", $0)] } ?? [])
        for (name, state) in states where state.count != 4 || state.allSatisfy({ $0 == 0 }) {
            return "its \(name) is not a generator state"
        }
        if nextStage < 0 || gradualEpochsDone < 0 || phaseStep < 0 || (optimizerStepCount ?? 0) < 0 || (federatedRoundsDone ?? 0) < 0 {
            return "its schedule position is negative"
        }
        if let adaptive, !(adaptive.step.isFinite && adaptive.acceptedSparsity.isFinite) || adaptive.retries < 0 || adaptive.acceptedStages < 0 {
            return "its adaptive search state is invalid"
        }
        return nil
    }

    enum CodingKeys: String, CodingKey {
        case spec, rows, nextStage = "next_stage", adaptive, gradualEpochsDone = "gradual_epochs_done"
        case phaseStep = "phase_step", optimizerStepCount = "optimizer_step_count"
        case shuffleState = "shuffle_state", scorerState = "scorer_state", warnings, modelRandomState = "model_random_state"
        case federatedRoundsDone = "federated_rounds_done", federatedState = "federated_state"
        case federatedMaskPending = "federated_mask_pending", rounds
        case federatedClientsAwaitingMask = "federated_clients_awaiting_mask", adapterDropoutState = "adapter_dropout_state"
    }
}

public struct RunInterrupted: Error, LocalizedError, Equatable {
    public let runDirectory: String
    public var errorDescription: String? {
        "interrupted; the reports in \(runDirectory) are complete up to the last finished stage. Continue with: topiary run SPEC --resume \(runDirectory)"
    }
}
