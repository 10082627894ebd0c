import Foundation
import Testing
@testable import TopiaryMetrics
@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySpec
@testable import TopiaryStudy
import TopiaryTensor
@testable import TopiaryTraining

extension AllTests {
@Suite struct ReplicateStatisticsTests {
    @Test func meanStandardDeviationAndQuantile() {
        #expect(ReplicateStatistics.mean([1, 2, 3, 4]) == 2.5)
        #expect(abs(ReplicateStatistics.standardDeviation([1, 2, 3, 4])! - (5.0 / 3).squareRoot()) < 1e-12)
        #expect(ReplicateStatistics.standardDeviation([7]) == nil)
        #expect(ReplicateStatistics.quantile([1, 2, 3, 4], 0.5) == 2.5 && ReplicateStatistics.quantile([1, 2, 3, 4], 0) == 1)
        #expect(abs(ReplicateStatistics.quantile([1, 2, 3, 4], 0.9) - 3.7) < 1e-12)
    }

    /// Paired replicates shifted by a constant: every resample has the same difference.
    @Test func pairedConstantShiftHasAZeroWidthInterval() throws {
        let a = [0.80, 0.82, 0.85], b = a.map { $0 - 0.01 }
        let interval = try #require(ReplicateStatistics.bootstrapInterval(a, b, difference: .absolute, paired: true))
        #expect(abs(interval.low + 0.01) < 1e-12 && abs(interval.high + 0.01) < 1e-12)
        let unpaired = try #require(ReplicateStatistics.bootstrapInterval(a, b, difference: .absolute, paired: false))
        #expect(unpaired.low < -0.015 && unpaired.high > -0.005)   // the seeds' spread now counts
        let relative = try #require(ReplicateStatistics.bootstrapInterval([100, 120, 90], [110, 132, 99], difference: .relative, paired: true))
        #expect(abs(relative.low - 0.1) < 1e-12 && abs(relative.high - 0.1) < 1e-12)
        #expect(ReplicateStatistics.bootstrapInterval([1], [2, 3], difference: .absolute, paired: false) == nil)
    }

    /// Large normal samples: the 95 % interval is close to the normal-theory one,
    /// mean difference ± 1.96 · √(s²a/na + s²b/nb).
    @Test func unpairedIntervalMatchesNormalTheoryOnLargeSamples() throws {
        var generator = SeededGenerator(seed: 11)
        func normal() -> Double {
            let u1 = Double(generator.next() >> 11) * 0x1p-53 + 0x1p-54, u2 = Double(generator.next() >> 11) * 0x1p-53
            return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
        }
        let a = (0..<400).map { _ in normal() }, b = (0..<300).map { _ in 0.5 + 2 * normal() }
        let difference = ReplicateStatistics.mean(b) - ReplicateStatistics.mean(a)
        let se = (pow(ReplicateStatistics.standardDeviation(a)!, 2) / 400 + pow(ReplicateStatistics.standardDeviation(b)!, 2) / 300).squareRoot()
        let interval = try #require(ReplicateStatistics.bootstrapInterval(a, b, difference: .absolute, paired: false, resamples: 4000))
        #expect(abs((interval.high - interval.low) / (2 * 1.96 * se) - 1) < 0.1, "width \(interval.high - interval.low) vs \(2 * 1.96 * se)")
        #expect(abs((interval.high + interval.low) / 2 - difference) < 0.25 * se)
    }

    /// Re-measured rounds become one record per engine and batch: median of the rounds'
    /// medians and p95s, the smallest minimum, every timed call counted.
    @Test func remeasuredRoundsCombine() {
        func whole(_ engine: String, _ batch: Int, _ samples: [Double]) -> EngineMeasurement.Whole {
            EngineMeasurement.Whole(engine: engine, batchSize: batch, statistics: LatencyStatistics(samples: samples))
        }
        let rounds = [whole("dense", 1, [10, 11, 30]), whole("csr", 1, [5]),
                      whole("dense", 1, [9, 12, 13]), whole("csr", 1, [7]),
                      whole("dense", 1, [14, 15, 16]), whole("csr", 1, [6])]
        let records = LatencyRemeasurement.combine(rounds)
        #expect(records.map(\.engine) == ["dense", "csr"])
        #expect(records[0].medianMicroseconds == 12 && records[0].p95Microseconds == 16 && records[0].minMicroseconds == 9 && records[0].repetitions == 9)
        #expect(records[1].medianMicroseconds == 6 && records[1].minMicroseconds == 5 && records[1].repetitions == 3)
    }
}
}

