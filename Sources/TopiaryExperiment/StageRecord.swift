import TopiaryMetrics
import TopiarySparsity

/// Everything measured after dense training (stage 0) or after one prune stage's retraining.
public struct StageRecord: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        /// Kept: the run continues from this stage.
        case accepted
        /// An adaptive attempt outside the tolerance: measured, then rolled back.
        case rejected
    }

    public var stage: Int
    public var status: Status = .accepted
    public var targetSparsity: Double
    /// Realised: fraction of prunable weights whose mask is 0.
    public var sparsity: Double
    /// Alive prunable weights.
    public var nonzeros: Int
    public var prunableWeights: Int
    public var testAccuracy: Double
    public var testLoss: Double
    public var valAccuracy: Double
    public var valLoss: Double
    /// Mean training loss over the last epoch of this stage (nil with 0 epochs).
    public var trainLoss: Double?
    public var epochs: Int
    /// Mean wall-clock seconds per training epoch of this stage (nil with 0 epochs).
    public var trainEpochSeconds: Double?
    public var trainSeconds: Double
    public var scoreSeconds: Double
    public var selectSeconds: Double
    public var latency: [LatencyRecord]
    public var denseBytes: Int
    public var csrBytes: Int
    public var peakRSSBytes: Int
    public var layers: [LayerRecord]
    /// Bytes of the model in each engine's format (values, indices, scales, biases).
    public var bytesByEngine: [String: Int] = [:]
    /// Per batch size ("1", "1000"): the engine with the lowest median whole-model latency.
    public var bestEngine: [String: String] = [:]
    /// Per batch size: the auto mode's per-layer choice.
    public var autoEngines: [String: [String]] = [:]
    /// Test accuracy of the int8-quantized model (per-row symmetric weights).
    public var int8TestAccuracy: Double?
    /// Multiply-adds ×2 per sample: all weights, and only the surviving ones.
    public var flopsDense = 0
    public var flopsEffective = 0
    /// Threads the latency figures were measured with (BLAS and SpMM).
    public var latencyThreads = 1
    /// Agreement of `pruning.compare_scorers` per layer and pair, computed before this
    /// stage's pruning (empty for stage 0 and without compare_scorers).
    public var scoreAgreement: [ScoreAgreement] = []

    enum CodingKeys: String, CodingKey {
        case stage, status, targetSparsity = "target_sparsity", sparsity, nonzeros, prunableWeights = "prunable_weights"
        case testAccuracy = "test_accuracy", testLoss = "test_loss", valAccuracy = "val_accuracy", valLoss = "val_loss"
        case trainLoss = "train_loss", epochs, trainEpochSeconds = "train_epoch_seconds", trainSeconds = "train_seconds"
        case scoreSeconds = "score_seconds", selectSeconds = "select_seconds", latency
        case denseBytes = "dense_bytes", csrBytes = "csr_bytes", peakRSSBytes = "peak_rss_bytes", layers
        case bytesByEngine = "bytes_by_engine", bestEngine = "best_engine", autoEngines = "auto_engines"
        case int8TestAccuracy = "int8_test_accuracy", flopsDense = "flops_dense", flopsEffective = "flops_effective"
        case latencyThreads = "latency_threads", scoreAgreement = "score_agreement"
    }

    /// Whole-model latency of the dense engine at `batch`.
    public func latency(batch: Int) -> LatencyRecord? { latency(batch: batch, engine: "dense") }
    public func latency(batch: Int, engine: String) -> LatencyRecord? {
        latency.first { $0.batchSize == batch && $0.engine == engine }
    }
}

/// Whole-model latency of the dense engine at one batch size.
public struct LatencyRecord: Codable, Sendable, Equatable {
    public var batchSize: Int
    public var engine: String
    public var medianMicroseconds: Double
    public var p95Microseconds: Double
    public var minMicroseconds: Double
    public var repetitions: Int

    enum CodingKeys: String, CodingKey {
        case batchSize = "batch_size", engine, medianMicroseconds = "median_us", p95Microseconds = "p95_us"
        case minMicroseconds = "min_us", repetitions
    }

    public init(batchSize: Int, engine: String, _ statistics: LatencyStatistics) {
        self.batchSize = batchSize
        self.engine = engine
        medianMicroseconds = statistics.medianMicroseconds
        p95Microseconds = statistics.p95Microseconds
        minMicroseconds = statistics.minMicroseconds
        repetitions = statistics.repetitions
    }
}

