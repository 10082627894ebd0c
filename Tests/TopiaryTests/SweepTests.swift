import Foundation
import Testing
@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySpec
@testable import TopiaryStudy
@testable import TopiaryTraining

extension AllTests {
@Suite struct SweepTests {
    func spec(_ sweep: String) throws -> ExperimentSpec {
        try ExperimentSpec.decode(yaml: sliceSpecYAML + "\n" + sweep)
    }

    @Test func gridExpandsToTheProductThenTheNamedPoints() throws {
        let base = try spec("sweep:\n  grid: { pruning.scorer: [magnitude, taylor], seed: [0, 1, 2] }\n  points:\n    - { name: wsd, training.lr_schedule.name: wsd }")
        let points = base.sweep!.expanded
        #expect(points.count == 7)
        #expect(points[0].parameters.map { "\($0.0)=\($0.1)" } == ["pruning.scorer=magnitude", "seed=0"])
        #expect(points[1].parameters.map { "\($0.0)=\($0.1)" } == ["pruning.scorer=magnitude", "seed=1"])
        #expect(points[3].label == "scorer=taylor_seed=0" && points[6].label == "wsd")
        let applied = try points[4].apply(to: base, file: "x.yaml")
        #expect(applied.pruning.scorer == "taylor" && applied.seed == 1 && applied.sweep == nil)
        #expect(try points[6].apply(to: base, file: "x.yaml").training.lrSchedule?.name == .wsd)
    }

    /// Axes (named alternatives) cross the grid; null removes a key, lists and mappings set whole sections.
    @Test func axesCrossTheGridAndSetStructuredValues() throws {
        let base = try spec("""
        sweep:
          grid: { seed: [0, 1] }
          axes:
            schedule:
              - { name: list }
              - name: gradual
                pruning.stages: null
                pruning.schedule: { kind: agp, epochs: 2, final_sparsity: 0.75, frequency: 5, pruning_steps: 4 }
        """)
        let points = base.sweep!.expanded
        #expect(points.map(\.label) == ["schedule=list_seed=0", "schedule=list_seed=1", "schedule=gradual_seed=0", "schedule=gradual_seed=1"])
        #expect(points[2].parameters.map { "\($0.0)=\($0.1)" } == ["schedule=gradual", "seed=0"])
        let list = try points[1].apply(to: base, file: "x.yaml"), gradual = try points[3].apply(to: base, file: "x.yaml")
        #expect(list.pruning == base.pruning && list.seed == 1)
        #expect(gradual.pruning.stages == nil && gradual.pruning.schedule?.kind == .agp && gradual.pruning.schedule?.finalSparsity == 0.75)
        for (bad, message) in [("axes: { schedule: [{ pruning.scorer: taylor }] }", "needs a name"),
                               ("axes: { seed: [{ name: a }] }\n  grid: { seed: [1] }", "also a grid key"),
                               ("axes: { s: [{ name: a }, { name: a }] }", "same name"),
                               ("axes: { s: [] }", "no alternatives")] {
            do {
                _ = try spec("sweep:\n  " + bad)
                Issue.record("accepted \(bad)")
            } catch let error as SpecError {
                #expect(error.problem.contains(message), "\(error)")
            }
        }
    }

    @Test func badPointsFailLikeSpecs() throws {
        let unknown = try spec("sweep:\n  grid: { pruning.scorerr: [magnitude] }")
        #expect(throws: SpecError.self) { try SweepRunner(spec: unknown, specFile: "x.yaml", directory: temporaryDirectory("sw")) }
        let badValue = try spec("sweep:\n  grid: { pruning.scorer: [magnitude, nope] }")
        do {
            _ = try SweepRunner(spec: badValue, specFile: "x.yaml", directory: temporaryDirectory("sw"))
            Issue.record("accepted an unknown scorer")
        } catch let error as SpecError {
            #expect(error.keyPath.contains("sweep point scorer=nope") && error.problem.contains("unknown scorer"))
        }
        #expect(throws: SpecError.self) { try ExperimentSpec.decode(yaml: validSpecYAML + "\nsweep: {}") }
    }

    @Test func shardsPartitionThePoints() {
        for count in [1, 5, 12] {
            for shards in 1...4 {
                let all = (0..<shards).flatMap { SweepRunner.shardIndices(count: count, shard: ($0, shards)) }
                #expect(all.sorted() == Array(0..<count))
            }
        }
    }

