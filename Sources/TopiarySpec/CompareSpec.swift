/// `compare:` — how `topiary compare` judges runs of this spec when no flags are given:
///
///     compare:
///       max_metric_drop: 0.5          # how much worse B's deciding test metric may get at any
///                                     # stage: accuracy points, or a fraction for RMSE/perplexity
///                                     # (max_accuracy_drop: the same, for classification)
///       max_latency_increase: 0.10    # relative latency B may add (0.10 = 10 %)
///       baseline: { schedule: list }  # in a sweep: the points that are A …
///       candidate: { schedule: gradual }  # … and the points that are B
///       replicate_key: seed           # points differing only in this are replicates
///       confidence: 0.95              # of the bootstrap interval of each difference
///       resamples: 10000
///       remeasure_rounds: 3           # time both sides' checkpoints again, alternating (off when absent)
///
/// `baseline`/`candidate` select sweep points by their columns (a grid key, its last
/// dotted component, or an axis name); `topiary sweep` then writes the comparison itself.
public struct CompareSpec: Codable, Sendable, Equatable {
    public var maxMetricDrop: Double?
    public var maxLatencyIncrease: Double?
    public var baseline: [String: SweepValue]?
    public var candidate: [String: SweepValue]?
    public var replicateKey: String = "seed"
    public var confidence: Double = 0.95
    public var resamples: Int = 10_000
    /// Rounds of `LatencyRemeasurement` before comparing; nil: the reports' own latency.
    public var remeasureRounds: Int?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxMetricDrop = "max_metric_drop", maxAccuracyDrop = "max_accuracy_drop", maxLatencyIncrease = "max_latency_increase", baseline, candidate
        case replicateKey = "replicate_key", confidence, resamples, remeasureRounds = "remeasure_rounds"
    }

    public init() {}

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if c.contains(.maxMetricDrop) && c.contains(.maxAccuracyDrop) {
            throw decoder.problem(CodingKeys.maxAccuracyDrop, "give max_metric_drop or max_accuracy_drop, not both.")
        }
        maxMetricDrop = try c.decodeIfPresent(Double.self, forKey: .maxMetricDrop) ?? c.decodeIfPresent(Double.self, forKey: .maxAccuracyDrop)
        maxLatencyIncrease = try c.decodeIfPresent(Double.self, forKey: .maxLatencyIncrease)
        baseline = try c.decodeIfPresent([String: SweepValue].self, forKey: .baseline)
        candidate = try c.decodeIfPresent([String: SweepValue].self, forKey: .candidate)
        replicateKey = try c.decodeIfPresent(String.self, forKey: .replicateKey) ?? "seed"
        confidence = try c.decodeIfPresent(Double.self, forKey: .confidence) ?? 0.95
        resamples = try c.decodeIfPresent(Int.self, forKey: .resamples) ?? 10_000
        remeasureRounds = try c.decodeIfPresent(Int.self, forKey: .remeasureRounds)
        if let remeasureRounds, remeasureRounds < 1 { throw decoder.problem(CodingKeys.remeasureRounds, "must be >= 1, got \(remeasureRounds).") }
        if let problem = thresholds.problem {
            throw decoder.problem(problem.name == "max_accuracy_drop" ? (c.contains(.maxMetricDrop) ? CodingKeys.maxMetricDrop : .maxAccuracyDrop) : .maxLatencyIncrease,
                                  problem.problem + ".")
        }
        if (baseline == nil) != (candidate == nil) {
            throw decoder.problem(baseline == nil ? CodingKeys.baseline : CodingKeys.candidate,
                                  "is missing: name both baseline and candidate points, or neither.")
        }
        if let baseline, baseline == candidate { throw decoder.problem(CodingKeys.candidate, "selects the same points as baseline.") }
        if !(confidence > 0 && confidence < 1) { throw decoder.problem(CodingKeys.confidence, "must be in (0, 1), got \(confidence).") }
        if resamples < 100 { throw decoder.problem(CodingKeys.resamples, "must be >= 100 for a usable interval, got \(resamples).") }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(maxMetricDrop, forKey: .maxMetricDrop)
        try c.encodeIfPresent(maxLatencyIncrease, forKey: .maxLatencyIncrease)
        try c.encodeIfPresent(baseline, forKey: .baseline)
        try c.encodeIfPresent(candidate, forKey: .candidate)
        try c.encode(replicateKey, forKey: .replicateKey)
        try c.encode(confidence, forKey: .confidence)
        try c.encode(resamples, forKey: .resamples)
        try c.encodeIfPresent(remeasureRounds, forKey: .remeasureRounds)
    }

    public var thresholds: ComparisonThresholds {
        .init(maxMetricDrop: maxMetricDrop, maxLatencyIncrease: maxLatencyIncrease)
    }
}

/// What `compare` gates on: each bound optional; a comparison past one is a regression.
public struct ComparisonThresholds: Sendable, Equatable {
    /// Largest tolerated worsening of the mean test value of the task's deciding metric, in
    /// its change unit: accuracy points (0.5 = half a point), or a fraction (0.05 = 5 %
    /// higher RMSE or perplexity).
    public var maxMetricDrop: Double?
    /// Largest tolerated relative increase of mean latency (0.1 = 10 %).
    public var maxLatencyIncrease: Double?
    public init(maxMetricDrop: Double? = nil, maxLatencyIncrease: Double? = nil) {
        self.maxMetricDrop = maxMetricDrop
        self.maxLatencyIncrease = maxLatencyIncrease
    }

    /// The ranges a gate makes sense in. A NaN threshold once disabled the gate (every
    /// comparison with NaN is false, so nothing was "past" it): each bound must be a
    /// finite number in its range. Returns (name, problem) of the first that is not.
    public var problem: (name: String, problem: String)? {
        if let drop = maxMetricDrop, !(drop.isFinite && drop >= 0 && drop <= 100) {
            return ("max_accuracy_drop", "must be a number of accuracy points in [0, 100] (0.5 = half a point), or for a metric compared relatively a fraction (0.05 = 5 %), got \(drop)")
        }
        if let increase = maxLatencyIncrease, !(increase.isFinite && increase >= 0) {
            return ("max_latency_increase", "must be a finite fraction >= 0 (0.1 = 10 %), got \(increase)")
        }
        return nil
    }
}
