import Foundation
import TopiaryMetrics
import TopiaryReport
import TopiarySpec

/// `topiary compare A B`: differences between a baseline (A) and a candidate (B), aligned
/// on the target sparsities both reached, and a regression gate.
///
/// A and B are groups of replicate runs (one run each when comparing two runs; the seeds of
/// one sweep configuration otherwise). Per configuration, sparsity level and metric: mean
/// and standard deviation of each group, the difference of the means, and its bootstrap
/// confidence interval (paired when both groups hold the same replicates, e.g. seeds 0–2).
public struct RunComparison: Sendable {
    public struct Replicate: Sendable {
        /// What tells replicates apart (the seed), used to pair A's and B's.
        public let id: String
        public let report: RunReport
        /// The run folder, when the report came from one (its checkpoints can be re-measured).
        public let directory: String?
        public init(id: String, report: RunReport, directory: String? = nil) {
            self.id = id
            self.report = report
            self.directory = directory
        }
    }

    /// One configuration: A's and B's replicates of it.
    public struct Group: Sendable {
        public let configuration: String
        public let a: [Replicate]
        public let b: [Replicate]
        public init(configuration: String, a: [Replicate], b: [Replicate]) {
            self.configuration = configuration
            self.a = a
            self.b = b
        }
    }

    public struct Row: Codable, Sendable, Equatable {
        public let configuration: String
        /// A's stage number at this level (its last accepted stage with this target).
        public let stage: Int
        public let targetSparsity: Double
        public let metric: String
        public let nA: Int, nB: Int
        /// Means over the replicates.
        public let a: Double, b: Double
        public let sdA: Double?, sdB: Double?
        /// mean(B) − mean(A) (accuracy, in fractions; shown in points) or mean(B)/mean(A) − 1.
        public let change: Double
        /// Bootstrap interval of `change`; nil with fewer than two replicates on a side.
        public let intervalLow: Double?, intervalHigh: Double?
        public let paired: Bool
        public let relative: Bool
        public var regression: Bool
        /// Latency re-measured: the largest |change| of this metric between A's models and
        /// themselves timed again (the machine's noise now); nil when not calibrated.
        public var calibrationNoise: Double?
        enum CodingKeys: String, CodingKey {
            case configuration, stage, targetSparsity = "target_sparsity", metric, nA = "n_a", nB = "n_b", a, b
            case sdA = "sd_a", sdB = "sd_b", change, intervalLow = "interval_low", intervalHigh = "interval_high"
            case paired, relative, regression, calibrationNoise = "calibration_noise"
        }
    }

    /// The gate (see `ComparisonThresholds`).
    public typealias Thresholds = ComparisonThresholds

    /// What the gate concludes: `notJudged` when something it needs is missing (a run or
    /// point not complete, a machine too noisy to time) and nothing regressed.
    public enum Verdict: String, Codable, Sendable { case within, regression, notJudged = "not_judged" }

    public let rows: [Row]
    public let confidence: Double
    /// Per configuration, target sparsities only one side reached (not compared).
    public let unmatched: [String]
    /// Runs or points that are not complete (left out, or compared only as far as they got).
    public let incomplete: [String]
    /// Judge what is complete and pass when it is within the thresholds (loudly).
    public let allowIncomplete: Bool
    /// Latency metrics whose calibration noise passes the latency threshold: not judged.
    public let tooNoisy: [String]
    public var regressed: Bool { rows.contains { $0.regression } }

    /// Why the gate cannot pass: incomplete inputs unless allowed; a machine whose timing
    /// noise is larger than the latency threshold.
    public var unjudged: [String] {
        (allowIncomplete || incomplete.isEmpty ? [] : ["not every run is complete: " + incomplete.joined(separator: "; ")
            + ". Compare complete runs, or pass --allow-incomplete to judge what is complete"]) + tooNoisy
    }

    public var verdict: Verdict { regressed ? .regression : unjudged.isEmpty ? .within : .notJudged }

    /// One line for the end of a comparison.
    public var verdictLine: String {
        switch verdict {
        case .regression: return "B regresses against A."
        case .notJudged: return "Not judged: " + unjudged.joined(separator: "; ") + "."
        case .within:
            return incomplete.isEmpty ? "B is within the thresholds."
                : "B is within the thresholds on what is complete only (\(incomplete.count) left out or partial: \(incomplete.joined(separator: "; ")))."
        }
    }

    /// The reports of runs that are not complete, described for `incomplete`.
    public static func incompleteRuns(_ groups: [Group]) -> [String] {
        groups.flatMap { group in
            [("A", group.a), ("B", group.b)].flatMap { side, replicates in
                replicates.filter { $0.report.status != .complete }.map { replicate in
                    "\(side) \(replicate.directory ?? replicate.id) is \(replicate.report.status.rawValue) after \(replicate.report.stages.count) stage row(s)"
                }
            }
        }
    }

