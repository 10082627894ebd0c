import TopiaryData
import TopiaryNN
import TopiaryTensor

/// Estimates how much the loss would move if each weight were removed.
///
/// Scores are separate from masks: a scorer returns one tensor per target parameter, same
/// shape, larger = more important; the `Pruner` decides which alive weights go. Scores of
/// already-pruned weights are ignored by the pruner, whatever their value.
public protocol ImportanceScorer {
    /// The name a spec selects this scorer by ("magnitude").
    var name: String { get }
    func scores(for targets: [Parameter], context: inout ScoringContext) throws -> [Tensor]
}

/// What a scorer may use: the model, calibration data, and a seeded generator.
public struct ScoringContext {
    public let model: Sequential
    /// Rows scorers that need data (Taylor, Fisher, …) draw their batches from, in order.
    public let calibration: BatchIterator
    /// How many calibration batches to use (the first K of `calibration`'s dataset order).
    public let calibrationBatches: Int
    public var generator: SeededGenerator
    /// −Σ w·g per target since the last pruning, when the runner tracks it (movement).
    public var movement: [Tensor]?

    public init(model: Sequential, calibration: BatchIterator, calibrationBatches: Int, generator: SeededGenerator) {
        require(calibrationBatches >= 1, "calibration batches must be >= 1, but got \(calibrationBatches)")
        self.model = model
        self.calibration = calibration
        self.calibrationBatches = calibrationBatches
        self.generator = generator
    }

    /// Calls `body` with each of the first K calibration batches (dataset order).
    public func forEachCalibrationBatch(_ body: (Batch) -> Void) {
        calibration.forEachBatch(order: Array(0..<calibrationRows), body)
    }

    /// Rows the calibration batches cover (the first K batches, at most the whole set).
    public var calibrationRows: Int { min(calibrationBatches * calibration.batchSize, calibration.dataset.count) }

    /// Runs forward and backward on each of the first K calibration batches, calling `body`
    /// after each backward with fresh (zeroed, then accumulated) gradients in the store.
    public func forEachCalibrationGradient(_ body: () -> Void) {
        let loss = SoftmaxCrossEntropy()
        forEachCalibrationBatch { batch in
            model.store.zeroGrads()
            let logits = model.forward(batch.inputs)
            model.backward(loss.lossAndGradient(logits: logits, labels: batch.labels).gradient)
            body()
        }
        model.store.zeroGrads()
    }
}
