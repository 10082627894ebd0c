import TopiaryData
import TopiaryNN
import TopiarySparsity
import TopiarySpec

/// Optimizer steps each phase of a run takes, from the spec and the training-set size: what
/// `topiary plan` prints and what schedules are checked against before a run.
public struct PhasePlan: Sendable {
    public let spec: ResolvedSpec
    public let trainRows: Int

    public init(spec: ResolvedSpec, trainRows: Int) {
        self.spec = spec
        self.trainRows = trainRows
    }

    public var denseStepsPerEpoch: Int { steps(1, spec.training.batchSize) }
    public var denseSteps: Int { steps(spec.training.epochs, spec.training.batchSize) }
    public var retrainingStepsPerEpoch: Int { steps(1, spec.retraining.batchSize) }

    /// The optimizer steps of each retraining phase an LR schedule must span: one per stage
    /// (lr restart), one for all stages (lr continue), or the gradual phase; adaptive
    /// attempts each span `epochs`.
    public func retrainingPhaseSteps(_ plan: PruningPlan) -> [Int] {
        switch plan {
        case .staged(let stages):
            let perStage = stages.map { $0.epochs * retrainingStepsPerEpoch }
            return spec.pruning.rewind?.lrSchedule == .continue ? [perStage.reduce(0, +)] : perStage
        case .adaptive(_, let epochs), .gradual(_, let epochs):
            return [epochs * retrainingStepsPerEpoch]
        }
    }

    private func steps(_ epochs: Int, _ batch: Int) -> Int { epochs * BatchIterator.batchesPerEpoch(rows: trainRows, batchSize: batch) }

    /// The plan as text: the stages' targets and epochs, the optimizer steps they imply.
    public var description: String {
        let retraining = spec.retraining
        var lines = ["\(spec.name): \(trainRows) training rows",
                     "dense: \(spec.training.epochs) epochs x \(denseStepsPerEpoch) steps = \(denseSteps) optimizer steps (batch \(spec.training.batchSize))"]
        let plan = spec.pruning.plan
        switch plan {
        case .staged(let stages):
            lines.append("staged pruning (\(spec.pruning.scorer), \(spec.pruning.scope.rawValue)); retraining batch \(retraining.batchSize), lr \(spec.rewind.lrSchedule.rawValue), rewind \(spec.rewind.weights.rawValue):")
            lines.append("stage  target sparsity  epochs  optimizer steps")
            var total = denseSteps
            for (index, stage) in stages.enumerated() {
                let stageSteps = stage.epochs * retrainingStepsPerEpoch
                total += stageSteps
                lines.append(String(format: "%5d  %15.5f  %6d  %15d", index + 1, stage.sparsity, stage.epochs, stageSteps))
            }
            lines.append("total optimizer steps: \(total)")
        case .adaptive(let policy, let epochs):
            lines.append(String(format: "adaptive: each attempt prunes %.3g of the remaining weights, then retrains %d epochs (%d steps);", policy.initialStep, epochs, epochs * retrainingStepsPerEpoch))
            let deciding = spec.task.make().decidingMetric
            let within = deciding.change == .relative
                ? String(format: "validation %@ stays within %.3g %% of stage 0's", deciding.name, policy.tolerance * 100)
                : String(format: "validation %@ stays within %.3g points of stage 0's", deciding.name, policy.tolerance * 100)
            lines.append(String(format: "accepted while %@; a rejection rolls back and halves the step (minimum %.3g, at most %d retries, %d stages, sparsity %.4g).", within, policy.minimumStep, policy.maximumRetries, policy.maximumStages, policy.maximumSparsity))
            lines.append("targets if every attempt is accepted:")
            var state = policy.initialState()
            var index = 1
            while let target = policy.nextTarget(state) {
                lines.append(String(format: "%5d  %15.5f  %6d  %15d", index, target, epochs, epochs * retrainingStepsPerEpoch))
                state = policy.advance(state, target: target, accepted: true)
                index += 1
            }
        case .gradual(let schedule, let epochs):
            lines.append("gradual (AGP): \(epochs) epochs x \(retrainingStepsPerEpoch) steps = \(epochs * retrainingStepsPerEpoch) steps; masks updated every \(schedule.frequency) steps:")
            lines.append("update  step  target sparsity")
            for (index, update) in schedule.updates.enumerated() {
                lines.append(String(format: "%6d  %4d  %15.5f", index, update.step, update.sparsity))
            }
        }
        return lines.joined(separator: "\n")
    }
}
