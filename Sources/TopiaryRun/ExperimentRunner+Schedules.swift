import Foundation
import TopiaryData
import TopiaryMetrics
import TopiaryNN
import TopiaryOptim
import TopiaryReport
import TopiarySparsity
import TopiarySpec
import TopiaryTensor
import TopiaryTraining

extension ExperimentRunner {
    /// Explicit list, linear, geometric: prune once per stage, then retrain.
    func runStaged(_ stages: [StageSpec]) throws {
        while progress.nextStage < stages.count {
            let stage = stages[progress.nextStage]
            let record = try pruneAndRetrain(stageNumber: progress.nextStage + 1, target: stage.sparsity, epochs: stage.epochs,
                                             totalStages: stages.count)
            try append(record)
            progress.nextStage += 1
            try checkpoint(label: "stage\(progress.nextStage)")
        }
    }

    /// Attempts that keep the task's deciding validation metric within the tolerance of dense
    /// are accepted; others are recorded as rejected, rolled back to the last accepted
    /// checkpoint, and retried with half the step.
    func runAdaptive(_ policy: AdaptivePolicy, epochsPerAttempt: Int) throws {
        var state = progress.adaptive ?? policy.initialState()
        let deciding = task.decidingMetric
        let denseValidation = report.stages[0].metric("val", deciding.name)!
        while let target = policy.nextTarget(state) {
            let attempt = report.stages.count
            var record = try pruneAndRetrain(stageNumber: attempt, target: target, epochs: epochsPerAttempt, totalStages: nil)
            let value = record.metric("val", deciding.name)!
            let worsening = deciding.worsening(from: denseValidation, to: value)
            let accepted = policy.accepts(worsening: worsening)
            record.status = accepted ? .accepted : .rejected
            state = policy.advance(state, target: target, accepted: accepted)
            if !accepted {
                options.progress?(String(format: "attempt %d at %.5f rejected: validation %@ %.4f is %.4g worse than dense %.4f (tolerance %.4g); rolling back, step now %.4g",
                                         attempt, target, deciding.name, value, worsening, denseValidation, policy.tolerance, state.step))
                try rollBackToLastAccepted()
            }
            try append(record)
            progress.adaptive = state
            try checkpoint(label: accepted ? "stage\(attempt)" : "stage\(attempt)-rejected", accepted: accepted)
        }
        progress.adaptive = state
    }

    /// Gradual (AGP): one training phase; masks follow the cubic every Δt steps; a row and a
    /// checkpoint after every epoch (a resumed run continues the phase where it stopped).
    func runGradual(_ schedule: GradualSchedule, epochs: Int) throws {
        let done = progress.gradualEpochsDone
        guard done < epochs else { return }
        let retraining = spec.retraining
        let stepsPerEpoch = phasePlan.retrainingStepsPerEpoch
        let optimizer = spanningOptimizer ?? retraining.optimizer.makeOptimizer(for: model.store)
        spanningOptimizer = optimizer
        var scoreSeconds = 0.0, selectSeconds = 0.0
        _ = try train(epochs: epochs - done, batchSize: retraining.batchSize, optimizer: optimizer,
                      settings: retraining.optimizer, schedule: retraining.lrSchedule, phase: "gradual",
                      startStep: progress.phaseStep, scheduleSteps: epochs * stepsPerEpoch,
                      firstEpoch: done + 1, totalEpochs: epochs,
                      afterStep: { [unowned self] step in
                          guard let target = schedule.update(atStep: step) else { return }
                          let (score, select) = try pruneTargets(to: target)
                          optimizer.applyMasks()
                          scoreSeconds += score
                          selectSeconds += select
                      },
                      afterEpoch: { [unowned self] epoch, loss, seconds, step in
                          let target = lastUpdateTarget(schedule, before: step)
                          try checkRealised(stage: epoch, target: target)
                          let outcome = TrainingOutcome(epochs: 1, lastLoss: loss, epochSeconds: [seconds], steps: stepsPerEpoch)
                          try append(try measure(stage: epoch, target: target, training: outcome,
                                                 scoreSeconds: scoreSeconds, selectSeconds: selectSeconds))
                          (scoreSeconds, selectSeconds) = (0, 0)
                          progress.gradualEpochsDone = epoch
                          progress.phaseStep = step
                          try checkpoint(label: "epoch\(epoch)")
                      })
    }

    /// The sparsity of the last mask update before `step`: what the masks realise now (the
    /// model is dense before the first update).
    private func lastUpdateTarget(_ schedule: GradualSchedule, before step: Int) -> Double {
        schedule.updates.last { $0.step < step }?.sparsity ?? 0
    }

