import TopiaryTensor

/// Examples as a model and a task see them: inputs (N, inputShape…) and targets
/// (N, targetShape…), both Float32 — images scaled to [0, 1], standardised table rows, sensor
/// series (N, channels, length); a class index per sample (exact as a float), regression
/// values, or token ids.
///
/// `groups` (optional) says which rows belong together (windows of one recording): splits
/// keep a group on one side, so a validation split never holds a piece of a series that
/// training has seen.
public struct Dataset: Sendable {
    public let inputs: Tensor
    public let targets: Tensor
    /// Classes of a classification data set (targets in 0..<classCount); nil otherwise.
    public let classCount: Int?
    public let groups: [Int]?

    public init(inputs: Tensor, targets: Tensor, classCount: Int?, groups: [Int]? = nil) {
        precondition(inputs.rank >= 2 && targets.rank >= 1 && inputs.shape[0] == targets.shape[0],
                     "\(inputs.shape) inputs but \(targets.shape) targets")
        if let classCount {
            precondition((0..<targets.count).allSatisfy { targets[$0] >= 0 && targets[$0] < Float(classCount) && targets[$0] == targets[$0].rounded() },
                         "class targets must be whole numbers in 0..<\(classCount)")
        }
        precondition(groups == nil || groups!.count == inputs.shape[0], "one group per row")
        self.inputs = inputs
        self.targets = targets
        self.classCount = classCount
        self.groups = groups
    }

    /// A classification set from integer labels.
    public init(inputs: Tensor, labels: [Int32], classCount: Int, groups: [Int]? = nil) {
        self.init(inputs: inputs, targets: Tensor(shape: [labels.count], values: labels.map(Float.init)), classCount: classCount, groups: groups)
    }

    public var count: Int { inputs.shape[0] }
    /// One sample's input shape ([28, 28] an image as its file stores it, [6, 100] a series).
    public var inputShape: [Int] { Array(inputs.shape.dropFirst()) }
    public var targetShape: [Int] { Array(targets.shape.dropFirst()) }
    /// Elements per sample.
    public var featureCount: Int { inputs.sampleCount }
    /// The class index of sample i (classification).
    public func label(_ i: Int) -> Int { Int(targets[i]) }

    /// The same rows seen with another per-sample input shape (an image's [28, 28] as the
    /// [1, 28, 28] a convolution reads, or the [784] an MLP reads).
    public func reshapingInputs(_ shape: [Int]) -> Dataset {
        precondition(shape.reduce(1, *) == featureCount, "cannot view \(inputShape) as \(shape)")
        return Dataset(inputs: inputs.reshaped([count] + shape), targets: targets, classCount: classCount, groups: groups)
    }

    /// The rows at `indices`, in that order (a copy).
    public func subset(_ indices: [Int]) -> Dataset {
        let d = featureCount, t = targets.sampleCount
        let rows = Tensor(zeros: [indices.count] + inputShape), chosen = Tensor(zeros: [indices.count] + targetShape)
        for (target, source) in indices.enumerated() {
            precondition(source >= 0 && source < count, "row \(source) outside 0..<\(count)")
            (rows.pointer + target * d).update(from: inputs.pointer + source * d, count: d)
            (chosen.pointer + target * t).update(from: targets.pointer + source * t, count: t)
        }
        return Dataset(inputs: rows, targets: chosen, classCount: classCount, groups: groups.map { g in indices.map { g[$0] } })
    }

    /// A seeded random split into (rest, held-out) with `heldOutCount` rows held out: the
    /// validation split that guides decisions, kept apart from the test set. With groups,
    /// whole groups are held out (in a random order) until at least `heldOutCount` rows are.
    public func split(heldOutCount: Int, generator: inout SeededGenerator) -> (rest: Dataset, heldOut: Dataset) {
        precondition(heldOutCount >= 0 && heldOutCount < count, "cannot hold out \(heldOutCount) of \(count) rows")
        guard let groups else {
            let order = generator.permutation(count)
            return (subset(Array(order[heldOutCount...]).sorted()), subset(Array(order[0..<heldOutCount]).sorted()))
        }
        let names = Array(Set(groups)).sorted()
        var held = Set<Int>(), rows = 0
        for index in generator.permutation(names.count) where rows < heldOutCount {
            held.insert(names[index])
            rows += groups.filter { $0 == names[index] }.count
        }
        let heldOut = (0..<count).filter { held.contains(groups[$0]) }
        let rest = (0..<count).filter { !held.contains(groups[$0]) }
        return (subset(rest), subset(heldOut))
    }

    /// A seeded random sample of `n` rows (all rows when n >= count), kept in original order.
    public func sample(_ n: Int, generator: inout SeededGenerator) -> Dataset {
        if n >= count { return self }
        return subset(Array(generator.permutation(count)[0..<n]).sorted())
    }
}