extension AllTests {
@Suite struct SweepComparisonTests {
    /// A sweep folder built from one real run's report: schedule list/gradual × seeds, the
    /// figures edited per point by `edit(schedule, seed, &report)`.
    func constructedSweep(seeds: [String: [Int]], compare: String = "", edit: (String, Int, inout RunReport) -> Void) throws -> String {
        let (_, report) = try runSlice(try sliceSpec())
        let spec = try sliceSpec { $0 + "\nsweep:\n  grid: { seed: [0, 1, 2, 3, 4, 5] }\n  axes:\n    schedule:\n      - { name: list }\n      - { name: gradual }\n" + compare }
        let folder = temporaryDirectory("sweepcmp") + "/sweep"
        var entries: [SweepEntry] = []
        for schedule in ["list", "gradual"] {
            for seed in seeds[schedule]! {
                var copy = report
                edit(schedule, seed, &copy)
                let label = "schedule=\(schedule)_seed=\(seed)"
                let directory = folder + "/points/" + String(format: "%03d-", entries.count) + label
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                try copy.write(to: directory)
                entries.append(SweepEntry(index: entries.count, label: label, values: ["schedule": schedule, "seed": String(seed)],
                                          runDirectory: directory, status: "complete"))
            }
        }
        try AtomicFile.write(try JSONEncoder().encode(SweepFile(spec: spec, points: entries)), to: folder + "/sweep.json")
        return folder
    }