    /// Score, prune to `target`, rewind if asked, retrain under the masks, measure.
    func pruneAndRetrain(stageNumber: Int, target: Double, epochs: Int, totalStages: Int?) throws -> StageRecord {
        let of = totalStages.map { "/\($0)" } ?? ""
        options.progress?("stage \(stageNumber)\(of): scoring (\(spec.pruning.scorer)), pruning to \(target)")
        // Resumed between a federated stage's rounds: the server pruned before the checkpoint.
        let midPhase = (progress.federatedRoundsDone ?? 0) > 0
        let agreement = midPhase ? [] : try scoreAgreement(target: target)
        let (scoreSeconds, selectSeconds) = midPhase ? (0, 0) : try pruneTargets(to: target)
        if let rewindValues, !midPhase {
            // Lottery-ticket rewinding: every parameter back to the snapshot, pruned ones at 0.
            multiply(rewindValues, model.store.masks, into: model.store.values)
        }
        let retraining = spec.retraining
        var startStep = 0
        let training: TrainingOutcome
        if spec.federated != nil {
            training = try federatedPhase(stage: stageNumber, optimizer: retraining.optimizer, batchSize: retraining.batchSize)
        } else if let adapterSpec = spec.adapters {
            // The spec refuses lr_schedule continue with adapters: each stage's are new.
            training = try retrainThroughAdapters(adapterSpec, stageNumber: stageNumber, epochs: epochs)
        } else {
            let optimizer: any Optimizer
            var scheduleSteps = epochs * phasePlan.retrainingStepsPerEpoch
            if spec.rewind.lrSchedule == .continue, case .staged(let stages) = plan {
                optimizer = spanningOptimizer ?? retraining.optimizer.makeOptimizer(for: model.store)
                optimizer.applyMasks()
                spanningOptimizer = optimizer
                startStep = progress.phaseStep
                scheduleSteps = phasePlan.retrainingPhaseSteps(.staged(stages))[0]
            } else {
                optimizer = retraining.optimizer.makeOptimizer(for: model.store)
            }
            training = try train(epochs: epochs, batchSize: retraining.batchSize, optimizer: optimizer,
                                 settings: retraining.optimizer, schedule: retraining.lrSchedule, phase: "stage \(stageNumber)",
                                 startStep: startStep, scheduleSteps: scheduleSteps)
        }
        progress.phaseStep = startStep + training.steps
        try checkRealised(stage: stageNumber, target: target)
        var record = try measure(stage: stageNumber, target: target, training: training,
                                 scoreSeconds: scoreSeconds, selectSeconds: selectSeconds)
        record.scoreAgreement = agreement
        return record
    }

    /// Every pair of `pruning.compare_scorers`, per layer, on the weights still alive before
    /// this stage's pruning; Jaccard at the number each layer keeps at `target` (uniform).
    func scoreAgreement(target: Double) throws -> [ScoreAgreement] {
        guard let names = spec.pruning.compareScorers else { return [] }
        var context = scoringContext(generator: SeededGenerator(seed: spec.seed, stream: "agreement"))
        let scores = try names.map { try ScorerRegistry.make($0)!.scores(for: targets, context: &context) }
        var result: [ScoreAgreement] = []
        for (t, parameter) in targets.enumerated() {
            let alive = (0..<parameter.count).filter { parameter.parameter.mask[$0] != 0 }
            let keep = parameter.count - Int((target * Double(parameter.count)).rounded())
            for a in 0..<names.count {
                for b in (a + 1)..<names.count {
                    result.append(ScoreAgreement(layer: parameter.layerName, scorerA: names[a], scorerB: names[b],
                                                 a: alive.map { scores[a][t][$0] }, b: alive.map { scores[b][t][$0] },
                                                 keep: min(max(keep, 0), alive.count)))
                }
            }
        }
        model.store.zeroGrads()
        return result
    }

