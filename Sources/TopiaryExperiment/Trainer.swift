import TopiaryData
import TopiaryMetrics
import TopiaryNN
import TopiaryOptim
import TopiaryTensor

/// Mini-batch training of a model: forward, loss, backward, masked optimizer step.
/// One trainer serves one phase (dense training, or one stage's retraining); the learning
/// rate follows `schedule` over the phase's optimizer steps.
public final class Trainer {
    public let model: Sequential
    public let optimizer: any Optimizer
    public let schedule: LearningRateSchedule
    public let batches: BatchIterator
    public private(set) var step = 0
    private let loss = SoftmaxCrossEntropy()

    public init(model: Sequential, optimizer: any Optimizer, schedule: LearningRateSchedule, batches: BatchIterator) {
        self.model = model
        self.optimizer = optimizer
        self.schedule = schedule
        self.batches = batches
    }

    /// One pass over the training rows in an order drawn from `generator`.
    /// Returns the mean training loss over the epoch's batches and the wall-clock seconds.
    public func runEpoch(generator: inout SeededGenerator) -> (meanLoss: Double, seconds: Double) {
        var lossSum = 0.0
        var batchCount = 0
        let start = monotonicNanoseconds()
        batches.forEachBatch(shuffle: true, generator: &generator) { batch in
            model.store.zeroGrads()
            let logits = model.forward(batch.inputs)
            let (batchLoss, gradient) = loss.lossAndGradient(logits: logits, labels: batch.labels)
            model.backward(gradient)
            optimizer.step(learningRate: schedule(step))
            step += 1
            lossSum += Double(batchLoss)
            batchCount += 1
        }
        let seconds = Double(monotonicNanoseconds() - start) / 1e9
        return (lossSum / Double(max(batchCount, 1)), seconds)
    }
}
