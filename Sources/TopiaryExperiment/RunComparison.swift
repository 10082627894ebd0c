import Foundation

/// `topiary compare A B`: stage-aligned differences between two runs, and a regression gate.
public struct RunComparison: Sendable {
    public struct Row: Codable, Sendable, Equatable {
        public let stage: Int
        public let targetSparsity: Double
        public let metric: String
        public let a: Double
        public let b: Double
        /// b − a (accuracy, in fractions; shown in points) or (b − a) / a (latency, bytes).
        public let change: Double
        public let relative: Bool
        public let regression: Bool
        enum CodingKeys: String, CodingKey {
            case stage, targetSparsity = "target_sparsity", metric, a, b, change, relative, regression
        }
    }

    public struct Thresholds: Sendable, Equatable {
        /// Largest tolerated drop of test accuracy, in accuracy points (0.5 = half a point).
        public var maxAccuracyDropPoints: Double?
        /// Largest tolerated relative latency increase (0.1 = 10 %).
        public var maxLatencyIncrease: Double?
        public init(maxAccuracyDropPoints: Double? = nil, maxLatencyIncrease: Double? = nil) {
            self.maxAccuracyDropPoints = maxAccuracyDropPoints
            self.maxLatencyIncrease = maxLatencyIncrease
        }
    }

    public let rows: [Row]
    public var regressed: Bool { rows.contains { $0.regression } }

    public init(_ a: RunReport, _ b: RunReport, thresholds: Thresholds) throws {
        let stagesA = a.stages.filter { $0.status == .accepted }, stagesB = b.stages.filter { $0.status == .accepted }
        guard stagesA.map(\.targetSparsity) == stagesB.map(\.targetSparsity) else {
            throw ComparisonError.stagesDiffer(a: stagesA.map(\.targetSparsity), b: stagesB.map(\.targetSparsity))
        }
        var rows: [Row] = []
        for (sa, sb) in zip(stagesA, stagesB) {
            func add(_ metric: String, _ x: Double, _ y: Double, relative: Bool, regression: Bool) {
                rows.append(Row(stage: sa.stage, targetSparsity: sa.targetSparsity, metric: metric, a: x, b: y,
                                change: relative ? (x == 0 ? 0 : (y - x) / x) : y - x, relative: relative, regression: regression))
            }
            let drop = (sa.testAccuracy - sb.testAccuracy) * 100
            add("test_accuracy", sa.testAccuracy, sb.testAccuracy, relative: false,
                regression: thresholds.maxAccuracyDropPoints.map { drop > $0 + 1e-9 } ?? false)
            add("val_accuracy", sa.valAccuracy, sb.valAccuracy, relative: false, regression: false)
            for record in sa.latency where record.engine == "dense" || record.engine == sa.bestEngine[String(record.batchSize)] {
                guard let other = sb.latency(batch: record.batchSize, engine: record.engine) else { continue }
                let increase = (other.medianMicroseconds - record.medianMicroseconds) / record.medianMicroseconds
                add("latency_b\(record.batchSize)_\(record.engine)_median_us", record.medianMicroseconds, other.medianMicroseconds,
                    relative: true, regression: thresholds.maxLatencyIncrease.map { increase > $0 } ?? false)
            }
            add("csr_bytes", Double(sa.csrBytes), Double(sb.csrBytes), relative: true, regression: false)
        }
        self.rows = rows
    }

    /// A Markdown table; failing rows marked **REGRESSION**.
    public var markdown: String {
        var text = "| stage | target | metric | A | B | change | verdict |\n|---|---|---|---|---|---|---|\n"
        for row in rows {
            let change = row.relative ? String(format: "%+.1f %%", row.change * 100) : String(format: "%+.2f points", row.change * 100)
            text += "| \(row.stage) | \(row.targetSparsity) | `\(row.metric)` | \(format(row.a)) | \(format(row.b)) | \(change) | \(row.regression ? "**REGRESSION**" : "ok") |\n"
        }
        return text
    }

    private func format(_ value: Double) -> String { value < 10 ? String(format: "%.4f", value) : String(format: "%.1f", value) }

    public var csv: String {
        var text = "stage,target_sparsity,metric,a,b,change,relative,regression\n"
        for r in rows { text += "\(r.stage),\(r.targetSparsity),\(r.metric),\(r.a),\(r.b),\(r.change),\(r.relative),\(r.regression)\n" }
        return text
    }
}

public enum ComparisonError: Error, LocalizedError, Equatable {
    case stagesDiffer(a: [Double], b: [Double])
    public var errorDescription: String? {
        switch self {
        case .stagesDiffer(let a, let b):
            return "the runs' accepted stages differ (A: \(a), B: \(b)); compare runs of the same schedule."
        }
    }
}