    /// - Parameter calibration: with re-measured latency, A's models against themselves timed
    ///   again (`LatencyRemeasurement.Result.calibration`). A latency metric whose change
    ///   between identical models passes `maxLatencyIncrease` is not judged: the machine
    ///   cannot resolve that threshold now, and the verdict says so instead of guessing.
    public init(groups: [Group], thresholds: Thresholds, confidence: Double = 0.95, resamples: Int = 10_000,
                incomplete: [String] = [], allowIncomplete: Bool = false, calibration: [Group]? = nil) throws {
        precondition(!groups.isEmpty && groups.allSatisfy { !$0.a.isEmpty && !$0.b.isEmpty })
        if let problem = thresholds.problem { throw ComparisonError.badThreshold(name: problem.name, problem: problem.problem) }
        var (rows, unmatched) = try RunComparison.rows(groups, thresholds: thresholds, confidence: confidence, resamples: resamples)
        var noise: [String: Double] = [:]
        if let calibration {
            for row in try RunComparison.rows(calibration, thresholds: Thresholds(), confidence: confidence, resamples: resamples).rows
            where row.metric.hasPrefix("latency_") {
                noise[row.metric] = max(noise[row.metric] ?? 0, abs(row.change))
            }
        }
        var tooNoisy: [String] = []
        if let limit = thresholds.maxLatencyIncrease {
            let noisy = noise.keys.sorted().filter { noise[$0]! > limit }
            if !noisy.isEmpty {
                tooNoisy.append("latency not judged for " + noisy.map { String(format: "%@ (noise %.1f %%)", $0, noise[$0]! * 100) }.joined(separator: ", ")
                                + String(format: ": timed again against themselves, A's models differ by more than the %.1f %% threshold on this machine now; re-measure on a quieter machine, with more --rounds, or with a wider threshold", limit * 100))
            }
        }
        for index in rows.indices {
            guard let level = noise[rows[index].metric] else { continue }
            rows[index].calibrationNoise = level
            if thresholds.maxLatencyIncrease.map({ level > $0 }) == true { rows[index].regression = false }
        }
        self.rows = rows
        self.confidence = confidence
        self.unmatched = unmatched
        self.incomplete = incomplete + RunComparison.incompleteRuns(groups)
        self.allowIncomplete = allowIncomplete
        self.tooNoisy = tooNoisy
    }