    /// Scores the targets and prunes them to `target`; returns (score, select) seconds.
    func pruneTargets(to target: Double) throws -> (Double, Double) {
        let scorer = try ScorerRegistry.make(spec.pruning.scorer, options: spec.pruning.scorerOptions ?? [:])!
        var context = scoringContext(generator: scorerGenerator)
        if let reconstructing = scorer as? any ReconstructingScorer {
            // OBS scores, selects and updates weights block by block, always sequentially.
            let (_, seconds) = try measureSeconds {
                try reconstructing.pruneAndReconstruct(calibrationOrder(sequential: true), to: target, selection: maskSelection, context: &context)
            }
            scorerGenerator = context.generator
            return (seconds, 0)
        }
        defer { movement?.forEach { $0.fill(0) } }  // movement counts from the last pruning
        var (scoreSeconds, selectSeconds) = (0.0, 0.0)
        var allScores: [Tensor] = []
        let masksBefore = spec.pruning.saveScores == true ? targets.map { $0.mask.copy() } : []
        // Sequential: each block scored on activations through the blocks pruned before it.
        let movementOf = Dictionary(uniqueKeysWithValues: zip(targets.map(ObjectIdentifier.init), movement ?? []))
        let blocks = calibrationOrder()
        for block in blocks {
            if movement != nil { context.movement = block.map { movementOf[ObjectIdentifier($0)]! } }
            let (scores, seconds) = try measureSeconds { try scorer.scores(for: block, context: &context) }
            scoreSeconds += seconds
            selectSeconds += try measureSeconds { try maskSelection.select(block, scores: scores, to: target) }.1
            allScores += scores
        }
        // Back in target order (a model's blocks may list its matrices in another).
        let blockOrder = blocks.joined().map(ObjectIdentifier.init)
        let scoreOf = Dictionary(uniqueKeysWithValues: zip(blockOrder, allScores))
        allScores = targets.map { scoreOf[ObjectIdentifier($0)]! }
        scorerGenerator = context.generator
        if spec.pruning.saveScores == true { try saveScores(allScores, masks: masksBefore, target: target) }
        return (scoreSeconds, selectSeconds)
    }

    /// The targets in the groups one stage scores and selects: all at once, or the model's
    /// calibration blocks in order (`pruning.calibration: sequential`), excluded layers left out.
    func calibrationOrder(sequential: Bool? = nil) -> [[PrunableMatrix]] {
        guard sequential ?? (spec.pruning.calibration == .sequential) else { return [targets] }
        let chosen = Set(targets.map(ObjectIdentifier.init))
        let blocks = model.calibrationBlocks.map { $0.filter { chosen.contains(ObjectIdentifier($0)) } }.filter { !$0.isEmpty }
        return blocks.reduce(0) { $0 + $1.count } == targets.count ? blocks : [targets]
    }

