import Foundation
import TopiaryNN
import TopiaryOptim
import TopiaryReport
import TopiarySparsity
import TopiarySpec
import TopiaryTensor

/// Checkpoints: after dense training and after every stage (and every adaptive attempt, so a
/// resumed search continues with the same step), `checkpoints/NNNN-label.bin`, atomically.
/// A resume restores the newest one and redoes whatever was running when the run stopped;
/// everything that decides a result (weights, masks, optimizer state, generators, schedule
/// position, rows) is in the checkpoint, so the resumed rows equal an uninterrupted run's.
extension ExperimentRunner {
    var checkpointDirectory: String { runDirectory + "/checkpoints" }

    /// - Parameter adapters: LoRA factors trained in place of the weights (a federated adapter
    ///   phase between rounds), saved as `adapters.<layer>.lora_A.weight` and so on.
    func checkpoint(label: String, accepted: Bool = true, adapters: ParameterStore? = nil) throws {
        progress.shuffleState = shuffleGenerator.stateArray
        progress.scorerState = scorerGenerator.stateArray
        progress.optimizerStepCount = spanningOptimizer?.stepCount
        progress.rows = report.stages
        progress.warnings = report.warnings
        progress.rounds = report.rounds.isEmpty ? nil : report.rounds
        let randomState = model.randomState
        progress.modelRandomState = randomState.isEmpty ? nil : randomState
        var tensors = CheckpointLayout.parameterTensors(model.store)
        if let spanningOptimizer { tensors += CheckpointLayout.optimizerTensors(spanningOptimizer.stateBuffers, model.store) }
        if let rewindValues { tensors += CheckpointLayout.perParameter(rewindValues, prefix: "rewind.", model.store) }
        if let movement { tensors += zip(targets, movement).map { ("movement." + $0.parameter.name, $1) } }
        if let adapters { tensors += adapters.parameters.map { ("adapters." + $0.name, $0.value) } }
        let snapshot = Checkpoint(sequence: checkpointSequence, label: label, progress: progress, tensors: tensors)
        let name = String(format: "%04d-", checkpointSequence) + label + ".bin"
        try snapshot.write(to: checkpointDirectory + "/" + name)
        checkpointSequence += 1
        if accepted { lastAccepted = snapshot }
        removeSupersededRoundCheckpoints(keeping: name)
    }

    /// A checkpoint between federated rounds is only a place to resume from, and a whole model
    /// per round: once a newer checkpoint is on disk (written first, so one is always there)
    /// the older ones go. A file that cannot be removed stays; it is never read again.
    private func removeSupersededRoundCheckpoints(keeping newest: String) {
        for name in ExperimentRunner.checkpointNames(in: checkpointDirectory) where name != newest && ExperimentRunner.isRoundCheckpoint(name) {
            try? FileManager.default.removeItem(atPath: checkpointDirectory + "/" + name)
        }
    }

    /// An adaptive rejection: weights, masks and generators back to the last accepted state.
    func rollBackToLastAccepted() throws {
        guard let lastAccepted else { preconditionFailure("no accepted state to roll back to") }
        try restoreWeightsAndGenerators(from: lastAccepted)
        model.store.zeroGrads()
    }

    /// Weights, masks, movement accumulators and generators: what a rollback and a resume share.
    private func restoreWeightsAndGenerators(from checkpoint: Checkpoint) throws {
        try CheckpointLayout.restoreParameters(model.store, from: checkpoint.tensors, path: checkpoint.header.label)
        restoreMovement(from: checkpoint)
        if let state = checkpoint.header.progress.modelRandomState { model.randomState = state }
        shuffleGenerator = SeededGenerator(stateArray: checkpoint.header.progress.shuffleState)
        scorerGenerator = SeededGenerator(stateArray: checkpoint.header.progress.scorerState)
    }

    /// Whether a checkpoint's name marks a state the run kept: not a rejected adaptive attempt
    /// ("rejected") nor a federated phase between rounds ("partial").
    package static func isKeptStage(_ name: String) -> Bool { !name.contains("rejected") && !isRoundCheckpoint(name) }

    /// A federated phase's state between rounds: `stageS-roundR-partial` (`roundCheckpointLabel`).
    static func isRoundCheckpoint(_ name: String) -> Bool { name.contains("-partial") }
    static func roundCheckpointLabel(stage: Int, round: Int) -> String { "stage\(stage)-round\(round)-partial" }

