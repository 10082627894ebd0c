import Foundation
import TopiaryMetrics
import TopiaryReport

/// A sweep over learning rates (`training.optimizer.learning_rate` among its columns) read as
/// a wind tunnel: per configuration of the other columns (replicates averaged), the dense
/// phase's validation loss at each learning rate and the best learning rate, with one chart per
/// value of `model.parametrization` (or the `parametrization` axis), one curve per remaining
/// configuration (a width). Does the best learning rate move with width? Under µP it should not.
public enum LearningRateTransfer {
    static let learningRateKey = "training.optimizer.learning_rate"

    public struct Point: Sendable, Equatable {
        /// The parametrization column's value ("" when the sweep has none).
        public let parametrization: String
        /// The other columns (without the learning rate, parametrization and replicate key).
        public let configuration: String
        public let learningRate: Double
        /// Mean over replicates of stage 0's validation loss (NaN or ∞: diverged).
        public let loss: Double
        public let replicates: Int
    }

    static func isParametrizationColumn(_ column: String) -> Bool {
        column == "model.parametrization" || column == "parametrization"
    }

    /// The points of a sweep with a learning-rate column; empty without one.
    public static func points(_ sweep: SweepFile, folder: String) -> [Point] {
        guard sweep.points.contains(where: { $0.values[learningRateKey] != nil }) else { return [] }
        let replicateKey = sweep.spec.compare?.replicateKey ?? "seed"
        var losses: [String: (parametrization: String, configuration: String, learningRate: Double, values: [Double])] = [:]
        for entry in sweep.points where entry.status == "complete" {
            guard let rate = entry.values[learningRateKey].flatMap(Double.init),
                  let report = try? RunReport.read(from: ComparisonGroups.runDirectory(entry, sweep: folder)),
                  let dense = report.stages.first(where: { $0.stage == 0 }) else { continue }
            let parametrization = entry.values.first { isParametrizationColumn($0.key) }?.value ?? ""
            let rest = entry.values.filter { column, _ in
                column != learningRateKey && !isParametrizationColumn(column) && !ComparisonGroups.matches(column: column, key: replicateKey)
            }
            let configuration = rest.keys.sorted().map { "\(ComparisonGroups.shortName($0))=\(rest[$0]!)" }.joined(separator: " ")
            let key = "\(parametrization)|\(configuration)|\(rate)"
            losses[key, default: (parametrization, configuration, rate, [])].values.append(dense.metric("val", "loss") ?? .nan)
        }
        return losses.values.map { Point(parametrization: $0.parametrization, configuration: $0.configuration, learningRate: $0.learningRate,
                                         loss: ReplicateStatistics.mean($0.values), replicates: $0.values.count) }
            .sorted { ($0.parametrization, $0.configuration, $0.learningRate) < ($1.parametrization, $1.configuration, $1.learningRate) }
    }

    /// Per (parametrization, configuration): the learning rate with the lowest finite loss.
    public static func best(_ points: [Point]) -> [Point] {
        Dictionary(grouping: points.filter { $0.loss.isFinite }) { "\($0.parametrization)|\($0.configuration)" }
            .values.map { $0.min { $0.loss < $1.loss }! }
            .sorted { ($0.parametrization, $0.configuration) < ($1.parametrization, $1.configuration) }
    }

    /// lr_transfer.csv, one lr_transfer[_<parametrization>].svg per parametrization, and the
    /// index.html section (nil without a learning-rate column).
    static func files(_ sweep: SweepFile, folder: String) -> (files: [(name: String, content: String)], html: String)? {
        let points = points(sweep, folder: folder)
        guard !points.isEmpty else { return nil }
        var csv = "parametrization,configuration,learning_rate,val_loss,replicates,best\n"
        let winners = best(points)
        for point in points {
            let isBest = winners.contains(point)
            csv += "\(point.parametrization),\"\(point.configuration)\",\(point.learningRate),\(point.loss),\(point.replicates),\(isBest)\n"
        }
        var files: [(String, String)] = [("lr_transfer.csv", csv)]
        var html = "<h2>Learning-rate transfer</h2><p>Stage 0 (dense training) validation loss against the learning rate; the best learning rate per configuration (lr_transfer.csv).</p>\n"
        html += "<table><tr><th>parametrization</th><th>configuration</th><th>best learning rate</th><th>val loss</th></tr>\n"
        for winner in winners {
            html += "<tr><td>\(SVGChart.escape(winner.parametrization.isEmpty ? "—" : winner.parametrization))</td><td>\(SVGChart.escape(winner.configuration))</td>"
            html += "<td>\(winner.learningRate)</td><td>\(String(format: "%.4f", winner.loss))</td></tr>\n"
        }
        html += "</table>\n"
        for parametrization in Set(points.map(\.parametrization)).sorted() {
            let name = parametrization.isEmpty ? "lr_transfer.svg" : "lr_transfer_\(parametrization).svg"
            var chart = SVGChart(title: "\(sweep.spec.name)\(parametrization.isEmpty ? "" : " (\(parametrization))"): validation loss vs learning rate",
                                 xLabel: "log10 learning rate", yLabel: "validation loss after dense training")
            let mine = points.filter { $0.parametrization == parametrization && $0.loss.isFinite }
            for configuration in Set(mine.map(\.configuration)).sorted() {
                let curve = mine.filter { $0.configuration == configuration }.map { (x: log10($0.learningRate), y: $0.loss) }
                chart.series.append(.init(name: configuration.isEmpty ? "all points" : configuration, points: curve))
            }
            files.append((name, chart.svg))
            html += "<p><img src=\"\(name)\" alt=\"\(name)\"></p>\n"
        }
        return (files, html)
    }
}
