import TopiaryTensor

/// What a model is trained and judged for: the loss, the metrics, and which metric decides
/// (in which direction). The trainer, evaluation, reports, charts, the adaptive policy and
/// comparison gates all ask the task; no metric name is hard-wired outside it.
///
/// Targets are Float32 tensors (N, targetShape…): a class index per sample (exact as a
/// float), regression values, or token ids per position.
public protocol Task: AnyObject {
    /// "classification", "regression", "language_model".
    var kind: String { get }
    /// Every metric evaluation reports, `loss` first.
    var metrics: [MetricDefinition] { get }
    /// The metric decisions use (adaptive acceptance, gates).
    var decidingMetric: MetricDefinition { get }
    /// The model output shape per sample for targets of `targetShape` (e.g. [classes]).
    func outputShape(targetShape: [Int], classCount: Int?) -> [Int]
    /// Mean loss over the batch and dLoss/dOutput (same shape as `output`), valid until the
    /// next call.
    func lossAndGradient(output: Tensor, targets: Tensor) -> (loss: Float, gradient: Tensor)
    /// Adds the batch's contribution to running sums (`finish` turns them into metrics).
    func accumulate(output: Tensor, targets: Tensor, into sums: inout MetricSums)
    func finish(_ sums: MetricSums) -> [String: Double]
}

/// One thing evaluation reports about a model.
public struct MetricDefinition: Sendable, Equatable, Codable {
    public let name: String
    public let meaning: String
    public let higherIsBetter: Bool
    /// How a change is stated and gated: `points` — absolute, ×100 (accuracy: 0.5 = half a
    /// point); `relative` — as a fraction of the old value (RMSE, perplexity, loss).
    public let change: Change
    public enum Change: String, Sendable, Codable { case points, relative }
    enum CodingKeys: String, CodingKey { case name, meaning, higherIsBetter = "higher_is_better", change }

    public init(name: String, meaning: String, higherIsBetter: Bool, change: Change) {
        self.name = name
        self.meaning = meaning
        self.higherIsBetter = higherIsBetter
        self.change = change
    }

    /// The worst value still within `tolerance` (in the change unit) of `baseline`.
    public func limit(from baseline: Double, tolerance: Double) -> Double {
        let step = change == .points ? tolerance / 100 : abs(baseline) * tolerance
        return higherIsBetter ? baseline - step : baseline + step
    }

    /// How much worse `candidate` is than `baseline`, in this metric's change unit (points
    /// or a fraction); negative when it is better.
    public func worsening(from baseline: Double, to candidate: Double) -> Double {
        let signed = higherIsBetter ? baseline - candidate : candidate - baseline
        return change == .points ? signed * 100 : signed / max(abs(baseline), 1e-12)
    }
}

/// Running sums of a task's evaluation: named sums and the number of samples (or tokens).
public struct MetricSums: Sendable {
    public var sums: [String: Double] = [:]
    public var count = 0
    public init() {}
    public mutating func add(_ name: String, _ value: Double) { sums[name, default: 0] += value }
}

extension Array where Element == Int32 {
    /// This array, reused, holding the class index each target element stores as a float
    /// (one per sample, or one per token).
    mutating func refill(classIndicesOf targets: Tensor) {
        removeAll(keepingCapacity: true)
        for i in 0..<targets.count { append(Int32(targets[i])) }
    }
}

/// Every task a spec can name, with how to make it.
public enum TaskKind: String, Sendable, Codable, CaseIterable {
    case classification, regression
    case languageModel = "language_model"
    public func make() -> any Task {
        switch self {
        case .classification: return ClassificationTask()
        case .regression: return RegressionTask()
        case .languageModel: return LanguageModelTask()
        }
    }
}