    /// The checkpoint files of a run's checkpoints folder, oldest first (their names start
    /// with the sequence number); rejected adaptive attempts' names say "rejected".
    static func checkpointNames(in folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".bin") }.sorted()
    }

    /// The newest readable checkpoint of the run being resumed (nil: none yet, start over).
    func latestCheckpoint() throws -> Checkpoint? {
        let names = ExperimentRunner.checkpointNames(in: checkpointDirectory)
        guard let newest = names.last else { return nil }
        let path = checkpointDirectory + "/" + newest
        let checkpoint = try Checkpoint.read(from: path)
        try checkFits(checkpoint, path: path)
        // The newest accepted checkpoint is what an adaptive rejection would roll back to.
        if let accepted = names.last(where: ExperimentRunner.isKeptStage), accepted != newest {
            let acceptedPath = checkpointDirectory + "/" + accepted
            lastAccepted = try Checkpoint.read(from: acceptedPath)
            try checkFits(lastAccepted!, path: acceptedPath)
        }
        return checkpoint
    }

    /// A checkpoint of this spec whose every tensor is one this run's model has, with its
    /// shape, and that holds every parameter. (A file with a valid checksum can still be
    /// foreign or crafted.)
    private func checkFits(_ checkpoint: Checkpoint, path: String) throws {
        guard checkpoint.header.progress.spec == spec.spec else {
            throw CheckpointError.mismatch(path: path, detail: "it was written for a different spec or seed; resume with the spec and flags the run started with")
        }
        let optimizerBuffers = spec.pruning.retraining?.optimizer.map { Array($0.makeOptimizer(for: model.store).stateBuffers.keys) } ?? []
        var expected = CheckpointLayout.expectedShapes(model.store, optimizerBuffers: optimizerBuffers, movementTargets: movement == nil ? [] : targets)
        if let adapterSpec = spec.adapters, let names = try? adapterSpec.targetLayers(prunable: model.prunableMatrices.map(\.layerName), excluded: spec.pruning.excludeLayers) {
            for factor in LowRankAdapters.factors(of: model.prunableMatrices.filter { names.contains($0.layerName) }, rank: adapterSpec.rank) {
                expected["adapters." + factor.layer + "." + factor.name] = factor.shape
            }
        }
        for (name, tensor) in checkpoint.tensors {
            guard let shape = expected[name] else {
                throw CheckpointError.mismatch(path: path, detail: "its tensor \(name) is not part of this run's model")
            }
            guard tensor.shape == shape else {
                throw CheckpointError.mismatch(path: path, detail: "its tensor \(name) has shape \(tensor.shape), where this run's model has \(shape)")
            }
        }
        for parameter in model.store.parameters where checkpoint.tensors[parameter.name] == nil {
            throw CheckpointError.mismatch(path: path, detail: "it holds no tensor \(parameter.name)")
        }
    }

    func restore(_ checkpoint: Checkpoint) throws {
        let saved = checkpoint.header.progress
        try restoreWeightsAndGenerators(from: checkpoint)
        rewindValues = try CheckpointLayout.restoreFlat(prefix: "rewind.", model.store, from: checkpoint.tensors, path: checkpoint.header.label)
        if checkpoint.tensors.keys.contains(where: { $0.hasPrefix("optimizer.") }) || saved.optimizerStepCount != nil {
            let optimizer = spec.retraining.optimizer.makeOptimizer(for: model.store)
            try CheckpointLayout.restoreOptimizer(optimizer.stateBuffers, model.store, from: checkpoint.tensors, path: checkpoint.header.label)
            optimizer.restoreStepCount(saved.optimizerStepCount ?? 0)
            spanningOptimizer = optimizer
        }
        progress = saved
        resumedAdapterTensors = checkpoint.tensors.filter { $0.key.hasPrefix("adapters.") }
        report.stages = saved.rows
        report.warnings = saved.warnings ?? []
        report.rounds = saved.rounds ?? []
        checkpointSequence = checkpoint.header.sequence + 1
        if lastAccepted == nil { lastAccepted = checkpoint }
        resumed = true
    }

    private func restoreMovement(from checkpoint: Checkpoint) {
        guard let movement else { return }
        for (target, accumulator) in zip(targets, movement) {
            if let saved = checkpoint.tensors["movement." + target.parameter.name] { accumulator.assign(from: saved) }
        }
    }

    /// The report of a run being resumed.
    static func readPreviousReport(in directory: String) throws -> RunReport {
        guard let previous = try? RunReport.read(from: directory) else {
            throw CheckpointError.nothingToResume(directory: directory)
        }
        return previous
    }

    /// A resume continues an unfinished run of the same spec (its flags already merged in).
    static func checkResumable(_ previous: RunReport, in directory: String, spec: ExperimentSpec) throws {
        if previous.status == .complete {
            throw ReportError.runAlreadyComplete(path: directory)
        }
        guard previous.spec == spec else {
            throw CheckpointError.mismatch(path: directory + "/report.json",
                                           detail: "the run was started from a different spec; resume with the spec file it was started with")
        }
    }
}