    /// scores/NNNN-<layer>.bin per layer (the checkpoint container: magic, shape, CRC-32),
    /// NNNN counting scorings in this run; read them back with `Checkpoint.read`.
    /// `masks`: each target's mask before this pruning.
    func saveScores(_ scores: [Tensor], masks: [Tensor], target: Double) throws {
        let directory = runDirectory + "/scores"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let index = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).count / max(targets.count, 1)
        for ((parameter, score), mask) in zip(zip(targets, scores), masks) {
            let file = Checkpoint(sequence: index, label: "scores \(spec.pruning.scorer) for \(parameter.name) before pruning to \(target)",
                                  progress: progress, tensors: [("scores", score), ("mask", mask)])
            try file.write(to: directory + String(format: "/%04d-", index) + parameter.layerName + ".bin")
        }
    }

    package struct TrainingOutcome {
        package var epochs = 0
        package var lastLoss: Double?
        package var epochSeconds: [Double] = []
        package var steps = 0
        /// Parameters the optimizer stepped and the bytes of its state.
        package var trainableParameters = 0
        package var optimizerStateBytes = 0
        /// The stage's adapters, when it trained through them.
        package var adapters: AdapterRecord?
    }

    /// `epochs` epochs of `optimizer` with the LR schedule spanning `scheduleSteps` steps from
    /// `startStep` (a fresh schedule per phase unless one spans stages). A phase resumed
    /// part-way numbers its epochs from `firstEpoch` of `totalEpochs`; `afterEpoch` gets each
    /// epoch's number, loss, seconds and the optimizer step reached. `settings` is the spec `optimizer`
    /// was made from: its learning rate and gradient clipping.
    func train(epochs: Int, batchSize: Int, optimizer: any Optimizer, settings: OptimizerSpec, schedule: ScheduleSpec, phase: String,
               startStep: Int = 0, scheduleSteps: Int? = nil, firstEpoch: Int = 1, totalEpochs: Int? = nil,
               reparametrization: (any WeightReparametrization)? = nil, afterStep: ((Int) throws -> Void)? = nil,
               afterEpoch: ((_ epoch: Int, _ loss: Double, _ seconds: Double, _ step: Int) throws -> Void)? = nil) throws -> TrainingOutcome {
        var outcome = TrainingOutcome(epochs: epochs)
        outcome.trainableParameters = optimizer.store.trainableCount
        outcome.optimizerStateBytes = 4 * optimizer.stateBuffers.values.reduce(0) { $0 + $1.count }
        guard epochs > 0 else { return outcome }
        let batches = BatchIterator(dataset: data.train, batchSize: batchSize)
        let lr = try schedule.makeSchedule(baseRate: settings.learningRate, totalSteps: scheduleSteps ?? epochs * batches.batchesPerEpoch)
        let trainer = Trainer(model: model, task: task, optimizer: optimizer, schedule: lr, batches: batches, startStep: startStep)
        trainer.afterStep = afterStep
        trainer.beforeStep = movementHook
        trainer.reparametrization = reparametrization
        trainer.gradientClip = settings.gradientClip
        let lastEpoch = firstEpoch + epochs - 1
        // The spec key a user changes when this phase diverges.
        let setting = phase == "dense" ? "training.optimizer.learning_rate" : "pruning.retraining.optimizer.learning_rate"
        for epoch in firstEpoch...lastEpoch {
            let loss: Double, seconds: Double
            do {
                (loss, seconds) = try trainer.runEpoch(generator: &shuffleGenerator, interruptible: options.interruptible)
            } catch let bad as NonFiniteLoss {
                throw TrainingError.diverged(phase: phase, epoch: epoch, step: bad.step, loss: Double(bad.loss),
                                             learningRate: Double(bad.learningRate), setting: setting)
            }
            if let (parameter, index) = model.store.firstNonFiniteValue() {
                throw TrainingError.nonFiniteWeights(phase: phase, epoch: epoch, parameter: parameter.name, index: index, setting: setting)
            }
            if let classes = data.train.classCount,
               let warning = LossSanity.warning(phase: phase, epoch: epoch, loss: loss, classes: classes, setting: setting,
                                                learningRate: lr(max(trainer.step - 1, 0))) {
                warn(warning)
            }
            outcome.lastLoss = loss
            outcome.epochSeconds.append(seconds)
            options.progress?("\(phase) epoch \(epoch)/\(totalEpochs ?? lastEpoch): loss \(String(format: "%.4f", loss)), \(String(format: "%.2f", seconds)) s")
            try afterEpoch?(epoch, loss, seconds, trainer.step)
        }
        outcome.steps = trainer.step - startStep
        return outcome
    }

    /// What scorers see: the model, the spec's calibration batches (pruning.calibration_split,
    /// retraining batch size), the movement accumulators, and `generator` for random draws.
    package func scoringContext(generator: SeededGenerator) -> ScoringContext {
        let calibration = spec.pruning.calibrationSplit == .validation ? data.validation : data.train
        var context = ScoringContext(model: model, task: task,
                                     calibration: BatchIterator(dataset: calibration, batchSize: spec.retraining.batchSize),
                                     calibrationBatches: spec.pruning.calibrationBatches, generator: generator)
        context.movement = movement
        return context
    }

    /// Accumulates movement (−w·g) after every backward when a movement scorer needs it.
    var movementHook: (() -> Void)? {
        guard let movement else { return nil }
        let targets = targets
        return { MovementScorer.accumulate(targets, into: movement) }
    }

    /// The granularity `pruning` asks for (scope, n_of_m, layer_targets, minimum_density).
    static func maskSelection(_ pruning: PruningSpec, model: any Model) -> any MaskSelection {
        if pruning.scope == .nm, let nOfM = pruning.nOfM { return NMSelection(n: nOfM[0], m: nOfM[1]) }
        if pruning.scope == .channels {
            nonisolated(unsafe) let model = model
            return ChannelSelection(norm: pruning.channelNorm ?? .l2) { model.channelCoupling(of: $0) }
        }
        if let finalTargets = pruning.layerTargets {
            return LayerTargetSelection(finalTargets: finalTargets, lastStage: pruning.stages?.last?.sparsity ?? 0)
        }
        return UnstructuredSelection(scope: pruning.scope, minimumDensity: pruning.minimumDensity ?? 0)
    }

    /// Fails loudly when the masks do not realise the target or a pruned weight came back.
    func checkRealised(stage: Int, target: Double) throws {
        if let miss = maskSelection.miss(targets, target: target) {
            throw PruningError.missedTarget(stage: stage, target: miss.target, realised: miss.realised)
        }
        for parameter in targets {
            let (value, mask) = (parameter.parameter.value.pointer, parameter.parameter.mask.pointer)
            if let revived = (0..<parameter.count).first(where: { mask[$0] == 0 && value[$0] != 0 }) {
                throw TrainingError.prunedWeightRevived(parameter: parameter.name, index: revived)
            }
        }
    }

    func append(_ record: StageRecord) throws {
        report.stages.append(record)
        progress.rows = report.stages
        try writeReport()
    }
}