    /// Rows of every group, aligned on the target sparsities both sides reached, and the
    /// levels only one side reached.
    static func rows(_ groups: [Group], thresholds: Thresholds, confidence: Double, resamples: Int) throws -> (rows: [Row], unmatched: [String]) {
        var rows: [Row] = [], unmatched: [String] = []
        for group in groups {
            let task = group.a[0].report.task
            if let other = (group.a + group.b).first(where: { $0.report.task.kind != task.kind }) {
                throw ComparisonError.differentTasks(a: task.kind, b: other.report.task.kind)
            }
            let deciding = task.decidingMetric
            let levelsA = group.a.map { RunComparison.levels($0.report) }, levelsB = group.b.map { RunComparison.levels($0.report) }
            let targetsA = RunComparison.reachedByAll(levelsA), targetsB = RunComparison.reachedByAll(levelsB)
            let common = targetsA.intersection(targetsB).sorted()
            guard common.contains(where: { $0 > 0 }) else {
                throw ComparisonError.noCommonStages(configuration: group.configuration,
                                                     a: targetsA.sorted().map(RunComparison.target), b: targetsB.sorted().map(RunComparison.target))
            }
            let onlyOne = targetsA.symmetricDifference(targetsB).sorted()
            if !onlyOne.isEmpty {
                unmatched.append((group.configuration.isEmpty ? "" : group.configuration + ": ")
                                 + "target sparsities reached by only one side, not compared: "
                                 + onlyOne.map { String(format: "%.5g", RunComparison.target($0)) + " (\(targetsA.contains($0) ? "A" : "B"))" }.joined(separator: ", "))
            }
            // Paired when both sides hold the same replicates: order both by id.
            let idsA = group.a.map(\.id), idsB = group.b.map(\.id)
            let paired = idsA.count >= 2 && Set(idsA).count == idsA.count && Set(idsA) == Set(idsB) && idsA.count == idsB.count
            let orderA = paired ? idsA.indices.sorted { idsA[$0] < idsA[$1] } : Array(idsA.indices)
            let orderB = paired ? idsB.indices.sorted { idsB[$0] < idsB[$1] } : Array(idsB.indices)

            for key in common {
                let stagesA = orderA.map { levelsA[$0][key]! }, stagesB = orderB.map { levelsB[$0][key]! }
                /// `worse(change)`: the change goes past the threshold. With replicates a row is a
                /// regression only if its interval also excludes zero on that side: a change the
                /// seeds' (or the machine's) noise can explain does not fail a gate.
                func add(_ metric: String, _ value: (StageRecord) -> Double?, relative: Bool, worse: (Double) -> Bool) {
                    let xs = stagesA.compactMap(value), ys = stagesB.compactMap(value)
                    guard xs.count == stagesA.count, ys.count == stagesB.count else { return }
                    let difference: ReplicateStatistics.Difference = relative ? .relative : .absolute
                    let change = difference.of(xs, ys)
                    let interval = ReplicateStatistics.bootstrapInterval(xs, ys, difference: difference, paired: paired,
                                                                         confidence: confidence, resamples: resamples)
                    let significant = interval.map { change > 0 ? $0.low > 0 : $0.high < 0 } ?? true
                    rows.append(Row(configuration: group.configuration, stage: stagesA[0].stage, targetSparsity: RunComparison.target(key),
                                    metric: metric, nA: xs.count, nB: ys.count,
                                    a: ReplicateStatistics.mean(xs), b: ReplicateStatistics.mean(ys),
                                    sdA: ReplicateStatistics.standardDeviation(xs), sdB: ReplicateStatistics.standardDeviation(ys),
                                    change: change, intervalLow: interval?.low, intervalHigh: interval?.high,
                                    paired: paired, relative: relative,
                                    regression: worse(change) && significant, calibrationNoise: nil))
                }
                // The deciding metric in its own change unit: accuracy in points (absolute),
                // RMSE or perplexity relative; worse is down for accuracy, up for the others.
                let relative = deciding.change == .relative
                let worsening = { (change: Double) in (deciding.higherIsBetter ? -change : change) * (relative ? 1 : 100) }
                add("test_" + deciding.name, { $0.metric("test", deciding.name) }, relative: relative, worse: { change in
                    thresholds.maxMetricDrop.map { worsening(change) > $0 + 1e-9 } ?? false
                })
                add("val_" + deciding.name, { $0.metric("val", deciding.name) }, relative: relative, worse: { _ in false })
                for batch in Set(stagesA[0].latency.map(\.batchSize)).sorted() {
                    for engine in ["dense", "auto"] {
                        add("latency_b\(batch)_\(engine)_median_us", { $0.latency(batch: batch, engine: engine)?.medianMicroseconds },
                            relative: true, worse: { change in thresholds.maxLatencyIncrease.map { change > $0 } ?? false })
                    }
                }
                add("csr_bytes", { Double($0.csrBytes) }, relative: true, worse: { _ in false })
            }
        }
        return (rows, unmatched)
    }

    /// Accepted stages by target sparsity (in 1e-9 units, so float noise cannot split a
    /// level); where several rows share a target (gradual schedules), the last one.
    static func levels(_ report: RunReport) -> [Int64: StageRecord] {
        var result: [Int64: StageRecord] = [:]
        for stage in report.stages where stage.status == .accepted { result[Int64((stage.targetSparsity * 1e9).rounded())] = stage }
        return result
    }

    static func target(_ key: Int64) -> Double { Double(key) / 1e9 }

    /// The levels every one of `levels` (each replicate's `levels`) reached.
    static func reachedByAll(_ levels: [[Int64: StageRecord]]) -> Set<Int64> {
        levels.dropFirst().reduce(Set(levels[0].keys)) { $0.intersection($1.keys) }
    }

    /// A Markdown table; failing rows marked **REGRESSION**.
    public var markdown: String {
        let grouped = rows.contains { !$0.configuration.isEmpty }
        let replicated = rows.contains { $0.nA > 1 || $0.nB > 1 }
        let percent = String(format: "%g", confidence * 100)
        var header = (grouped ? ["configuration"] : []) + ["stage", "target", "metric", "A", "B", "change"]
        if replicated { header.append("\(percent) % CI") }
        header.append("verdict")
        var text = "| " + header.joined(separator: " | ") + " |\n|" + String(repeating: "---|", count: header.count) + "\n"
        for row in rows {
            func shown(_ change: Double) -> String {
                row.relative ? String(format: "%+.1f %%", change * 100) : String(format: "%+.2f points", change * 100)
            }
            var cells = (grouped ? [row.configuration] : []) + ["\(row.stage)", "\(row.targetSparsity)", "`\(row.metric)`"]
            cells += [summary(row.a, row.sdA, row.nA), summary(row.b, row.sdB, row.nB), shown(row.change)]
            if replicated {
                cells.append(row.intervalLow.map { "[\(shown($0)), \(shown(row.intervalHigh!))]\(row.paired ? " paired" : "")" } ?? "")
            }
            cells.append(row.regression ? "**REGRESSION**" : "ok")
            text += "| " + cells.joined(separator: " | ") + " |\n"
        }
        for note in unmatched { text += "\n" + note }
        let calibrated = Dictionary(rows.compactMap { row in row.calibrationNoise.map { (row.metric, $0) } }, uniquingKeysWith: max)
        if !calibrated.isEmpty {
            text += "\ncalibration (A's models timed again against themselves, largest change): "
                + calibrated.keys.sorted().map { String(format: "`%@` %.1f %%", $0, calibrated[$0]! * 100) }.joined(separator: ", ")
        }
        for reason in tooNoisy { text += "\n" + reason }
        return text
    }

