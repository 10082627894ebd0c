import Foundation
import TopiaryNN
import TopiarySpec

/// report.json: the resolved spec, the environment, and every stage with per-layer detail.
/// `schema_version` changes whenever a field changes meaning or goes away.
public struct RunReport: Codable, Sendable, Equatable {
    public static let schemaVersion = 1

    public enum Status: String, Codable, Sendable { case running, complete, failed, interrupted }

    public var schemaVersion: Int = RunReport.schemaVersion
    public var status: Status
    public var error: String?
    public var experiment: String
    public var runID: String
    public var quick: Bool
    public var spec: ExperimentSpec
    public var environment: RunEnvironment
    public var dataRows: DataRows
    public var model: ModelSummary
    /// The task: its metrics and which one decides (reports of earlier versions: classification).
    public var task: TaskRecord = .classification
    public var stages: [StageRecord]
    /// With `federated:`: every round of every phase (also rounds.csv).
    public var rounds: [FederatedRoundRow] = []
    public var totalSeconds: Double
    /// When the run was resumed from a checkpoint (ISO 8601), oldest first.
    public var resumedAt: [String] = []
    /// The flags the run was started with (nil in reports of earlier versions).
    public var invocation: RunInvocation?
    /// What the run noticed that does not stop it but casts doubt on a result (a loss far
    /// above chance level, say), oldest first.
    public var warnings: [String] = []
    /// The lowest sparsity at which a sparse engine beats dense, per layer and batch size
    /// (derived from the stages; null where it never does).
    public var breakEven: BreakEven { BreakEven(stages: stages.filter { $0.status == .accepted }) }
    /// With `device:`: the least-pruned stage that fits the budget within the tolerance.
    public var deviceFit: DeviceFit? {
        guard let device = spec.device, let baseline = stages.first(where: { $0.stage == 0 })?.metric("test", task.deciding) else { return nil }
        let limit = task.decidingMetric.limit(from: baseline, tolerance: device.tolerance)
        return DeviceFit.find(in: stages, limit: limit, higherIsBetter: task.decidingMetric.higherIsBetter)
    }

    public struct DataRows: Codable, Sendable, Equatable {
        public var train: Int
        public var validation: Int
        public var test: Int
        public init(train: Int, validation: Int, test: Int) { (self.train, self.validation, self.test) = (train, validation, test) }
    }

