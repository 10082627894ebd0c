import TopiaryTensor

/// Feature rows (N, D) in Float32 with integer class labels: the form every classifier
/// workload takes once loaded (IDX images scaled to [0, 1], CSV rows, …).
public struct LabeledDataset: Sendable {
    public let features: Tensor
    public let labels: [Int32]
    public let classCount: Int
    /// The shape of one item as its file stores it ([28, 28] for an image); features are
    /// its elements flattened, so `featureCount` is the product.
    public let itemShape: [Int]

    public init(features: Tensor, labels: [Int32], classCount: Int, itemShape: [Int]? = nil) {
        precondition(features.rank == 2 && features.rows == labels.count,
                     "\(features.shape) features but \(labels.count) labels")
        precondition(labels.allSatisfy { $0 >= 0 && Int($0) < classCount },
                     "labels must lie in 0..<\(classCount)")
        let itemShape = itemShape ?? [features.shape[1]]
        precondition(itemShape.reduce(1, *) == features.shape[1], "item shape \(itemShape) for \(features.shape[1]) features")
        self.features = features
        self.labels = labels
        self.classCount = classCount
        self.itemShape = itemShape
    }

    public var count: Int { labels.count }
    public var featureCount: Int { features.columns }

    /// The rows at `indices`, in that order (a copy).
    public func subset(_ indices: [Int]) -> LabeledDataset {
        let d = featureCount
        let rows = Tensor(zeros: [indices.count, d])
        for (target, source) in indices.enumerated() {
            precondition(source >= 0 && source < count, "row \(source) outside 0..<\(count)")
            (rows.pointer + target * d).update(from: features.pointer + source * d, count: d)
        }
        return LabeledDataset(features: rows, labels: indices.map { labels[$0] }, classCount: classCount, itemShape: itemShape)
    }

    /// A seeded random split into (rest, held-out) with `heldOutCount` rows held out: the
    /// validation split that guides decisions, kept apart from the test set.
    public func split(heldOutCount: Int, generator: inout SeededGenerator) -> (rest: LabeledDataset, heldOut: LabeledDataset) {
        precondition(heldOutCount >= 0 && heldOutCount < count,
                     "cannot hold out \(heldOutCount) of \(count) rows")
        let order = generator.permutation(count)
        let heldOut = Array(order[0..<heldOutCount]).sorted()
        let rest = Array(order[heldOutCount...]).sorted()
        return (subset(rest), subset(heldOut))
    }

    /// A seeded random sample of `n` rows (all rows when n >= count), kept in original order.
    public func sample(_ n: Int, generator: inout SeededGenerator) -> LabeledDataset {
        if n >= count { return self }
        return subset(Array(generator.permutation(count)[0..<n]).sorted())
    }
}