    /// Two points on two jobs; a re-run skips both; a half-finished sweep reruns only the missing one.
    @Test func sweepRunsResumesAndSummarises() throws {
        let yaml = sliceSpecYAML
            + "\nsweep:\n  grid: { pruning.scorer: [magnitude, random] }"
            + "\ncompare: { baseline: { scorer: magnitude }, candidate: { scorer: random }, remeasure_rounds: 1 }"
        let specPath = writeSpecFile(yaml, name: "sweep.yaml")
        let out = temporaryDirectory("sweep") + "/s"
        let first = try runTopiary(["sweep", specPath, "--jobs", "2", "--out", out])
        #expect(first.status == 0, "\(first.stderr)")
        let (header, rows) = try readCSV(out + "/sweep.csv")
        #expect(header.starts(with: ["point", "label", "pruning.scorer", "status", "stage"]))
        #expect(rows.count == 2 * 3 && Set(rows.map { $0["pruning.scorer"]! }) == ["magnitude", "random"])
        #expect(rows.allSatisfy { $0["status"] == "complete" })
        // The spec's compare: block is evaluated, and the sweep's charts render.
        #expect(first.stdout.contains("compare (spec's compare: block)"), "\(first.stdout)")
        let compared = try readCSV(out + "/compare.csv").rows
        #expect(compared.contains { $0["metric"] == "test_accuracy" && $0["stage"] == "2" && $0["n_a"] == "1" })
        // remeasure_rounds: the compared latency is a new measurement, not the reports' own.
        let markdown = try String(contentsOfFile: out + "/compare.md", encoding: .utf8)
        #expect(markdown.contains("latency re-measured on this machine") && markdown.contains("1 round(s)"))
        let stored = try readCSV(out + "/points/000-scorer=magnitude/stages.csv").rows.map { Double($0["latency_b1_dense_median_us"]!)! }
        let compared1 = compared.filter { $0["metric"] == "latency_b1_dense_median_us" }.map { Double($0["a"]!)! }
        #expect(compared1.count == 3 && compared1 != stored, "\(compared1) vs \(stored)")
        let index = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        for chart in ["accuracy.svg", "latency_b1.svg", "latency_b100.svg", "memory.svg"] {
            #expect(index.contains("<img src=\"\(chart)\""))
            let png = try renderSVG(out + "/" + chart)
            #expect(png.width >= 720 && png.height == 440 && png.bytes > 8_000, "\(chart): \(png)")
        }
        #expect(index.contains("scorer=random") && index.contains("Comparison (compare.md)"))
        let again = try runTopiary(["sweep", specPath, "--out", out])
        #expect(again.stdout.contains("2 points, 0 run now"))
        try FileManager.default.removeItem(atPath: out + "/points/001-scorer=random")
        let resumed = try runTopiary(["sweep", specPath, "--out", out])
        #expect(resumed.status == 0 && resumed.stdout.contains("2 points, 1 run now"))
        #expect(try readCSV(out + "/sweep.csv").rows.count == 6)
        #expect(try runTopiary(["sweep", specPath, "--shard", "2/2"]).status != 0)
    }

    /// A sweep over learning rates × widths × parametrizations is a wind tunnel: the summary
    /// gives each configuration's best learning rate (the lowest dense validation loss) and a
    /// loss-vs-learning-rate chart per parametrization, one curve per width.
    @Test func learningRateSweepsSummariseTheBestRatePerWidth() throws {
        let yaml = sliceSpecYAML.replacingOccurrences(of: "    - { sparsity: 0.5, epochs: 1 }\n    - { sparsity: 0.8, epochs: 1 }", with: "    []")
            .replacingOccurrences(of: "  stages:\n    []", with: "  stages: []").replacingOccurrences(of: "  epochs: 2", with: "  epochs: 1")
            + """

            sweep:
              grid:
                model.hidden_sizes: [[16, 16], [64, 64]]
                training.optimizer.learning_rate: [0.0003, 0.01, 3.0]
              axes:
                parametrization:
                  - { name: standard }
                  - { name: mup, model.parametrization: mup, model.base_width: 16 }
            """
        let out = temporaryDirectory("sweep") + "/tunnel"
        let result = try runTopiary(["sweep", writeSpecFile(yaml, name: "tunnel.yaml"), "--jobs", "2", "--out", out])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = try readCSV(out + "/lr_transfer.csv").rows
        #expect(rows.count == 12)
        let best = rows.filter { $0["best"] == "true" }
        #expect(best.count == 4 && Set(best.map { $0["parametrization"]! }) == ["standard", "mup"])
        // The best is the lowest finite loss of its configuration; a learning rate of 3 is never it.
        for winner in best {
            let mine = rows.filter { $0["parametrization"] == winner["parametrization"] && $0["configuration"] == winner["configuration"] }
            let lowest = mine.compactMap { Double($0["val_loss"]!) }.filter(\.isFinite).min()!
            #expect(Double(winner["val_loss"]!)! == lowest && winner["learning_rate"] != "3.0")
        }
        let index = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        #expect(index.contains("Learning-rate transfer") && index.contains("best learning rate"))
        for chart in ["lr_transfer_standard.svg", "lr_transfer_mup.svg"] {
            #expect(index.contains("<img src=\"\(chart)\""))
            let png = try renderSVG(out + "/" + chart)
            #expect(png.width >= 720 && png.bytes > 8_000, "\(chart): \(png)")
        }
    }
}
}

