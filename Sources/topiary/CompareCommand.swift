import ArgumentParser
import Foundation
import TopiaryReport
import TopiaryRun
import TopiarySpec
import TopiaryStudy

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two runs or two sweeps (or two selections of one sweep) stage by stage; with thresholds, exit 1 when B regresses (2: bad input).",
        discussion: """
        Runs: A and B are run folders. Sweeps: A and B are sweep folders (B defaults to A); \
        --baseline/--candidate KEY=VALUE select the points of each side (e.g. --baseline schedule=list \
        --candidate schedule=gradual); points differing only in --replicate-key (seed) are replicates, \
        summarised by mean, standard deviation and a bootstrap interval of the difference. \
        Thresholds not given as flags come from the compare: block of B's spec, and so do the \
        selections when A and B are the same sweep (two sweep folders are matched configuration by \
        configuration unless flags select). \
        --remeasure times both sides again from their checkpoints, A and B alternating over --rounds, \
        so that a latency gate compares models rather than the machine's load at two different times.
        """)

    @Argument(help: "The baseline run or sweep folder (A).")
    var a: String

    @Argument(help: "The candidate run or sweep folder (B); for a sweep, default A.")
    var b: String?

    // `.unconditional`: a negative value parses (and is then refused with its range) instead
    // of being taken for an unknown flag.
    @Option(parsing: .unconditional, help: "Largest tolerated drop of mean test accuracy, in points (0.5 = half a point); in [0, 100].")
    var maxAccuracyDrop: Double?

    @Option(parsing: .unconditional, help: "Largest tolerated worsening of the task's deciding test metric: accuracy points, or a fraction for RMSE/perplexity (0.05 = 5 %).")
    var maxMetricDrop: Double?

    @Option(parsing: .unconditional, help: "Largest tolerated relative increase of mean latency (0.1 = 10 %); finite, >= 0.")
    var maxLatencyIncrease: Double?

    @Flag(help: "Judge runs (or sweep points) that are not complete on the stages they reached, instead of refusing to judge (exit 2).")
    var allowIncomplete = false

    @Option(help: "Sweeps: KEY=VALUE a baseline point must have (repeatable).")
    var baseline: [String] = []

    @Option(help: "Sweeps: KEY=VALUE a candidate point must have (repeatable).")
    var candidate: [String] = []

    @Option(help: "Sweeps: the column whose values are replicates (default: the spec's, else seed).")
    var replicateKey: String?

    @Option(help: "Write compare.csv, compare.json and compare.md here (default: B's folder).")
    var out: String?

    @Flag(help: "Time every compared stage again now from the checkpoints, A and B alternating, instead of using the reports' latency (also when the compare: block sets remeasure_rounds).")
    var remeasure = false

    @Option(parsing: .unconditional, help: "With --remeasure: rounds of A/B alternation, each checkpoint's latency the median over its rounds (default: the compare: block's remeasure_rounds, else 3).")
    var rounds: Int?

    @OptionGroup var latency: LatencyFlags

    func run() throws {
        let comparison: RunComparison, candidateFolder = b ?? a
        var notes: [String] = [], incomplete: [String] = []
        var calibration: [RunComparison.Group]?
        do {
            if maxAccuracyDrop != nil && maxMetricDrop != nil { throw ValidationError("give --max-metric-drop or --max-accuracy-drop, not both.") }
            if let problem = RunComparison.Thresholds(maxMetricDrop: maxMetricDrop ?? maxAccuracyDrop, maxLatencyIncrease: maxLatencyIncrease).problem {
                throw ValidationError("--" + problem.name.replacingOccurrences(of: "_", with: "-") + " " + problem.problem + ".")
            }
            if let rounds, rounds < 1 { throw ValidationError("--rounds must be >= 1, got \(rounds).") }
            if let out {   // before any measuring: a folder that cannot be made fails now, not after it
                try OutputLocation.check(out, option: "--out")
                do { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) } catch {
                    throw ValidationError("--out \(out) cannot be created: \(error.localizedDescription)")
                }
            }
            var groups: [RunComparison.Group]
            let spec: CompareSpec
            if SweepFile.exists(in: a) || SweepFile.exists(in: candidateFolder) {
                spec = try SweepFile.read(from: candidateFolder).spec.compare ?? CompareSpec()
                // The spec's baseline/candidate pick the two sides within one sweep; two sweep
                // folders (before and after a change) are matched configuration by configuration.
                let withinOneSweep = candidateFolder == a
                let baselineSelection = try ComparisonGroups.selection(baseline) ?? (withinOneSweep ? spec.baseline?.mapValues(\.description) : nil)
                let candidateSelection = try ComparisonGroups.selection(candidate) ?? (withinOneSweep ? spec.candidate?.mapValues(\.description) : nil)
                (groups, notes, incomplete) = try ComparisonGroups.fromSweeps(a: a, b: candidateFolder, baseline: baselineSelection,
                                                                              candidate: candidateSelection, replicateKey: replicateKey ?? spec.replicateKey)
            } else {
                guard let b else { throw ValidationError("\(a) is a run folder: name the candidate run folder B too.") }
                guard baseline.isEmpty, candidate.isEmpty else { throw ValidationError("--baseline/--candidate select sweep points; \(a) is a run folder.") }
                let reportA = try readReport(a), reportB = try readReport(b)
                spec = reportB.spec.compare ?? CompareSpec()
                groups = [RunComparison.Group(configuration: "", a: [.init(id: "", report: reportA, directory: a)],
                                              b: [.init(id: "", report: reportB, directory: b)])]
            }
            if remeasure || spec.remeasureRounds != nil {
                var remeasurement = LatencyRemeasurement(like: groups, rounds: rounds ?? spec.remeasureRounds ?? 3)
                remeasurement.batchSizes = try latency.batches(default: remeasurement.batchSizes)
                remeasurement.repetitions = latency.repetitions ?? remeasurement.repetitions
                remeasurement.threads = latency.latencyThreads ?? remeasurement.threads
                let result = try remeasurement.apply(to: groups, progress: progressPrinter(quiet: false))
                (groups, calibration) = (result.groups, result.calibration)
                notes.append(remeasurement.note)
            }
            comparison = try RunComparison(groups: groups, thresholds: thresholds(default: spec),
                                           confidence: spec.confidence, resamples: spec.resamples,
                                           incomplete: incomplete, allowIncomplete: allowIncomplete, calibration: calibration)
            try comparison.write(to: out ?? candidateFolder, a: a, b: candidateFolder, notes: notes)
        } catch {
            _ = fail(error)
            throw ExitCode(2)
        }
        print("A: \(a)\nB: \(candidateFolder)\n")
        print(comparison.markdown)
        for note in notes { print(note) }
        print(comparison.verdictLine)
        switch comparison.verdict {
        case .regression: throw ExitCode(1)
        case .notJudged: throw ExitCode(2)
        case .within: break
        }
    }

    private func thresholds(default spec: CompareSpec) -> RunComparison.Thresholds {
        .init(maxMetricDrop: maxMetricDrop ?? maxAccuracyDrop ?? spec.maxMetricDrop, maxLatencyIncrease: maxLatencyIncrease ?? spec.maxLatencyIncrease)
    }

    private func readReport(_ directory: String) throws -> RunReport {
        guard FileManager.default.fileExists(atPath: directory + "/report.json") else {
            throw ValidationError("\(directory) holds no report.json of a Topiary run (nor a sweep.json of a sweep).")
        }
        do { return try RunReport.read(from: directory) } catch {
            throw ValidationError("\(directory)/report.json cannot be read: \(RunReport.describe(error))")
        }
    }
}
