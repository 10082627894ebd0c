import Foundation
import TopiaryMetrics
import TopiaryReport

/// The charts a sweep writes beside sweep.csv, and its index.html: one curve per
/// configuration (the sweep's columns except the replicate key), each point the mean over
/// that configuration's replicates at one target sparsity, with ± one standard deviation.
public enum SweepPlots {
    struct Curve {
        let configuration: String
        let replicates: Int
        /// Per target sparsity every replicate reached: (level key, each replicate's stage there).
        let levels: [(key: Int64, stages: [StageRecord])]

        func points(_ value: (StageRecord) -> Double?) -> (points: [(x: Double, y: Double)], errors: [Double]) {
            var points: [(x: Double, y: Double)] = [], errors: [Double] = []
            for level in levels {
                let ys = level.stages.compactMap(value)
                guard ys.count == level.stages.count else { continue }
                points.append((ReplicateStatistics.mean(level.stages.map(\.sparsity)), ReplicateStatistics.mean(ys)))
                errors.append(ReplicateStatistics.standardDeviation(ys) ?? 0)
            }
            return (points, errors)
        }
    }

    static func curves(_ sweep: SweepFile, folder: String, notes: inout [String]) -> [Curve] {
        let groups = ComparisonGroups.group(sweep.points, folder: folder, replicateKey: sweep.spec.compare?.replicateKey ?? "seed", incomplete: &notes)
        return groups.keys.sorted().map { configuration in
            let replicates = groups[configuration]!
            let levels = replicates.map { RunComparison.levels($0.report) }
            let common = RunComparison.reachedByAll(levels).sorted()
            return Curve(configuration: configuration.isEmpty ? "all points" : configuration, replicates: replicates.count,
                         levels: common.map { key in (key, levels.map { $0[key]! }) })
        }
    }

    public static func files(_ sweep: SweepFile, folder: String, comparisonMarkdown: String?) -> [(name: String, content: String)] {
        var notes: [String] = []
        let curves = curves(sweep, folder: folder, notes: &notes)
        guard !curves.isEmpty else { return [] }
        let xLabel = "sparsity of prunable weights (fraction)"
        var files: [(String, String)] = []
        let metric = (sweep.spec.task ?? .classification).make().decidingMetric, name = metric.name

        var chart = SVGChart(title: "\(sweep.spec.name): test \(name) vs sparsity (mean ± sd)", xLabel: xLabel, yLabel: "test \(name)")
        for curve in curves {
            let (points, errors) = curve.points { $0.metric("test", name) }
            chart.series.append(.init(name: "\(curve.configuration) (n=\(curve.replicates))", points: points, errors: errors))
        }
        let dense = curves.flatMap { $0.levels.filter { $0.key == 0 }.flatMap(\.stages) }
        if !dense.isEmpty {
            let mean = ReplicateStatistics.mean(dense.compactMap { $0.metric("test", name) })
            chart.references = [("dense test \(String(format: "%.4f", mean)) (mean)", mean)]
            if case .adaptive(let policy, _) = sweep.spec.resolved.pruning.plan {
                let validation = ReplicateStatistics.mean(dense.compactMap { $0.metric("val", name) })
                let limit = metric.limit(from: validation, tolerance: policy.tolerance)
                chart.band = ("adaptive tolerance (validation)", min(validation, limit), max(validation, limit))
            }
        }
        files.append(("\(name).svg", chart.svg))

        for batch in sweep.spec.measurement.latencyBatchSizes {
            var chart = SVGChart(title: "whole-model latency, batch \(batch) (mean ± sd)", xLabel: xLabel, yLabel: "median latency (µs)")
            chart.logY = true
            for curve in curves {
                let (points, errors) = curve.points { $0.latency(batch: batch, engine: "auto")?.medianMicroseconds }
                if !points.isEmpty { chart.series.append(.init(name: "auto, \(curve.configuration)", points: points, errors: errors)) }
            }
            let (densePoints, denseErrors) = pooledDense(curves) { $0.latency(batch: batch)?.medianMicroseconds }
            if !densePoints.isEmpty { chart.series.append(.init(name: "dense, all points", points: densePoints, dashed: true, errors: denseErrors)) }
            if !chart.series.isEmpty { files.append(("latency_b\(batch).svg", chart.svg)) }
        }

        var memory = SVGChart(title: "model size, CSR vs dense", xLabel: xLabel, yLabel: "bytes")
        memory.logY = true
        for curve in curves {
            memory.series.append(.init(name: "csr, \(curve.configuration)", points: curve.points { Double($0.csrBytes) }.points))
        }
        if let first = dense.first { memory.references = [("dense \(first.denseBytes) bytes", Double(first.denseBytes))] }
        files.append(("memory.svg", memory.svg))
        let charts = files.map(\.0)
        // A sweep over learning rates is also a wind tunnel: best learning rate per configuration.
        // … and one with decay branches a WSD study: loss against training seen.
        let studies = [LearningRateTransfer.files(sweep, folder: folder), WSDBranches.files(sweep, folder: folder)].compactMap { $0 }
        files += studies.flatMap(\.files)
        files.append(("index.html", index(sweep, curves: curves, charts: charts, comparisonMarkdown: comparisonMarkdown, notes: notes,
                                          sections: studies.map(\.html))))
        return files
    }