extension AllTests {
@Suite struct MergeTests {
    @Test func shardsMergeIntoOneSummaryAndForeignShardsAreRefused() throws {
        let base = sliceSpecYAML
        let specPath = writeSpecFile((base + "\nsweep:\n  grid: { seed: [1, 2, 3] }"), name: "sweep.yaml")
        let root = temporaryDirectory("shards")
        for shard in 0..<2 {
            let result = try runTopiary(["sweep", specPath, "--shard", "\(shard)/2", "--out", root + "/shard\(shard)"])
            #expect(result.status == 0, "\(result.stderr)")
        }
        let merged = try runTopiary(["merge", root + "/shard0", root + "/shard1", "--out", root + "/all"])
        #expect(merged.status == 0, "\(merged.stderr)")
        let rows = try readCSV(root + "/all/sweep.csv").rows
        #expect(Set(rows.map { $0["seed"]! }) == ["1", "2", "3"] && rows.count == 3 * 3)
        #expect(rows.allSatisfy { $0["status"] == "complete" })
        let otherSpec = writeSpecFile((base + "\nsweep:\n  grid: { seed: [7] }"), name: "other.yaml")
        #expect(try runTopiary(["sweep", otherSpec, "--out", root + "/foreign"]).status == 0)
        let refused = try runTopiary(["merge", root + "/shard0", root + "/foreign", "--out", root + "/bad"])
        #expect(refused.status != 0 && refused.stderr.contains("different spec"))
        #expect(try runTopiary(["merge", temporaryDirectory("empty"), "--out", root + "/bad2"]).stderr.contains("not a sweep folder"))
    }
}
}

extension AllTests {
@Suite struct PlotTests {
    @Test func axesTickAtRoundValues() {
        #expect(SVGChart.ticks(from: 0, to: 0.9375) == [0, 0.2, 0.4, 0.6, 0.8])
        #expect(SVGChart.ticks(from: 0.826, to: 0.896) == [0.83, 0.84, 0.85, 0.86, 0.87, 0.88, 0.89])
        #expect(SVGChart.ticks(from: -3, to: 47) == [0, 10, 20, 30, 40])
        #expect(SVGChart.logTicks(from: log10(450), to: log10(12_000)) == [500, 1000, 2000, 5000, 10_000])
        #expect(SVGChart.logTicks(from: 1, to: 6) == [10, 100, 1000, 10_000, 100_000, 1_000_000])
        #expect(SVGChart.logTicks(from: log10(3.5), to: log10(13)) == [4, 5, 6, 8, 10])
    }

    /// Rendered, not string-matched: rsvg-convert (Debian librsvg2-bin, installed by make) turns
    /// each SVG into a 720×440 PNG that is not blank.
    @Test func runChartsRenderAndIndexShowsThem() throws {
        let (directory, _) = try runSlice(try sliceSpec())
        let charts = ["accuracy.svg", "latency_b1.svg", "latency_b100.svg", "memory.svg"]
        let index = try String(contentsOfFile: directory + "/index.html", encoding: .utf8)
        for chart in charts {
            #expect(index.contains("<img src=\"\(chart)\""))
            let png = try renderSVG(directory + "/" + chart)
            #expect(png.width == 720 && png.height == 440, "\(chart) does not render at 720×440")
            #expect(png.bytes > 8_000, "\(chart) renders almost empty (\(png.bytes) bytes)")
        }
        let svg = try String(contentsOfFile: directory + "/accuracy.svg", encoding: .utf8)
        #expect(svg.contains("accuracy (fraction)") && svg.contains("sparsity of prunable weights (fraction)"))
    }
}
}
