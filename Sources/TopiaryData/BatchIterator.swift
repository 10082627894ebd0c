import TopiaryTensor

/// One mini-batch: inputs (B, inputShape…) and targets (B, targetShape…), views of the
/// iterator's buffers, valid until the next batch.
public struct Batch {
    public let inputs: Tensor
    public let targets: Tensor
}

/// Seeded shuffled mini-batches over a dataset, gathered into reused buffers. The last batch
/// of an epoch is smaller when the size does not divide the dataset (as in PyTorch).
public struct BatchIterator {
    public let dataset: Dataset
    public let batchSize: Int
    private let inputBuffer: Tensor
    private let targetBuffer: Tensor

    public init(dataset: Dataset, batchSize: Int) {
        precondition(batchSize > 0, "batch size must be > 0, but got \(batchSize)")
        self.dataset = dataset
        self.batchSize = batchSize
        let rows = min(batchSize, max(dataset.count, 1))
        inputBuffer = Tensor(zeros: [rows] + dataset.inputShape)
        targetBuffer = Tensor(zeros: [rows] + dataset.targetShape)
    }

    public var batchesPerEpoch: Int { Self.batchesPerEpoch(rows: dataset.count, batchSize: batchSize) }

    /// Batches (optimizer steps) in one epoch over `rows`: the last batch may be short.
    public static func batchesPerEpoch(rows: Int, batchSize: Int) -> Int { (rows + batchSize - 1) / batchSize }

    /// Calls `body` with each batch of one epoch in an order drawn from `generator`
    /// (or in dataset order when `shuffle` is false), or with its first `batchLimit` batches.
    /// The whole epoch's order is drawn either way, so a limit leaves the generator where a
    /// full epoch would.
    public func forEachBatch(shuffle: Bool, generator: inout SeededGenerator, batchLimit: Int? = nil,
                             _ body: (Batch) throws -> Void) rethrows {
        let order = shuffle ? generator.permutation(dataset.count) : Array(0..<dataset.count)
        try forEachBatch(order: order, batchLimit: batchLimit, body)
    }

    /// Batches over rows in the given order (e.g. the first K batches for calibration), at
    /// most `batchLimit` of them when given.
    public func forEachBatch(order: [Int], batchLimit: Int? = nil, _ body: (Batch) throws -> Void) rethrows {
        let d = dataset.featureCount, t = dataset.targets.sampleCount
        var (start, remaining) = (0, batchLimit ?? Int.max)
        while start < order.count && remaining > 0 {
            remaining -= 1
            let n = min(batchSize, order.count - start)
            let inputs = inputBuffer.leadingRows(n), targets = targetBuffer.leadingRows(n)
            for r in 0..<n {
                let source = order[start + r]
                (inputs.pointer + r * d).update(from: dataset.inputs.pointer + source * d, count: d)
                (targets.pointer + r * t).update(from: dataset.targets.pointer + source * t, count: t)
            }
            try body(Batch(inputs: inputs, targets: targets))
            start += n
        }
    }
}
