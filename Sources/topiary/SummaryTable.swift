import Foundation
import TopiaryReport

/// The one-screen table printed at the end of a run.
enum SummaryTable {
    static func render(_ report: RunReport, runDirectory: String) -> String {
        let batches = report.spec.measurement.latencyBatchSizes
        let showStatus = report.stages.contains { $0.status != .accepted }
        let metric = report.task.deciding
        let short = metric == "accuracy" ? "acc" : metric
        var header = ["stage"] + (showStatus ? ["status"] : []) + ["target", "sparsity", "test \(short)", "val \(short)", "epoch s"]
        header += batches.map { "b\($0) µs" }
        header += ["CSR KiB"]
        var rows = [header]
        for s in report.stages {
            var row = [String(s.stage)] + (showStatus ? [s.status.rawValue] : []) + [String(format: "%.5f", s.targetSparsity), String(format: "%.5f", s.sparsity),
                       String(format: "%.4f", s.metric("test", metric) ?? .nan), String(format: "%.4f", s.metric("val", metric) ?? .nan),
                       s.trainEpochSeconds.map { String(format: "%.3f", $0) } ?? "-"]
            row += batches.map { b in s.latency(batch: b).map { String(format: "%.1f", $0.medianMicroseconds) } ?? "-" }
            row += [String(format: "%.1f", Double(s.csrBytes) / 1024)]
            rows.append(row)
        }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max()! }
        var lines = rows.map { row in
            row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        lines.insert(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "), at: 1)
        let env = report.environment
        lines.insert("\(report.experiment)  seed \(report.spec.seed)  \(report.model.architecture)  BLAS \(env.blasCore) x\(env.blasThreads)  FTZ \(env.flushToZero ? "on" : "off")", at: 0)
        if let best = report.stages.filter({ $0.status == .accepted }).max(by: { $0.sparsity < $1.sparsity }), showStatus {
            lines.append(String(format: "highest accepted sparsity %.5f (stage %d): test %@ %.4f, validation %.4f", best.sparsity, best.stage, metric,
                                best.metric("test", metric) ?? .nan, best.metric("val", metric) ?? .nan))
        }
        lines.append("reports: \(runDirectory)/{stages.csv,layers.csv,report.json}  (\(String(format: "%.1f", report.totalSeconds)) s)")
        return lines.joined(separator: "\n")
    }
}
