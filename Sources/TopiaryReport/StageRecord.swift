import TopiaryData
import TopiaryMetrics
import TopiarySparsity
import TopiarySpec

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
    /// The task's metrics by split: `test_loss`, `test_accuracy`, `val_rmse`, …, and the
    /// int8 model's test metrics as `int8_test_<metric>`. Written as top-level keys of the
    /// stage (the same place earlier reports had `test_accuracy`).
    public var metrics: [String: Double]
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
    /// Multiply-adds ×2 per sample: all weights, and only the surviving ones.
    public var flopsDense = 0
    public var flopsEffective = 0
    /// Threads the latency figures were measured with (BLAS and SpMM).
    public var latencyThreads = 1
    /// Agreement of `pruning.compare_scorers` per layer and pair, computed before this
    /// stage's pruning (empty for stage 0 and without compare_scorers).
    public var scoreAgreement: [ScoreAgreement] = []
    /// Language models: generation speed per engine, KV-cache bytes, FLOPs per token and
    /// the greedy continuation of one prompt (nil for other models).
    public var generation: GenerationRecord?
    /// With `device:` in the spec: the stage exported as C, compiled and run on this machine
    /// and on an emulated microcontroller.
    public var device: DeviceRecord?
    /// What this stage's training stepped (nil before any training is recorded).
    public var training: TrainingRecord?

    enum CodingKeys: String, CodingKey {
        case stage, status, targetSparsity = "target_sparsity", sparsity, nonzeros, prunableWeights = "prunable_weights"
        case trainLoss = "train_loss", epochs, trainEpochSeconds = "train_epoch_seconds", trainSeconds = "train_seconds"
        case scoreSeconds = "score_seconds", selectSeconds = "select_seconds", latency
        case denseBytes = "dense_bytes", csrBytes = "csr_bytes", peakRSSBytes = "peak_rss_bytes", layers
        case bytesByEngine = "bytes_by_engine", bestEngine = "best_engine", autoEngines = "auto_engines"
        case flopsDense = "flops_dense", flopsEffective = "flops_effective"
        case latencyThreads = "latency_threads", scoreAgreement = "score_agreement", generation, device, training
    }

    /// The metric `name` of `split` ("test", "val", "int8_test"), e.g. metric("test", "accuracy").
    public func metric(_ split: String, _ name: String) -> Double? { metrics["\(split)_\(name)"] }

    /// Splits whose metrics stage rows carry, as key prefixes.
    public static let metricSplits = ["test", "val", "int8_test"]

    /// Whole-model latency of the dense engine at `batch`.
    public func latency(batch: Int) -> LatencyRecord? { latency(batch: batch, engine: "dense") }
    public func latency(batch: Int, engine: String) -> LatencyRecord? {
        latency.first { $0.batchSize == batch && $0.engine == engine }
    }

    public init(stage: Int, status: Status = .accepted, targetSparsity: Double, sparsity: Double, nonzeros: Int, prunableWeights: Int, metrics: [String: Double], trainLoss: Double? = nil, epochs: Int, trainEpochSeconds: Double? = nil, trainSeconds: Double, scoreSeconds: Double, selectSeconds: Double, latency: [LatencyRecord], denseBytes: Int, csrBytes: Int, peakRSSBytes: Int, layers: [LayerRecord], bytesByEngine: [String: Int] = [:], bestEngine: [String: String] = [:], autoEngines: [String: [String]] = [:], flopsDense: Int = 0, flopsEffective: Int = 0, latencyThreads: Int = 1,
                scoreAgreement: [ScoreAgreement] = [], generation: GenerationRecord? = nil) {
        self.generation = generation
        self.flopsDense = flopsDense
        self.flopsEffective = flopsEffective
        self.latencyThreads = latencyThreads
        self.stage = stage
        self.status = status
        self.targetSparsity = targetSparsity
        self.sparsity = sparsity
        self.nonzeros = nonzeros
        self.prunableWeights = prunableWeights
        self.metrics = metrics
        self.trainLoss = trainLoss
        self.epochs = epochs
        self.trainEpochSeconds = trainEpochSeconds
        self.trainSeconds = trainSeconds
        self.scoreSeconds = scoreSeconds
        self.selectSeconds = selectSeconds
        self.latency = latency
        self.denseBytes = denseBytes
        self.csrBytes = csrBytes
        self.peakRSSBytes = peakRSSBytes
        self.layers = layers
        self.bytesByEngine = bytesByEngine
        self.bestEngine = bestEngine
        self.autoEngines = autoEngines
        self.scoreAgreement = scoreAgreement
    }
}

