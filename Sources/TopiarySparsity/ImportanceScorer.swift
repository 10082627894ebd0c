import TopiaryData
import TopiaryNN
import TopiaryTensor

/// Estimates how much the loss would move if each weight were removed.
///
/// Scores are separate from masks: a scorer returns one tensor per target matrix, shaped
/// (rows, fan-in) like the matrix, larger = more important; the mask selection decides which
/// alive weights go. Scores of already-pruned weights are ignored, whatever their value.
/// Scorers see only `PrunableMatrix` views (a Linear's weight, a convolution's unrolled
/// kernel), never a layer type.
public protocol ImportanceScorer {
    /// The name a spec selects this scorer by ("magnitude").
    var name: String { get }
    func scores(for targets: [PrunableMatrix], context: inout ScoringContext) throws -> [Tensor]
}

/// What a scorer may use: the model and its task, calibration data, a seeded generator.
public struct ScoringContext {
    public let model: any Model
    public let task: any Task
    /// Rows scorers that need data (Taylor, Fisher, …) draw their batches from, in order.
    public let calibration: BatchIterator
    /// How many calibration batches to use (the first K of `calibration`'s dataset order).
    public let calibrationBatches: Int
    public var generator: SeededGenerator
    /// −Σ w·g per target since the last pruning, when the runner tracks it (movement).
    public var movement: [Tensor]?

    public init(model: any Model, task: any Task, calibration: BatchIterator, calibrationBatches: Int, generator: SeededGenerator) {
        require(calibrationBatches >= 1, "calibration batches must be >= 1, but got \(calibrationBatches)")
        self.model = model
        self.task = task
        self.calibration = calibration
        self.calibrationBatches = calibrationBatches
        self.generator = generator
    }

    /// Calls `body` with each of the first K calibration batches (dataset order), the model in
    /// evaluation mode (BatchNorm on its running statistics, no dropout), so scoring never
    /// changes the model it looks at.
    public func forEachCalibrationBatch(_ body: (Batch) -> Void) {
        model.setTraining(false)
        defer { model.setTraining(true) }
        calibration.forEachBatch(order: Array(0..<calibrationRows), body)
    }

    /// Rows the calibration batches cover (the first K batches, at most the whole set).
    public var calibrationRows: Int { min(calibrationBatches * calibration.batchSize, calibration.dataset.count) }

    /// Runs forward and backward on each of the first K calibration batches, calling `body`
    /// after each backward with fresh (zeroed, then accumulated) gradients in the store.
    public func forEachCalibrationGradient(_ body: () -> Void) {
        forEachCalibrationBatch { batch in
            model.store.zeroGrads()
            let output = model.forward(batch.inputs)
            model.backward(task.lossAndGradient(output: output, targets: batch.targets).gradient)
            body()
        }
        model.store.zeroGrads()
    }
}