/// One weight matrix at one stage.
public struct LayerRecord: Codable, Sendable, Equatable {
    public var layer: String
    public var parameter: String
    public var rows: Int
    public var columns: Int
    public var total: Int
    public var nonzeros: Int
    public var sparsity: Double
    /// Excluded from pruning by the spec.
    public var excluded: Bool
    public var denseBytes: Int
    public var csrBytes: Int
    /// This layer alone, per engine and batch size.
    public var latency: [LatencyRecord] = []
    public var bytesByEngine: [String: Int] = [:]

    enum CodingKeys: String, CodingKey {
        case layer, parameter, rows, columns, total, nonzeros, sparsity, excluded
        case denseBytes = "dense_bytes", csrBytes = "csr_bytes", latency, bytesByEngine = "bytes_by_engine"
    }

    public func latency(batch: Int, engine: String) -> LatencyRecord? {
        latency.first { $0.batchSize == batch && $0.engine == engine }
    }
}

// Reports written by earlier Topiary versions (schema 1 before per-engine measurement) lack
// the fields added since — per-layer latency, bytes per engine, best/auto engines, flops,
// latency threads, score agreement. They read as empty or default, so an old baseline run
// stays comparable with `topiary compare`.
extension StageRecord {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        stage = try c.decode(Int.self, forKey: .stage)
        status = try c.decodeIfPresent(Status.self, forKey: .status) ?? .accepted
        targetSparsity = try c.decode(Double.self, forKey: .targetSparsity)
        sparsity = try c.decode(Double.self, forKey: .sparsity)
        nonzeros = try c.decode(Int.self, forKey: .nonzeros)
        prunableWeights = try c.decode(Int.self, forKey: .prunableWeights)
        testAccuracy = try c.decode(Double.self, forKey: .testAccuracy)
        testLoss = try c.decode(Double.self, forKey: .testLoss)
        valAccuracy = try c.decode(Double.self, forKey: .valAccuracy)
        valLoss = try c.decode(Double.self, forKey: .valLoss)
        trainLoss = try c.decodeIfPresent(Double.self, forKey: .trainLoss)
        epochs = try c.decode(Int.self, forKey: .epochs)
        trainEpochSeconds = try c.decodeIfPresent(Double.self, forKey: .trainEpochSeconds)
        trainSeconds = try c.decode(Double.self, forKey: .trainSeconds)
        scoreSeconds = try c.decode(Double.self, forKey: .scoreSeconds)
        selectSeconds = try c.decode(Double.self, forKey: .selectSeconds)
        latency = try c.decode([LatencyRecord].self, forKey: .latency)
        denseBytes = try c.decode(Int.self, forKey: .denseBytes)
        csrBytes = try c.decode(Int.self, forKey: .csrBytes)
        peakRSSBytes = try c.decode(Int.self, forKey: .peakRSSBytes)
        layers = try c.decode([LayerRecord].self, forKey: .layers)
        bytesByEngine = try c.decodeIfPresent([String: Int].self, forKey: .bytesByEngine) ?? [:]
        bestEngine = try c.decodeIfPresent([String: String].self, forKey: .bestEngine) ?? [:]
        autoEngines = try c.decodeIfPresent([String: [String]].self, forKey: .autoEngines) ?? [:]
        int8TestAccuracy = try c.decodeIfPresent(Double.self, forKey: .int8TestAccuracy)
        flopsDense = try c.decodeIfPresent(Int.self, forKey: .flopsDense) ?? 0
        flopsEffective = try c.decodeIfPresent(Int.self, forKey: .flopsEffective) ?? 0
        latencyThreads = try c.decodeIfPresent(Int.self, forKey: .latencyThreads) ?? 1
        scoreAgreement = try c.decodeIfPresent([ScoreAgreement].self, forKey: .scoreAgreement) ?? []
    }
}

extension LayerRecord {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        layer = try c.decode(String.self, forKey: .layer)
        parameter = try c.decode(String.self, forKey: .parameter)
        rows = try c.decode(Int.self, forKey: .rows)
        columns = try c.decode(Int.self, forKey: .columns)
        total = try c.decode(Int.self, forKey: .total)
        nonzeros = try c.decode(Int.self, forKey: .nonzeros)
        sparsity = try c.decode(Double.self, forKey: .sparsity)
        excluded = try c.decode(Bool.self, forKey: .excluded)
        denseBytes = try c.decode(Int.self, forKey: .denseBytes)
        csrBytes = try c.decode(Int.self, forKey: .csrBytes)
        latency = try c.decodeIfPresent([LatencyRecord].self, forKey: .latency) ?? []
        bytesByEngine = try c.decodeIfPresent([String: Int].self, forKey: .bytesByEngine) ?? [:]
    }
}