/// What a stage's training stepped, and what that cost: the parameters the optimizer updated
/// (all trainable weights, or only the adapters), the bytes of its state, seconds per step.
public struct TrainingRecord: Codable, Sendable, Equatable {
    public var trainableParameters: Int
    /// Bytes of the optimizer's state buffers (Adam: two moments per trained parameter, Float32).
    public var optimizerStateBytes: Int
    public var steps: Int
    /// Mean wall-clock seconds per optimizer step (nil with no steps).
    public var stepSeconds: Double?
    /// With `adapters:` in the spec: what the adapters were and what merging them did.
    public var adapters: AdapterRecord?

    enum CodingKeys: String, CodingKey {
        case trainableParameters = "trainable_parameters", optimizerStateBytes = "optimizer_state_bytes", steps
        case stepSeconds = "step_seconds", adapters
    }

    public init(trainableParameters: Int, optimizerStateBytes: Int, steps: Int, stepSeconds: Double?, adapters: AdapterRecord? = nil) {
        self.trainableParameters = trainableParameters
        self.optimizerStateBytes = optimizerStateBytes
        self.steps = steps
        self.stepSeconds = stepSeconds
        self.adapters = adapters
    }
}

/// LoRA adapters of one stage: their shape, and the sparsity a merge that ignores the base's
/// masks would leave (W₀ + s·B·A over every prunable weight) beside the masked merge's.
public struct AdapterRecord: Codable, Sendable, Equatable {
    public var rank: Int
    public var alpha: Double
    /// "masked" or "unmasked": the form trained (`adapters.merge`).
    public var merge: String
    /// PEFT's lora_dropout on the adapters' inputs (absent in reports older than it).
    public var dropout: Double?
    /// How the adapters were computed: "folded" into the weights (the base's gradient mapped
    /// onto A and B) or "beside" the frozen base as their own path (no base gradient).
    public var path: String?
    public var targets: [String]
    /// Fraction of prunable weights that are zero after W₀ + s·B·A, unmasked.
    public var unmaskedMergeSparsity: Double
    /// The task's metrics on the validation split for the unmasked merge (`val_<metric>`).
    public var unmaskedMergeMetrics: [String: Double]
    /// Where the stage's adapters were saved in PEFT's layout (run-relative), if they were.
    public var savedTo: String?

    enum CodingKeys: String, CodingKey {
        case rank, alpha, merge, dropout, path, targets, unmaskedMergeSparsity = "unmasked_merge_sparsity"
        case unmaskedMergeMetrics = "unmasked_merge_metrics", savedTo = "saved_to"
    }

    public init(rank: Int, alpha: Double, merge: String, dropout: Double? = nil, path: String? = nil, targets: [String],
                unmaskedMergeSparsity: Double, unmaskedMergeMetrics: [String: Double], savedTo: String?) {
        self.rank = rank
        self.alpha = alpha
        self.merge = merge
        self.dropout = dropout
        self.path = path
        self.targets = targets
        self.unmaskedMergeSparsity = unmaskedMergeSparsity
        self.unmaskedMergeMetrics = unmaskedMergeMetrics
        self.savedTo = savedTo
    }
}

/// What generating text cost after one stage, at batch 1 with the KV cache
/// (`GenerationMeasurement`), and what the model wrote.
public struct GenerationRecord: Codable, Sendable, Equatable {
    /// The prompt and the greedy continuation (dense engine) as text: the model's tokens
    /// decoded (bytes or BPE), invalid UTF-8 replaced.
    public var prompt: String
    public var greedySample: String
    public var promptTokens: Int
    public var newTokens: Int
    /// New tokens ÷ seconds of a whole generation (prompt pass included), per engine.
    public var tokensPerSecond: [String: Double]
    public var kvCacheBytes: Int
    /// The compact engine's cache (whole heads pruned away), when measured.
    public var compactKVCacheBytes: Int?
    public var flopsPerTokenDense: Int
    public var flopsPerTokenEffective: Int

    enum CodingKeys: String, CodingKey {
        case prompt, greedySample = "greedy_sample", promptTokens = "prompt_tokens", newTokens = "new_tokens"
        case tokensPerSecond = "tokens_per_second", kvCacheBytes = "kv_cache_bytes", compactKVCacheBytes = "compact_kv_cache_bytes"
        case flopsPerTokenDense = "flops_per_token_dense", flopsPerTokenEffective = "flops_per_token_effective"
    }

