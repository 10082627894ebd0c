import Foundation
import TopiaryData
import TopiaryOptim
import TopiarySpec

/// Warmup-Stable-Decay branches (MiniCPM): a run writes plateau checkpoints, and another run
/// starts from one with its optimizer state and decays — one long run then gives the loss at
/// many lengths for the price of the decays.
extension ExperimentRunner {
    /// The dense phase's optimizer: fresh, or with `model.init_optimizer` the state (moments,
    /// step count) of the `model.init_from` checkpoint.
    func denseOptimizer() throws -> any Optimizer {
        let optimizer = spec.training.optimizer.makeOptimizer(for: model.store)
        guard spec.model.initOptimizer == true, let source = spec.model.initFrom else { return optimizer }
        let path = try InitialWeights.checkpointPath(source)
        let checkpoint = try Checkpoint.read(from: path)
        guard let count = checkpoint.header.progress.optimizerStepCount else {
            throw SpecProblem(keyPath: "model.init_optimizer", problem: "\(path) holds no optimizer state; name a plateau checkpoint (plateau/step-*.bin of a run with training.plateau_checkpoint_every).")
        }
        do {
            try CheckpointLayout.restoreOptimizer(optimizer.stateBuffers, model.store, from: checkpoint.tensors, path: path)
        } catch let error as CheckpointError {
            throw SpecProblem(keyPath: "model.init_optimizer", problem: "\(error.errorDescription ?? "\(error)") Use the optimizer the checkpoint was written with.")
        }
        optimizer.restoreStepCount(count)
        return optimizer
    }

    var plateauDirectory: String { runDirectory + "/plateau" }

    /// With `training.plateau_checkpoint_every` N: after every N-th step that ends on the WSD
    /// plateau (warm-up done, decay not started), `plateau/step-NNNNNN.bin` with the weights,
    /// masks, the optimizer's state and its step count. Nil without the key.
    func plateauWriter(optimizer: any Optimizer) throws -> ((Int) throws -> Void)? {
        guard let every = spec.training.plateauCheckpointEvery else { return nil }
        let steps = spec.training.epochs * BatchIterator(dataset: data.train, batchSize: spec.training.batchSize).batchesPerEpoch
        guard steps > 0, let plateau = try spec.trainingSchedule.makeSchedule(baseRate: spec.training.optimizer.learningRate, totalSteps: steps).plateau else {
            return nil
        }
        try FileManager.default.createDirectory(atPath: plateauDirectory, withIntermediateDirectories: true)
        return { [unowned self] step in
            let done = step + 1
            // The step just taken was on the plateau, and so is the next one: a branch decays from here.
            guard done % every == 0, plateau.contains(step) else { return }
            // The generators stay as the run began (the shuffle generator is being drawn from
            // right now); a branch draws its own batches from its own seed.
            var state = progress
            state.optimizerStepCount = optimizer.stepCount
            let tensors = CheckpointLayout.parameterTensors(model.store) + CheckpointLayout.optimizerTensors(optimizer.stateBuffers, model.store)
            let file = Checkpoint(sequence: done, label: "plateau after step \(done)", progress: state, tensors: tensors)
            try file.write(to: plateauDirectory + String(format: "/step-%06d.bin", done))
        }
    }
}