    /// Dense latency pooled over every configuration per target level (it does not depend on the scorer).
    static func pooledDense(_ curves: [Curve], _ value: (StageRecord) -> Double?) -> ([(x: Double, y: Double)], [Double]) {
        var byLevel: [Int64: [Double]] = [:]
        for curve in curves { for level in curve.levels { byLevel[level.key, default: []] += level.stages.compactMap(value) } }
        let keys = byLevel.keys.sorted().filter { !byLevel[$0]!.isEmpty }
        return (keys.map { (RunComparison.target($0), ReplicateStatistics.mean(byLevel[$0]!)) },
                keys.map { ReplicateStatistics.standardDeviation(byLevel[$0]!) ?? 0 })
    }

    static func index(_ sweep: SweepFile, curves: [Curve], charts: [String], comparisonMarkdown: String?, notes: [String],
                      sections: [String] = []) -> String {
        let escape = SVGChart.escape
        func meanSD(_ values: [Double]) -> String {
            let text = String(format: "%.4f", ReplicateStatistics.mean(values))
            return ReplicateStatistics.standardDeviation(values).map { text + String(format: " ± %.4f", $0) } ?? text
        }
        let complete = sweep.points.filter { $0.status == "complete" }.count
        var html = """
        <!doctype html><html><head><meta charset="utf-8"><title>\(escape(sweep.spec.name)) sweep</title>
        <style>body{font-family:sans-serif;margin:24px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}pre{background:#f6f6f6;padding:8px}</style>
        </head><body><h1>\(escape(sweep.spec.name)) — sweep</h1>
        <p>\(sweep.points.count) points, \(complete) complete · curves: mean over replicates (\(escape(sweep.spec.compare?.replicateKey ?? "seed"))) ± one standard deviation</p>

        """
        for section in sections { html += section }
        for chart in charts { html += "<p><img src=\"\(chart)\" alt=\"\(chart)\"></p>\n" }
        if let comparisonMarkdown { html += "<h2>Comparison (compare.md)</h2><pre>\(escape(comparisonMarkdown))</pre>\n" }
        let name = (sweep.spec.task ?? .classification).make().decidingMetric.name
        html += "<h2>Per configuration</h2><table><tr><th>configuration</th><th>n</th><th>target</th><th>sparsity</th><th>test \(name)</th><th>val \(name)</th></tr>\n"
        for curve in curves {
            for level in curve.levels {
                html += "<tr><td>\(escape(curve.configuration))</td><td>\(level.stages.count)</td><td>\(String(format: "%.5f", RunComparison.target(level.key)))</td>"
                html += "<td>\(String(format: "%.5f", ReplicateStatistics.mean(level.stages.map(\.sparsity))))</td>"
                html += "<td>\(meanSD(level.stages.compactMap { $0.metric("test", name) }))</td><td>\(meanSD(level.stages.compactMap { $0.metric("val", name) }))</td></tr>\n"
            }
        }
        html += "</table><h2>Points</h2><ul>\n"
        for point in sweep.points {
            html += "<li>\(point.index) \(escape(point.label)): \(point.status) — <a href=\"points/\(escape((point.runDirectory as NSString).lastPathComponent))/index.html\">run</a></li>\n"
        }
        for note in notes { html += "<li>\(escape(note))</li>\n" }
        return html + "</ul><p>Data: sweep.csv, sweep.json\(comparisonMarkdown == nil ? "" : ", compare.csv, compare.json")</p></body></html>\n"
    }
}