    public init(_ measurement: GenerationMeasurement, prompt: [Int], codec: TokenCodec) {
        self.prompt = codec.decode(prompt)
        greedySample = codec.decode(measurement.greedyTokens)
        promptTokens = measurement.promptTokens
        newTokens = measurement.newTokens
        tokensPerSecond = measurement.tokensPerSecond
        kvCacheBytes = measurement.kvCacheBytes
        compactKVCacheBytes = measurement.compactKVCacheBytes
        flopsPerTokenDense = measurement.flopsPerTokenDense
        flopsPerTokenEffective = measurement.flopsPerTokenEffective
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

    public init(layer: String, parameter: String, rows: Int, columns: Int, total: Int, nonzeros: Int, sparsity: Double, excluded: Bool, denseBytes: Int, csrBytes: Int, latency: [LatencyRecord] = [], bytesByEngine: [String: Int] = [:]) {
        self.layer = layer
        self.parameter = parameter
        self.rows = rows
        self.columns = columns
        self.total = total
        self.nonzeros = nonzeros
        self.sparsity = sparsity
        self.excluded = excluded
        self.denseBytes = denseBytes
        self.csrBytes = csrBytes
        self.latency = latency
        self.bytesByEngine = bytesByEngine
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
        // Metrics: every numeric key with a split prefix.
        let dynamic = try decoder.container(keyedBy: AnyCodingKey.self)
        metrics = [:]
        for key in dynamic.allKeys where StageRecord.metricSplits.contains(where: { key.stringValue.hasPrefix($0 + "_") }) {
            if let value = try? dynamic.decode(Double.self, forKey: key) { metrics[key.stringValue] = value }
        }
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
        flopsDense = try c.decodeIfPresent(Int.self, forKey: .flopsDense) ?? 0
        flopsEffective = try c.decodeIfPresent(Int.self, forKey: .flopsEffective) ?? 0
        latencyThreads = try c.decodeIfPresent(Int.self, forKey: .latencyThreads) ?? 1
        scoreAgreement = try c.decodeIfPresent([ScoreAgreement].self, forKey: .scoreAgreement) ?? []
        generation = try c.decodeIfPresent(GenerationRecord.self, forKey: .generation)
        device = try c.decodeIfPresent(DeviceRecord.self, forKey: .device)
        training = try c.decodeIfPresent(TrainingRecord.self, forKey: .training)
    }
}

extension StageRecord {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(stage, forKey: .stage)
        try c.encode(status, forKey: .status)
        try c.encode(targetSparsity, forKey: .targetSparsity)
        try c.encode(sparsity, forKey: .sparsity)
        try c.encode(nonzeros, forKey: .nonzeros)
        try c.encode(prunableWeights, forKey: .prunableWeights)
        try c.encodeIfPresent(trainLoss, forKey: .trainLoss)
        try c.encode(epochs, forKey: .epochs)
        try c.encodeIfPresent(trainEpochSeconds, forKey: .trainEpochSeconds)
        try c.encode(trainSeconds, forKey: .trainSeconds)
        try c.encode(scoreSeconds, forKey: .scoreSeconds)
        try c.encode(selectSeconds, forKey: .selectSeconds)
        try c.encode(latency, forKey: .latency)
        try c.encode(denseBytes, forKey: .denseBytes)
        try c.encode(csrBytes, forKey: .csrBytes)
        try c.encode(peakRSSBytes, forKey: .peakRSSBytes)
        try c.encode(layers, forKey: .layers)
        try c.encode(bytesByEngine, forKey: .bytesByEngine)
        try c.encode(bestEngine, forKey: .bestEngine)
        try c.encode(autoEngines, forKey: .autoEngines)
        try c.encode(flopsDense, forKey: .flopsDense)
        try c.encode(flopsEffective, forKey: .flopsEffective)
        try c.encode(latencyThreads, forKey: .latencyThreads)
        try c.encode(scoreAgreement, forKey: .scoreAgreement)
        try c.encodeIfPresent(generation, forKey: .generation)
        try c.encodeIfPresent(device, forKey: .device)
        try c.encodeIfPresent(training, forKey: .training)
        var dynamic = encoder.container(keyedBy: AnyCodingKey.self)
        for (name, value) in metrics { try dynamic.encode(value, forKey: AnyCodingKey(stringValue: name)) }
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
