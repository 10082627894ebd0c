import TopiaryTensor

/// One mini-batch: inputs (B, D) and labels (B). `inputs` is a view of the iterator's buffer,
/// valid until the next batch.
public struct Batch {
    public let inputs: Tensor
    public let labels: [Int32]
}

/// Seeded shuffled mini-batches over a dataset, gathered into one reused buffer. The last
/// batch of an epoch is smaller when the size does not divide the dataset (as in PyTorch).
public struct BatchIterator {
    public let dataset: LabeledDataset
    public let batchSize: Int
    private let buffer: Tensor

    public init(dataset: LabeledDataset, batchSize: Int) {
        precondition(batchSize > 0, "batch size must be > 0, but got \(batchSize)")
        self.dataset = dataset
        self.batchSize = batchSize
        buffer = Tensor(zeros: [min(batchSize, max(dataset.count, 1)), dataset.featureCount])
    }

    public var batchesPerEpoch: Int { Self.batchesPerEpoch(rows: dataset.count, batchSize: batchSize) }

    /// Batches (optimizer steps) in one epoch over `rows`: the last batch may be short.
    public static func batchesPerEpoch(rows: Int, batchSize: Int) -> Int { (rows + batchSize - 1) / batchSize }

    /// Calls `body` with each batch of one epoch in an order drawn from `generator`
    /// (or in dataset order when `shuffle` is false).
    public func forEachBatch(shuffle: Bool, generator: inout SeededGenerator, _ body: (Batch) throws -> Void) rethrows {
        let order = shuffle ? generator.permutation(dataset.count) : Array(0..<dataset.count)
        try forEachBatch(order: order, body)
    }

    /// Batches over rows in the given order (e.g. the first K batches for calibration).
    public func forEachBatch(order: [Int], _ body: (Batch) throws -> Void) rethrows {
        let d = dataset.featureCount
        var start = 0
        while start < order.count {
            let n = min(batchSize, order.count - start)
            let inputs = buffer.leadingRows(n)
            var labels = [Int32](repeating: 0, count: n)
            for r in 0..<n {
                let source = order[start + r]
                (inputs.pointer + r * d).update(from: dataset.features.pointer + source * d, count: d)
                labels[r] = dataset.labels[source]
            }
            try body(Batch(inputs: inputs, labels: labels))
            start += n
        }
    }
}
