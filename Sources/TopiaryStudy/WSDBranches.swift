import Foundation
import TopiaryData
import TopiaryReport
import TopiaryRun

/// A sweep whose points include WSD decay branches (`model.init_optimizer`: a run that starts
/// from a plateau checkpoint and decays) beside runs planned to end at the same length: final
/// validation loss against the training seen (the branch's own steps plus the plateau steps it
/// inherits) and against the compute each point spent itself. The claim to check: a branch
/// from step k reaches about the loss of a run planned to end where the branch ends, at a
/// fraction of the compute.
public enum WSDBranches {
    public struct Point: Sendable, Equatable {
        public let label: String
        public let isBranch: Bool
        /// Optimizer steps inherited from the starting checkpoint (0 for a run from scratch).
        public let inheritedSteps: Int
        public let ownSteps: Int
        /// Samples per step: the batch (a language model's step also sees batch × context tokens).
        public let batchSize: Int
        public let context: Int?
        public let validationLoss: Double
        public var stepsSeen: Int { inheritedSteps + ownSteps }
    }

    public static func points(_ sweep: SweepFile, folder: String) -> [Point] {
        var result: [Point] = []
        for entry in sweep.points where entry.status == "complete" {
            guard let report = try? RunReport.read(from: ComparisonGroups.runDirectory(entry, sweep: folder)),
                  let dense = report.stages.first(where: { $0.stage == 0 }) else { continue }
            let spec = report.spec
            let isBranch = spec.model.initOptimizer == true
            var inherited = 0
            if isBranch, let source = spec.model.initFrom, let path = try? InitialWeights.checkpointPath(source),
               let header = try? Checkpoint.readHeader(from: path) {
                inherited = header.progress.optimizerStepCount ?? 0
            }
            let own = spec.training.epochs * BatchIterator.batchesPerEpoch(rows: report.dataRows.train, batchSize: spec.training.batchSize)
            result.append(Point(label: entry.label, isBranch: isBranch, inheritedSteps: inherited, ownSteps: own,
                                batchSize: spec.training.batchSize, context: spec.model.blockSize,
                                validationLoss: dense.metric("val", "loss") ?? .nan))
        }
        return result.sorted { ($0.stepsSeen, $0.isBranch ? 1 : 0) < ($1.stepsSeen, $1.isBranch ? 1 : 0) }
    }

    /// wsd_branches.csv, wsd_branches.svg and the index.html section; nil when no point branches.
    static func files(_ sweep: SweepFile, folder: String) -> (files: [(name: String, content: String)], html: String)? {
        let points = points(sweep, folder: folder)
        guard points.contains(where: \.isBranch) else { return nil }
        let unit = points.first?.context.map { " × \($0) tokens" } ?? ""
        var csv = "label,kind,inherited_steps,own_steps,steps_seen,samples_seen,own_samples,val_loss\n"
        var html = "<h2>WSD branches</h2><p>Final validation loss against steps seen (a branch: the plateau steps it starts from plus its own decay); own steps are the compute each point spent itself. One step is \(points.first?.batchSize ?? 0) samples\(unit).</p>\n"
        html += "<table><tr><th>point</th><th>kind</th><th>steps seen</th><th>own steps</th><th>val loss</th></tr>\n"
        for point in points {
            let kind = point.isBranch ? "branch" : "planned"
            csv += "\"\(point.label)\",\(kind),\(point.inheritedSteps),\(point.ownSteps),\(point.stepsSeen),\(point.stepsSeen * point.batchSize),\(point.ownSteps * point.batchSize),\(point.validationLoss)\n"
            html += "<tr><td>\(SVGChart.escape(point.label))</td><td>\(kind)</td><td>\(point.stepsSeen)</td><td>\(point.ownSteps)</td><td>\(String(format: "%.4f", point.validationLoss))</td></tr>\n"
        }
        html += "</table><p><img src=\"wsd_branches.svg\" alt=\"wsd_branches.svg\"></p>\n"
        var chart = SVGChart(title: "\(sweep.spec.name): validation loss vs training seen", xLabel: "optimizer steps seen", yLabel: "validation loss")
        for (name, branch) in [("runs planned to end there", false), ("decay branches from the plateau", true)] {
            let mine = points.filter { $0.isBranch == branch && $0.validationLoss.isFinite }
            if !mine.isEmpty { chart.series.append(.init(name: name, points: mine.map { (Double($0.stepsSeen), $0.validationLoss) }, dashed: branch)) }
        }
        return ([("wsd_branches.csv", csv), ("wsd_branches.svg", chart.svg)], html)
    }
}
