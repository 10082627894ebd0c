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

/// Calibration batches' activations at the input of segment `segment` (one per batch).
final class CalibrationActivations {
    var inputs: [Tensor] = []
    var segment = 0
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
    /// Sequential calibration's activations between blocks (see `forwardCalibration`).
    private let cachedActivations = CalibrationActivations()

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

    /// Runs the calibration batches far enough that every matrix of `block` sees them (its
    /// observers fire), the model in evaluation mode. On a `SegmentedForward` model the
    /// activations before the block are cached: blocks calibrated in model order each run only
    /// their own segments on the outputs of the blocks before them, as pruned by then.
    /// Otherwise the whole model runs per batch.
    public func forwardCalibration(reaching block: [PrunableMatrix]) {
        guard let segmented = model as? any SegmentedForward else {
            forEachCalibrationBatch { batch in _ = model.forward(batch.inputs) }
            return
        }
        let positions = block.compactMap { segmented.segment(holding: $0) }
        guard positions.count == block.count, let first = positions.min(), let last = positions.max() else {
            forEachCalibrationBatch { batch in _ = model.forward(batch.inputs) }
            return
        }
        model.setTraining(false)
        defer { model.setTraining(true) }
        let cache = cachedActivations
        if cache.inputs.isEmpty || cache.segment > first {
            cache.inputs = []
            cache.segment = 0
            calibration.forEachBatch(order: Array(0..<calibrationRows)) { batch in cache.inputs.append(batch.inputs.copy()) }
        }
        // Bring the cache up to the block's first segment (through the blocks pruned so far).
        if cache.segment < first {
            cache.inputs = cache.inputs.map { segmented.forward(segments: cache.segment..<first, $0).copy() }
            cache.segment = first
        }
        for input in cache.inputs { _ = segmented.forward(segments: first..<(last + 1), input) }
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
