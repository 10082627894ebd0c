import Foundation

/// The charts every run writes beside its reports, and index.html showing them with the
/// stage table: accuracy, latency per engine and batch size, and bytes per format, each
/// against realised sparsity.
public enum RunPlots {
    public static func files(_ report: RunReport) -> [(name: String, content: String)] {
        let accepted = report.stages.filter { $0.status == .accepted }
        guard !accepted.isEmpty else { return [] }
        var files: [(String, String)] = []

        var accuracy = SVGChart(title: "\(report.experiment): accuracy vs sparsity", xLabel: "sparsity of prunable weights (fraction)",
                                yLabel: "accuracy (fraction)")
        accuracy.series.append(.init(name: "test", points: accepted.map { ($0.sparsity, $0.testAccuracy) }))
        accuracy.series.append(.init(name: "validation", points: accepted.map { ($0.sparsity, $0.valAccuracy) }))
        let int8 = accepted.compactMap { s in s.int8TestAccuracy.map { (s.sparsity, $0) } }
        if !int8.isEmpty { accuracy.series.append(.init(name: "test, int8", points: int8, dashed: true)) }
        let rejected = report.stages.filter { $0.status == .rejected }
        if !rejected.isEmpty { accuracy.series.append(.init(name: "rejected (validation)", points: rejected.map { ($0.sparsity, $0.valAccuracy) }, dashed: true)) }
        accuracy.references = [("dense test \(String(format: "%.4f", accepted[0].testAccuracy))", accepted[0].testAccuracy)]
        if case .adaptive(let policy, _) = report.spec.pruning.plan {
            let dense = accepted[0].valAccuracy
            accuracy.band = ("tolerance (validation)", dense - policy.tolerance, dense)
        }
        files.append(("accuracy.svg", accuracy.svg))

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
        html += "<table><tr><th>stage</th><th>status</th><th>target</th><th>sparsity</th><th>test acc</th><th>val acc</th><th>best engine b1</th></tr>\n"
        for s in report.stages {
            html += "<tr><td>\(s.stage)</td><td>\(s.status.rawValue)</td><td>\(String(format: "%.5f", s.targetSparsity))</td>"
            html += "<td>\(String(format: "%.5f", s.sparsity))</td><td>\(String(format: "%.4f", s.testAccuracy))</td>"
            html += "<td>\(String(format: "%.4f", s.valAccuracy))</td><td>\(s.bestEngine["1"] ?? "")</td></tr>\n"
        }
        return html + "</table><p>Data: stages.csv, layers.csv, report.json.</p></body></html>\n"
    }
}