    public struct ModelSummary: Codable, Sendable, Equatable {
        public var architecture: String
        public var parameters: Int
        public var prunableWeights: Int
        enum CodingKeys: String, CodingKey { case architecture, parameters, prunableWeights = "prunable_weights" }
        public init(architecture: String, parameters: Int, prunableWeights: Int) {
            (self.architecture, self.parameters, self.prunableWeights) = (architecture, parameters, prunableWeights)
        }

    }

    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version", status, error, experiment, runID = "run_id", quick, spec, environment
        case dataRows = "data_rows", model, task, stages, totalSeconds = "total_seconds", resumedAt = "resumed_at"
        case breakEven = "break_even", warnings, invocation, deviceFit = "device_fit", rounds
    }

    public init(status: Status, experiment: String, runID: String, quick: Bool, spec: ExperimentSpec,
                environment: RunEnvironment, dataRows: DataRows, model: ModelSummary, stages: [StageRecord], totalSeconds: Double) {
        self.status = status
        self.experiment = experiment
        self.runID = runID
        self.quick = quick
        self.spec = spec
        self.environment = environment
        self.dataRows = dataRows
        self.model = model
        self.stages = stages
        self.totalSeconds = totalSeconds
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try c.decode(Int.self, forKey: .schemaVersion)
        status = try c.decode(Status.self, forKey: .status)
        error = try c.decodeIfPresent(String.self, forKey: .error)
        experiment = try c.decode(String.self, forKey: .experiment)
        runID = try c.decode(String.self, forKey: .runID)
        quick = try c.decode(Bool.self, forKey: .quick)
        spec = try c.decode(ExperimentSpec.self, forKey: .spec)
        environment = try c.decode(RunEnvironment.self, forKey: .environment)
        dataRows = try c.decode(DataRows.self, forKey: .dataRows)
        model = try c.decode(ModelSummary.self, forKey: .model)
        task = try c.decodeIfPresent(TaskRecord.self, forKey: .task) ?? .classification
        stages = try c.decode([StageRecord].self, forKey: .stages)
        // Every stage carries the deciding metric of both splits: comparisons and the
        // adaptive policy stand on it.
        for (index, stage) in stages.enumerated() {
            for split in ["test", "val"] where stage.metric(split, task.deciding) == nil {
                let key = AnyCodingKey(stringValue: "\(split)_\(task.deciding)")
                throw DecodingError.keyNotFound(key, .init(codingPath: [CodingKeys.stages, AnyCodingKey(stringValue: "[\(index)]")],
                                                           debugDescription: "a stage without its \(task.deciding)"))
            }
        }
        totalSeconds = try c.decode(Double.self, forKey: .totalSeconds)
        resumedAt = try c.decodeIfPresent([String].self, forKey: .resumedAt) ?? []
        warnings = try c.decodeIfPresent([String].self, forKey: .warnings) ?? []
        invocation = try c.decodeIfPresent(RunInvocation.self, forKey: .invocation)
        rounds = try c.decodeIfPresent([FederatedRoundRow].self, forKey: .rounds) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(schemaVersion, forKey: .schemaVersion)
        try c.encode(status, forKey: .status)
        try c.encodeIfPresent(error, forKey: .error)
        try c.encode(experiment, forKey: .experiment)
        try c.encode(runID, forKey: .runID)
        try c.encode(quick, forKey: .quick)
        try c.encode(spec, forKey: .spec)
        try c.encode(environment, forKey: .environment)
        try c.encode(dataRows, forKey: .dataRows)
        try c.encode(model, forKey: .model)
        try c.encode(task, forKey: .task)
        try c.encode(stages, forKey: .stages)
        try c.encode(totalSeconds, forKey: .totalSeconds)
        try c.encode(resumedAt, forKey: .resumedAt)
        try c.encode(warnings, forKey: .warnings)
        try c.encodeIfPresent(invocation, forKey: .invocation)
        try c.encode(breakEven, forKey: .breakEven)
        if spec.device != nil { try c.encode(deviceFit, forKey: .deviceFit) }
        if !rounds.isEmpty { try c.encode(rounds, forKey: .rounds) }
    }

    /// Writes stages.csv, layers.csv, the charts and then report.json into `directory`, each
    /// atomically.
    public func write(to directory: String) throws {
        let stageColumns = ReportColumns.stages(latencyBatchSizes: spec.measurement.latencyBatchSizes, task: task,
                                                evaluations: spec.data.evaluations.map { ($0.name, $0.corpus) }, device: spec.device != nil)
        try AtomicFile.write(ReportColumns.csv(stageColumns, stages), to: directory + "/stages.csv")
        let layerRows = stages.flatMap { stage in stage.layers.map { (stage: stage.stage, layer: $0) } }
        try AtomicFile.write(ReportColumns.csv(ReportColumns.layers(latencyBatchSizes: spec.measurement.latencyBatchSizes), layerRows),
                             to: directory + "/layers.csv")
        if spec.pruning.compareScorers != nil {
            let rows = stages.flatMap { stage in stage.scoreAgreement.map { (stage: stage.stage, agreement: $0) } }
            try AtomicFile.write(ReportColumns.csv(ReportColumns.scores, rows), to: directory + "/scores.csv")
        }
        if !rounds.isEmpty { try AtomicFile.write(ReportColumns.csv(ReportColumns.rounds(task: task), rounds), to: directory + "/rounds.csv") }
        for file in RunPlots.files(self) { try AtomicFile.write(file.content, to: directory + "/" + file.name) }
        // Last: report.json is what a resume and a comparison trust, so it never claims a
        // stage whose other files are not yet written.
        try AtomicFile.writeJSON(self, to: directory + "/report.json")
    }

    public static func read(from directory: String) throws -> RunReport {
        let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/report.json"))
        return try JSONCoding.decoder.decode(RunReport.self, from: data)
    }

    /// A decoding failure as "key.path: what" (Swift's DecodingError descriptions are long).
    public static func describe(_ error: any Error) -> String {
        func path(_ keys: [any CodingKey]) -> String { keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") }
        switch error {
        case DecodingError.keyNotFound(let key, let context): return "\(path(context.codingPath + [key])) is missing"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
             DecodingError.dataCorrupted(let context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        default: return (error as? LocalizedError)?.errorDescription ?? "\(error)"
        }
    }
}

/// Break-even sparsities (report.json `break_even`). A layer breaks even at batch B at the
/// lowest sparsity (over the run's accepted stages) where its best exact sparse engine (csr,
/// sell, nm) beats its dense engine; the model breaks even where the best exact sparse engine
/// (csr, sell, nm, compact, auto) beats dense. null: not at any measured stage.
public struct BreakEven: Codable, Sendable, Equatable {
    /// layer → batch size → sparsity
    public var layers: [String: [String: Double?]] = [:]
    /// batch size → global sparsity
    public var model: [String: Double?] = [:]

    /// A sparse median must be below this fraction of the dense median to count as faster.
    public static let margin = 0.95

    init(stages: [StageRecord]) {
        let batches = Set(stages.flatMap { $0.latency.map(\.batchSize) }).sorted()
        for batch in batches {
            let key = String(batch)
            model[key] = stages.filter { stage in
                guard let dense = stage.latency(batch: batch, engine: "dense")?.medianMicroseconds else { return false }
                return (InferenceEngineNames.exactSparse + ["auto"]).contains {
                    stage.latency(batch: batch, engine: $0).map { $0.medianMicroseconds < BreakEven.margin * dense } ?? false
                }
            }.map(\.sparsity).min()
            for name in Set(stages.flatMap { $0.layers.map(\.layer) }).sorted() {
                let wins = stages.compactMap { stage -> Double? in
                    guard let layer = stage.layers.first(where: { $0.layer == name }),
                          let dense = layer.latency(batch: batch, engine: "dense")?.medianMicroseconds,
                          let sparse = InferenceEngineNames.exactSparsePerLayer.compactMap({ layer.latency(batch: batch, engine: $0)?.medianMicroseconds }).min(),
                          sparse < BreakEven.margin * dense else { return nil }
                    return layer.sparsity
                }
                layers[name, default: [:]][key] = .some(wins.min())
            }
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        layers = try c.decode([String: [String: Double?]].self, forKey: .layers)
        model = try c.decode([String: Double?].self, forKey: .model)
    }
}

/// What report.json says about the task: its kind, its metrics (names, meanings,
/// directions) and the one that decides, so a reader needs no code to interpret a report.
public struct TaskRecord: Codable, Sendable, Equatable {
    public var kind: String
    public var metrics: [MetricDefinition]
    public var deciding: String

    public init(_ task: any Task) {
        kind = task.kind
        metrics = task.metrics
        deciding = task.decidingMetric.name
    }

    public static let classification = TaskRecord(ClassificationTask())
    /// `LanguageModelTask`'s kind: its reports carry generation columns.
    public static let languageModelKind = LanguageModelTask().kind

    public var decidingMetric: MetricDefinition { metrics.first { $0.name == deciding }! }

    enum CodingKeys: String, CodingKey { case kind, metrics, deciding = "deciding_metric" }
}
