import Foundation

/// The charts every run writes beside its reports, and index.html showing them with the
/// stage table: the task's deciding metric (`accuracy.svg`, `rmse.svg`, …), latency per engine
/// and batch size, and bytes per format, each against realised sparsity.
public enum RunPlots {
    public static func files(_ report: RunReport) -> [(name: String, content: String)] {
        let accepted = report.stages.filter { $0.status == .accepted }
        guard !accepted.isEmpty else { return [] }
        var files: [(String, String)] = []
        let metric = report.task.decidingMetric, name = metric.name

        var chart = SVGChart(title: "\(report.experiment): \(name) vs sparsity", xLabel: "sparsity of prunable weights (fraction)",
                             yLabel: metric.change == .points ? "\(name) (fraction)" : name)
        chart.series.append(.init(name: "test", points: accepted.compactMap { s in s.metric("test", name).map { (s.sparsity, $0) } }))
        chart.series.append(.init(name: "validation", points: accepted.compactMap { s in s.metric("val", name).map { (s.sparsity, $0) } }))
        let int8 = accepted.compactMap { s in s.metric("int8_test", name).map { (s.sparsity, $0) } }
        if !int8.isEmpty { chart.series.append(.init(name: "test, int8", points: int8, dashed: true)) }
        let rejected = report.stages.filter { $0.status == .rejected }
        if !rejected.isEmpty {
            chart.series.append(.init(name: "rejected (validation)", points: rejected.compactMap { s in s.metric("val", name).map { (s.sparsity, $0) } }, dashed: true))
        }
        if let dense = accepted[0].metric("test", name) { chart.references = [("dense test \(String(format: "%.4f", dense))", dense)] }
        if case .adaptive(let policy, _) = report.spec.pruning.plan, let dense = accepted[0].metric("val", name) {
            let limit = metric.limit(from: dense, tolerance: policy.tolerance)
            chart.band = ("tolerance (validation)", min(dense, limit), max(dense, limit))
        }
        files.append(("\(name).svg", chart.svg))

        for batch in report.spec.measurement.latencyBatchSizes {
            var chart = SVGChart(title: "whole-model latency, batch \(batch)", xLabel: "sparsity of prunable weights (fraction)",
                                 yLabel: "median latency (µs)")
            chart.logY = true
            for engine in InferenceEngineNames.whole + ["auto"] {
                let points = accepted.compactMap { s in s.latency(batch: batch, engine: engine).map { (s.sparsity, $0.medianMicroseconds) } }
                if !points.isEmpty { chart.series.append(.init(name: engine, points: points, dashed: engine == "auto")) }
            }
            if !chart.series.isEmpty { files.append(("latency_b\(batch).svg", chart.svg)) }
        }

        var memory = SVGChart(title: "model size per format", xLabel: "sparsity of prunable weights (fraction)", yLabel: "bytes")
        memory.logY = true
        for engine in InferenceEngineNames.bytes {
            let points = accepted.compactMap { s in s.bytesByEngine[engine].map { (s.sparsity, Double($0)) } }
            if !points.isEmpty { memory.series.append(.init(name: engine, points: points)) }
        }
        if memory.series.isEmpty { memory.series.append(.init(name: "dense", points: accepted.map { ($0.sparsity, Double($0.denseBytes)) })) }
        files.append(("memory.svg", memory.svg))
        files.append(("index.html", index(report, charts: files.map(\.0))))
        return files
    }

    static func index(_ report: RunReport, charts: [String]) -> String {
        var html = """
        <!doctype html><html><head><meta charset="utf-8"><title>\(SVGChart.escape(report.experiment)) \(report.runID)</title>
        <style>body{font-family:sans-serif;margin:24px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}</style>
        </head><body><h1>\(SVGChart.escape(report.experiment))</h1>
        <p>run \(report.runID) · \(report.status.rawValue) · seed \(report.spec.seed) · \(report.model.architecture) · BLAS \(report.environment.blasCore) × \(report.environment.blasThreads)</p>

        """
        for chart in charts { html += "<p><img src=\"\(chart)\" alt=\"\(chart)\"></p>\n" }
        let name = report.task.deciding
        html += "<table><tr><th>stage</th><th>status</th><th>target</th><th>sparsity</th><th>test \(name)</th><th>val \(name)</th><th>best engine b1</th></tr>\n"
        for s in report.stages {
            html += "<tr><td>\(s.stage)</td><td>\(s.status.rawValue)</td><td>\(String(format: "%.5f", s.targetSparsity))</td>"
            html += "<td>\(String(format: "%.5f", s.sparsity))</td><td>\(String(format: "%.4f", s.metric("test", name) ?? .nan))</td>"
            html += "<td>\(String(format: "%.4f", s.metric("val", name) ?? .nan))</td><td>\(s.bestEngine["1"] ?? "")</td></tr>\n"
        }
        return html + "</table><p>Data: stages.csv, layers.csv, report.json.</p></body></html>\n"
    }
}
