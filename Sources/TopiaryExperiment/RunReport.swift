import Foundation

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
    public var stages: [StageRecord]
    public var totalSeconds: Double
    /// When the run was resumed from a checkpoint (ISO 8601), oldest first.
    public var resumedAt: [String] = []

    public struct DataRows: Codable, Sendable, Equatable {
        public var train: Int
        public var validation: Int
        public var test: Int
    }

    public struct ModelSummary: Codable, Sendable, Equatable {
        public var architecture: String
        public var parameters: Int
        public var prunableWeights: Int
        enum CodingKeys: String, CodingKey { case architecture, parameters, prunableWeights = "prunable_weights" }
    }

    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version", status, error, experiment, runID = "run_id", quick, spec, environment
        case dataRows = "data_rows", model, stages, totalSeconds = "total_seconds", resumedAt = "resumed_at"
    }

    /// Writes stages.csv, layers.csv and report.json into `directory`, each atomically.
    public func write(to directory: String) throws {
        let stageColumns = ReportColumns.stages(latencyBatchSizes: spec.measurement.latencyBatchSizes)
        try AtomicFile.write(ReportColumns.csv(stageColumns, stages), to: directory + "/stages.csv")
        let layerRows = stages.flatMap { stage in stage.layers.map { (stage: stage.stage, layer: $0) } }
        try AtomicFile.write(ReportColumns.csv(ReportColumns.layers, layerRows), to: directory + "/layers.csv")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try AtomicFile.write(try encoder.encode(self), to: directory + "/report.json")
    }

    public static func read(from directory: String) throws -> RunReport {
        let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/report.json"))
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try decoder.decode(RunReport.self, from: data)
    }
}
