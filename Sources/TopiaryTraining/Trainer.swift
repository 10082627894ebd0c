import TopiaryData
import TopiaryMetrics
import TopiaryNN
import TopiaryOptim
import TopiaryTensor

/// Mini-batch training of a model: forward, the task's loss, backward, masked optimizer step.
/// One trainer serves one phase (dense training, or one stage's retraining); the learning
/// rate follows `schedule` over the phase's optimizer steps.
public final class Trainer {
    public let model: any Model
    public let task: any Task
    public let optimizer: any Optimizer
    public let schedule: LearningRateSchedule
    public let batches: BatchIterator
    public private(set) var step = 0

    /// Called after every optimizer step with the step's index (gradual pruning updates masks
    /// here; rewinding snapshots weights here).
    public var afterStep: ((Int) throws -> Void)?
    /// Called after backward, before the optimizer step, when the raw gradients are in the
    /// store (movement scores accumulate here).
    public var beforeStep: (() -> Void)?
    /// Largest global gradient norm: gradients are scaled down to it after backward (nil: not).
    /// The norm is over what the optimizer steps (`optimizer.store`).
    public var gradientClip: Float?
    /// Adapters that stand in for some weights (LoRA): the optimizer steps their store, their
    /// gradients come from the weights' after backward, and the weights are rewritten from
    /// them after every step, so the model always computes what the adapters say.
    public var reparametrization: (any WeightReparametrization)?

    /// - Parameter startStep: the schedule position of the first step (a schedule that spans
    ///   several stages continues where the previous stage stopped).
    public init(model: any Model, task: any Task, optimizer: any Optimizer, schedule: LearningRateSchedule, batches: BatchIterator,
                startStep: Int = 0) {
        self.model = model
        self.task = task
        self.optimizer = optimizer
        self.schedule = schedule
        self.batches = batches
        self.step = startStep
    }

    /// One pass over the training rows in an order drawn from `generator`.
    /// Returns the mean training loss over the epoch's batches and the wall-clock seconds.
    /// With `interruptible`, throws `TrainingInterrupted` between batches once Ctrl-C arrived;
    /// throws `NonFiniteLoss` at the first batch whose loss is NaN or infinite.
    public func runEpoch(generator: inout SeededGenerator, interruptible: Bool = false) throws -> (meanLoss: Double, seconds: Double) {
        try run(stepLimit: nil, generator: &generator, interruptible: interruptible)
    }

    /// `count` optimizer steps, through as many shuffled passes as that takes (a federated
    /// client's local steps; a straggler's cut short). Returns the mean loss and seconds.
    public func runSteps(_ count: Int, generator: inout SeededGenerator) throws -> (meanLoss: Double, seconds: Double) {
        precondition(count >= 1, "steps must be >= 1, but got \(count)")
        var (lossSum, seconds, done) = (0.0, 0.0, 0)
        while done < count {
            let before = step
            let pass = try run(stepLimit: count - done, generator: &generator, interruptible: false)
            precondition(step > before, "a pass over the training rows took no step: the data set is empty")
            lossSum += pass.meanLoss * Double(step - before)
            seconds += pass.seconds
            done += step - before
        }
        return (lossSum / Double(count), seconds)
    }

    /// One shuffled pass, stopping after `stepLimit` steps when given.
    private func run(stepLimit: Int?, generator: inout SeededGenerator, interruptible: Bool) throws -> (meanLoss: Double, seconds: Double) {
        var lossSum = 0.0
        var batchCount = 0
        let start = monotonicNanoseconds()
        model.setTraining(true)
        try batches.forEachBatch(shuffle: true, generator: &generator, batchLimit: stepLimit) { batch in
            if interruptible, RunInterruption.requested { throw TrainingInterrupted() }
            lossSum += Double(try trainStep(on: batch))
            batchCount += 1
        }
        let seconds = Double(monotonicNanoseconds() - start) / 1e9
        return (lossSum / Double(max(batchCount, 1)), seconds)
    }

    /// Forward, loss, backward, clipping, the optimizer step; returns the batch's loss.
    private func trainStep(on batch: Batch) throws -> Float {
        model.store.zeroGrads()
        reparametrization?.store.zeroGrads()
        let output = model.forward(batch.inputs)
        let (batchLoss, gradient) = task.lossAndGradient(output: output, targets: batch.targets)
        // Before the step: the weights stay the last finite ones, for the diagnosis.
        guard batchLoss.isFinite else { throw NonFiniteLoss(step: step, loss: batchLoss, learningRate: schedule(step)) }
        model.backward(gradient)
        reparametrization?.backpropagate()
        if let gradientClip { optimizer.store.clipGradientNorm(to: gradientClip) }
        beforeStep?()
        optimizer.step(learningRate: schedule(step))
        reparametrization?.materialize()
        try afterStep?(step)
        step += 1
        return batchLoss
    }
}

/// A batch's loss was NaN or infinite at optimizer step `step` (its step was not taken).
public struct NonFiniteLoss: Error, Equatable {
    public let step: Int
    public let loss: Float
    public let learningRate: Float
}
