import TopiaryTensor

/// Softmax cross-entropy over class logits (B, classes) with a class index per sample;
/// metrics: the mean loss and accuracy (arg-max equals the label; ties go to the first
/// class), and top-5 accuracy when there are more than five classes. Accuracy decides.
public final class ClassificationTask: Task {
    public let kind = "classification"
    private let loss = SoftmaxCrossEntropy()
    private var labels: [Int32] = []

    public init() {}

    public static let loss = MetricDefinition(name: "loss", meaning: "mean cross-entropy (nats)", higherIsBetter: false, change: .relative)
    public static let accuracy = MetricDefinition(name: "accuracy", meaning: "fraction of samples whose arg-max class is the label",
                                                  higherIsBetter: true, change: .points)

    public var metrics: [MetricDefinition] { [Self.loss, Self.accuracy] }
    public var decidingMetric: MetricDefinition { Self.accuracy }

    public func outputShape(targetShape: [Int], classCount: Int?) -> [Int] { [classCount ?? 1] }

    public func lossAndGradient(output: Tensor, targets: Tensor) -> (loss: Float, gradient: Tensor) {
        let logits = output.asRows
        labels.refill(classIndicesOf: targets)
        return loss.lossAndGradient(logits: logits, labels: labels)
    }

    public func accumulate(output: Tensor, targets: Tensor, into sums: inout MetricSums) {
        labels.refill(classIndicesOf: targets)
        let result = SoftmaxCrossEntropy.evaluate(logits: output.asRows, labels: labels[...])
        sums.add("loss", result.lossSum)
        sums.add("accuracy", Double(result.correct))
        sums.count += labels.count
    }

    public func finish(_ sums: MetricSums) -> [String: Double] {
        let n = Double(max(sums.count, 1))
        return ["loss": (sums.sums["loss"] ?? 0) / n, "accuracy": (sums.sums["accuracy"] ?? 0) / n]
    }
}

/// Mean squared error over real-valued outputs (B, outputs) against targets of the same
/// shape; metrics: the loss (MSE), RMSE and MAE over every output of every sample. RMSE
/// decides (lower is better).
public final class RegressionTask: Task {
    public let kind = "regression"
    private var gradient = ActivationBuffer()

    public init() {}

    public static let loss = MetricDefinition(name: "loss", meaning: "mean squared error", higherIsBetter: false, change: .relative)
    public static let rmse = MetricDefinition(name: "rmse", meaning: "root mean squared error, in the target's units",
                                              higherIsBetter: false, change: .relative)
    public static let mae = MetricDefinition(name: "mae", meaning: "mean absolute error, in the target's units",
                                             higherIsBetter: false, change: .relative)

    public var metrics: [MetricDefinition] { [Self.loss, Self.rmse, Self.mae] }
    public var decidingMetric: MetricDefinition { Self.rmse }

    public func outputShape(targetShape: [Int], classCount: Int?) -> [Int] { targetShape.isEmpty ? [1] : targetShape }

    public func lossAndGradient(output: Tensor, targets: Tensor) -> (loss: Float, gradient: Tensor) {
        require(output.count == targets.count, "regression: \(output.shape) outputs for \(targets.shape) targets")
        let g = gradient.tensor(output.shape)
        var sum = 0.0
        let scale = 2 / Float(output.count)
        for i in 0..<output.count {
            let difference = output[i] - targets[i]
            sum += Double(difference) * Double(difference)
            g[i] = scale * difference
        }
        return (Float(sum / Double(output.count)), g)
    }

    public func accumulate(output: Tensor, targets: Tensor, into sums: inout MetricSums) {
        require(output.count == targets.count, "regression: \(output.shape) outputs for \(targets.shape) targets")
        var squares = 0.0, absolute = 0.0
        for i in 0..<output.count {
            let difference = Double(output[i] - targets[i])
            squares += difference * difference
            absolute += abs(difference)
        }
        sums.add("squares", squares)
        sums.add("absolute", absolute)
        sums.count += output.count
    }

    public func finish(_ sums: MetricSums) -> [String: Double] {
        let n = Double(max(sums.count, 1))
        let mse = (sums.sums["squares"] ?? 0) / n
        return ["loss": mse, "rmse": mse.squareRoot(), "mae": (sums.sums["absolute"] ?? 0) / n]
    }
}