    private func summary(_ mean: Double, _ sd: Double?, _ n: Int) -> String {
        let text = format(mean)
        guard let sd else { return text }
        return text + " ± " + format(sd) + " (n=\(n))"
    }

    private func format(_ value: Double) -> String { abs(value) < 10 ? String(format: "%.4f", value) : String(format: "%.1f", value) }

    static let csvColumns = ["configuration", "stage", "target_sparsity", "metric", "n_a", "n_b", "a", "b", "sd_a", "sd_b", "change",
                             "interval_low", "interval_high", "paired", "relative", "regression", "calibration_noise"]

    public var csv: String {
        var text = RunComparison.csvColumns.joined(separator: ",") + "\n"
        func cell(_ v: Double?) -> String { v.map { "\($0)" } ?? "" }
        for r in rows {
            text += [r.configuration, "\(r.stage)", "\(r.targetSparsity)", r.metric, "\(r.nA)", "\(r.nB)", "\(r.a)", "\(r.b)",
                     cell(r.sdA), cell(r.sdB), "\(r.change)", cell(r.intervalLow), cell(r.intervalHigh),
                     "\(r.paired)", "\(r.relative)", "\(r.regression)", cell(r.calibrationNoise)].joined(separator: ",") + "\n"
        }
        return text
    }
}

public enum ComparisonError: Error, LocalizedError, Equatable {
    case noCommonStages(configuration: String, a: [Double], b: [Double])
    case badThreshold(name: String, problem: String)
    case differentTasks(a: String, b: String)
    public var errorDescription: String? {
        switch self {
        case .differentTasks(let a, let b):
            return "A is a \(a) run and B a \(b) run: their metrics do not compare."
        case .badThreshold(let name, let problem):
            return "\(name) \(problem)."
        case .noCommonStages(let configuration, let a, let b):
            return "\(configuration.isEmpty ? "the runs" : configuration + ":") share no pruned target sparsity (A reached \(a), B \(b)); "
                + "compare runs pruned to at least one common sparsity."
        }
    }
}

extension RunComparison {
    /// compare.csv, compare.json and compare.md into `directory`, each written atomically.
    public func write(to directory: String, a: String, b: String, notes: [String] = []) throws {
        try AtomicFile.write(csv, to: directory + "/compare.csv")
        let file = ComparisonFile(a: a, b: b, verdict: verdict, regressed: regressed, unjudged: unjudged, incomplete: incomplete,
                                  confidence: confidence, notes: notes + unmatched, rows: rows)
        try AtomicFile.writeJSON(file, to: directory + "/compare.json")
        try AtomicFile.write("A: \(a)\nB: \(b)\n\n" + markdown + notes.map { "\n" + $0 }.joined() + "\n\n" + verdictLine + "\n",
                             to: directory + "/compare.md")
    }

    /// The comparison a sweep spec's `compare:` block asks for (baseline vs candidate points
    /// of this sweep), or nil when it names none.
    public static func ofSweep(_ folder: String, spec: CompareSpec?, progress: ((String) -> Void)? = nil) throws -> (RunComparison, notes: [String])? {
        guard let spec, let baseline = spec.baseline, let candidate = spec.candidate else { return nil }
        var (groups, notes, incomplete) = try ComparisonGroups.fromSweeps(a: folder, b: folder, baseline: baseline.mapValues(\.description),
                                                                          candidate: candidate.mapValues(\.description), replicateKey: spec.replicateKey)
        var calibration: [Group]?
        if let rounds = spec.remeasureRounds {
            let remeasurement = LatencyRemeasurement(like: groups, rounds: rounds)
            let result = try remeasurement.apply(to: groups, progress: progress)
            (groups, calibration) = (result.groups, result.calibration)
            notes.append(remeasurement.note)
        }
        return (try RunComparison(groups: groups, thresholds: spec.thresholds, confidence: spec.confidence, resamples: spec.resamples,
                                  incomplete: incomplete, calibration: calibration), notes)
    }
}

struct ComparisonFile: Encodable {
    let a: String
    let b: String
    let verdict: RunComparison.Verdict
    let regressed: Bool
    /// Why the gate could not pass (empty when it judged).
    let unjudged: [String]
    let incomplete: [String]
    let confidence: Double
    let notes: [String]
    let rows: [RunComparison.Row]
}

