import Foundation
import TopiaryData
import TopiaryMetrics
import TopiaryNN
import TopiaryReport
import TopiarySparsity
import TopiarySpec
import TopiaryTensor
import TopiaryTraining

extension ExperimentRunner {
    /// One phase of `federated:` rounds in place of epochs: stage 0's from the initial model,
    /// or a pruning stage's after the server pruned (the next broadcast carries the mask).
    /// Each round is a row of rounds.csv, written as it ends.
    func federatedPhase(stage: Int, optimizer: OptimizerSpec, batchSize: Int) throws -> TrainingOutcome {
        let federated = spec.federated!
        let created = federation == nil
        let simulation = try federation ?? makeFederation(federated)
        federation = simulation
        simulation.settings = federated.settings(learningRate: optimizer.learningRate, batchSize: batchSize)
        simulation.settings.gradientClip = optimizer.gradientClip
        simulation.makeOptimizer = { optimizer.makeOptimizer(for: $0) }
        // Pruning stages with adapters: clients train LoRA on the frozen pruned base.
        let adapters = try stage > 0 ? spec.adapters.map { try makeAdapters($0, stageNumber: stage) } : nil
        simulation.adapters = adapters
        let done = progress.federatedRoundsDone ?? 0
        guard done < federated.rounds else {
            throw CheckpointError.mismatch(path: runDirectory + "/checkpoints", detail: "its progress says \(done) rounds of a \(federated.rounds)-round phase are done")
        }
        // Resumed (between rounds, or at a stage's end): the simulation continues exactly.
        if created, let state = progress.federatedState { simulation.generatorState = state }
        if done > 0 {
            let awaiting = progress.federatedClientsAwaitingMask
                ?? (progress.federatedMaskPending == true ? Array(simulation.clients.indices) : [])
            guard awaiting.allSatisfy(simulation.clients.indices.contains) else {
                throw CheckpointError.mismatch(path: checkpointDirectory, detail: "its progress names clients \(awaiting) of \(simulation.clients.count)")
            }
            simulation.clientsAwaitingMask = awaiting
            if let adapters { try resumeAdapters(adapters) }
        } else if stage > 0 {
            simulation.masksChanged()
        }
        var outcome = TrainingOutcome(epochs: 0)
        // What one client's optimizer holds (each round's is fresh, the same size).
        let trained = adapters?.store ?? model.store
        let state = optimizer.makeOptimizer(for: trained)
        outcome.trainableParameters = trained.trainableCount
        outcome.optimizerStateBytes = 4 * state.stateBuffers.values.reduce(0) { $0 + $1.count }
        var seconds = 0.0
        let clientEvaluation = simulation.settings.clientEvaluationSet(of: data.validation)
        do {
            for round in (done + 1)..<(federated.rounds + 1) {
                let record = try simulation.runRound(round, evaluation: data.validation, clientEvaluation: clientEvaluation,
                                                     evaluationBatchSize: evaluationBatchSize)
                seconds += record.seconds
                report.rounds.append(FederatedRoundRow(stage: stage, sparsity: SparsityAccounting(targets).sparsity, record: record))
                let deciding = task.decidingMetric.name
                options.progress?(String(format: "stage %d round %d/%d: %d clients, validation %@ %.4f, %d bytes up", stage, round, federated.rounds,
                                         record.participants.count, deciding, record.metrics[deciding] ?? .nan, record.bytesUp))
                try writeReport()
                progress.federatedRoundsDone = round
                progress.federatedState = simulation.generatorState
                progress.federatedClientsAwaitingMask = simulation.clientsAwaitingMask
                progress.federatedMaskPending = nil
                progress.adapterDropoutState = adapters?.dropoutState
                // Between rounds a checkpoint to resume from; the stage's own follows the last.
                // With adapters it holds the frozen base and the global A and B.
                if round < federated.rounds {
                    let label = ExperimentRunner.roundCheckpointLabel(stage: stage, round: round)
                    if let adapters {
                        try adapters.withBaseWeights { try checkpoint(label: label, accepted: false, adapters: adapters.store) }
                    } else {
                        try checkpoint(label: label, accepted: false)
                    }
                }
                // Ctrl-C or SIGTERM: stop between rounds, after the checkpoint.
                if options.interruptible, RunInterruption.requested, round < federated.rounds { throw TrainingInterrupted() }
            }
        } catch {
            // A failed phase leaves the model merged and its weights trainable, as after a stage.
            adapters?.merge()
            throw error
        }
        progress.federatedRoundsDone = 0
        if let adapters, let adapterSpec = spec.adapters {
            simulation.adapters = nil
            outcome.adapters = try finishAdapters(adapters, adapterSpec, stageNumber: stage)
        }
        // Client steps of the whole phase (a resumed phase's earlier rounds included).
        outcome.steps = report.rounds.filter { $0.stage == stage }.reduce(0) { total, row in
            total + row.record.participants.reduce(0) { sum, client in
                sum + simulation.settings.localSteps(straggler: row.record.stragglers.contains(client))
            }
        }
        outcome.epochSeconds = [seconds]
        return outcome
    }

    /// A phase resumed between rounds: the global adapters (and their dropout draws) as the
    /// checkpoint left them; the base is the checkpoint's weights already.
    private func resumeAdapters(_ adapters: LowRankAdapters) throws {
        for parameter in adapters.store.parameters {
            guard let saved = resumedAdapterTensors["adapters." + parameter.name], saved.shape == parameter.shape else {
                throw CheckpointError.mismatch(path: checkpointDirectory, detail: "its last checkpoint holds no adapters.\(parameter.name) of shape \(parameter.shape)")
            }
            parameter.value.assign(from: saved)
        }
        if let state = progress.adapterDropoutState { adapters.dropoutState = state }
        adapters.materialize()
    }

    /// The clients: the training rows split by `federated.partition` (seeded), each its own data set.
    private func makeFederation(_ federated: FederatedSpec) throws -> FederatedSimulation {
        var generator = SeededGenerator(seed: spec.seed, stream: "partition")
        let parts: [[Int]]
        do {
            parts = try federated.clientPartition.assign(data.train, clients: federated.clients, generator: &generator)
        } catch let error as ClientPartitionError {
            throw SpecError(file: options.specFile, keyPath: "federated.partition", problem: error.problem + ".")
        }
        let optimizer = spec.training.optimizer
        return FederatedSimulation(model: model, task: task, clients: parts.map { data.train.subset($0) },
                                   settings: federated.settings(learningRate: optimizer.learningRate, batchSize: spec.training.batchSize),
                                   seed: spec.seed) { optimizer.makeOptimizer(for: $0) }
    }
}