    /// The gradual points lose exactly one point of test accuracy at stage 2 on every seed.
    @Test func pairedSeedsGiveMeanSDIntervalAndGate() throws {
        let folder = try constructedSweep(seeds: ["list": [0, 1, 2], "gradual": [0, 1, 2]]) { schedule, seed, report in
            report.stages[2].testAccuracy = 0.80 + 0.02 * Double(seed) - (schedule == "gradual" ? 0.01 : 0)
        }
        let select = ["--baseline", "schedule=list", "--candidate", "schedule=gradual"]
        let gated = try runTopiary(["compare", folder] + select + ["--max-accuracy-drop", "0.5"])
        #expect(gated.status == 1, "\(gated.stderr)")
        #expect(gated.stdout.contains("| 2 | 0.8 | `test_accuracy` | 0.8200 ± 0.0200 (n=3) | 0.8100 ± 0.0200 (n=3) | -1.00 points | [-1.00 points, -1.00 points] paired | **REGRESSION** |"),
                "\(gated.stdout)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/compare.json"))) as! [String: Any]
        #expect(json["regressed"] as? Bool == true && (json["rows"] as! [[String: Any]]).allSatisfy { $0["n_a"] as? Int == 3 && $0["paired"] as? Bool == true })
        #expect(FileManager.default.fileExists(atPath: folder + "/compare.md") && FileManager.default.fileExists(atPath: folder + "/compare.csv"))
        #expect(try runTopiary(["compare", folder] + select + ["--max-accuracy-drop", "1.5"]).status == 0)
        // Same sweep, no selection: which side is which is unknown.
        let unselected = try runTopiary(["compare", folder])
        #expect(unselected.status == 2 && unselected.stderr.contains("--baseline KEY=VALUE"))
        let unknown = try runTopiary(["compare", folder, "--baseline", "shedule=list", "--candidate", "schedule=gradual"])
        #expect(unknown.status == 2 && unknown.stderr.contains("no sweep column 'shedule'"))
    }

    /// Different seeds on each side: unpaired, so the seeds' spread widens the interval. A drop
    /// past the threshold fails the gate only when the interval excludes zero.
    @Test func unpairedReplicatesGateOnlyOnSignificantDropsWithTheSpecsThresholds() throws {
        let compare = "compare:\n  baseline: { schedule: list }\n  candidate: { schedule: gradual }\n  max_accuracy_drop: 0.5\n"
        func sweep(shift: Double) throws -> String {
            try constructedSweep(seeds: ["list": [0, 1, 2], "gradual": [3, 4, 5]], compare: compare) { schedule, seed, report in
                report.stages[2].testAccuracy = 0.80 + 0.02 * Double(seed % 3) - (schedule == "gradual" ? shift : 0)
            }
        }
        func stage2(_ folder: String) throws -> [String: String] {
            try #require(try readCSV(folder + "/compare.csv").rows.first { $0["metric"] == "test_accuracy" && $0["stage"] == "2" })
        }
        let large = try sweep(shift: 0.05)
        let failed = try runTopiary(["compare", large])   // selections and threshold from the spec
        #expect(failed.status == 1, "\(failed.stderr)")
        let row = try stage2(large)
        #expect(row["paired"] == "false" && Double(row["interval_high"]!)! < 0 && row["regression"] == "true")
        #expect(try runTopiary(["compare", large, "--max-accuracy-drop", "6"]).status == 0)   // the flag wins

        let small = try sweep(shift: 0.01)   // 1 point lower on average, but within the seeds' noise
        let passed = try runTopiary(["compare", small])
        #expect(passed.status == 0 && passed.stdout.contains("within the thresholds"), "\(passed.stdout)")
        let noisy = try stage2(small)
        let (low, high) = (Double(noisy["interval_low"]!)!, Double(noisy["interval_high"]!)!)
        #expect(abs(Double(noisy["change"]!)! + 0.01) < 1e-9 && low < -0.01 && high > 0 && noisy["regression"] == "false")
    }

    /// Two sweeps of the same grid: configurations are matched across the folders, and only
    /// the configuration that got worse fails.
    @Test func twoSweepsCompareConfigurationByConfiguration() throws {
        let seeds = ["list": [0, 1, 2], "gradual": [0, 1, 2]]
        // The spec's selections are for within one sweep; across two folders they do not apply.
        let compare = "compare:\n  baseline: { schedule: list }\n  candidate: { schedule: gradual }\n"
        let before = try constructedSweep(seeds: seeds, compare: compare) { _, seed, report in
            report.stages[2].testAccuracy = 0.80 + 0.01 * Double(seed)
        }
        let after = try constructedSweep(seeds: seeds, compare: compare) { schedule, seed, report in
            report.stages[2].testAccuracy = 0.80 + 0.01 * Double(seed) - (schedule == "gradual" ? 0.02 : 0)
        }
        let result = try runTopiary(["compare", before, after, "--max-accuracy-drop", "1"])
        #expect(result.status == 1, "\(result.stderr)")
        let rows = try readCSV(after + "/compare.csv").rows.filter { $0["metric"] == "test_accuracy" && $0["stage"] == "2" }
        #expect(Set(rows.map { $0["configuration"]! }) == ["schedule=list", "schedule=gradual"])
        #expect(rows.allSatisfy { ($0["regression"] == "true") == ($0["configuration"] == "schedule=gradual") && $0["n_a"] == "3" })
        #expect(result.stdout.contains("| schedule=gradual | 2 | 0.8 | `test_accuracy` |"))
    }

    @Test func specBlocksAreValidated() {
        func problem(_ block: String) -> String? {
            do { _ = try ExperimentSpec.decode(yaml: validSpecYAML + "\n" + block); return nil } catch { return "\(error)" }
        }
        #expect(problem("compare: { baseline: { schedule: list } }")?.contains("candidate") == true)
        #expect(problem("compare: { resamples: 10 }")?.contains("resamples") == true)
        #expect(problem("compare: { max_accuracy_drop: -1 }")?.contains("max_accuracy_drop") == true)
        #expect(problem("compare: { remeasure_rounds: 0 }")?.contains("remeasure_rounds") == true)
        #expect(problem("compare: { remeasure_rounds: 2 }") == nil)
        #expect(problem("slurm: { time: 1h }")?.contains("not a Slurm time limit") == true)
        #expect(problem("slurm: { memory: 2GB }")?.contains("not a memory size") == true)
        #expect(problem("slurm: { cpus_per_task: 0 }")?.contains("cpus_per_task") == true)
        #expect(problem("slurm: { cpus_per_task: 2, time: \"1-02:00:00\", memory: 512M }") == nil)
        #expect(problem("compare: { baseline: { schedule: list }, candidate: { schedule: gradual }, max_latency_increase: 0.1 }") == nil)
        for good in ["30", "10:00", "01:30:00", "2-12", "2-12:30", "2-12:30:00"] { #expect(SlurmSpec.isSlurmTime(good), "\(good)") }
        for bad in ["", "1h", "1:2:3:4", "-5", "a-01:00:00", "01::00"] { #expect(!SlurmSpec.isSlurmTime(bad), "\(bad)") }
    }
}
}
