import Foundation
import Testing
@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySpec
@testable import TopiaryStudy
@testable import TopiaryTraining

/// The tiny spec pointed at real Fashion-MNIST slices.
func sliceSpec(_ edit: (String) -> String = { $0 }) throws -> ExperimentSpec {
    let yaml = sliceSpecYAML
    return try ExperimentSpec.decode(yaml: edit(yaml))
}

/// Parses a CSV written by the report writer (no quoting is ever needed in our columns).
func readCSV(_ path: String) throws -> (header: [String], rows: [[String: String]]) {
    let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
    let header = lines[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    let rows = lines.dropFirst().map { line -> [String: String] in
        let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        #expect(fields.count == header.count)
        return Dictionary(uniqueKeysWithValues: zip(header, fields))
    }
    return (header, rows)
}

func runSlice(_ spec: ExperimentSpec, seed: UInt64? = nil) throws -> (directory: String, report: RunReport) {
    var options = RunOptions()
    options.runDirectory = temporaryDirectory("run") + "/out"
    options.seedOverride = seed
    let runner = try ExperimentRunner(spec: spec, options: options)
    return (runner.runDirectory, try runner.run())
}

extension AllTests {
@Suite struct EndToEndTests {
    @Test func smallRunWritesCompleteReportsThatParseBack() throws {
        let (directory, report) = try runSlice(try sliceSpec())
        let stages = try readCSV(directory + "/stages.csv")
        #expect(stages.header == ReportColumns.stages(latencyBatchSizes: [1, 100]).map(\.name))
        for required in ["stage", "target_sparsity", "sparsity", "nonzeros", "test_accuracy", "test_loss", "val_accuracy",
                         "train_epoch_seconds", "score_seconds", "latency_b1_median_us", "latency_b1_p95_us",
                         "latency_b100_median_us", "dense_bytes", "csr_bytes", "peak_rss_bytes"] {
            #expect(stages.header.contains(required), "\(required)")
        }
        #expect(stages.rows.map { $0["stage"] } == ["0", "1", "2"])
        #expect(stages.rows.map { $0["target_sparsity"] } == ["0.0", "0.5", "0.8"])
        let prunable = 784 * 32 + 32 * 16 + 16 * 10
        for row in stages.rows {
            let target = Double(row["target_sparsity"]!)!, realised = Double(row["sparsity"]!)!
            #expect(abs(realised - target) * Double(prunable) <= 0.5)
            #expect(Int(row["nonzeros"]!)! == prunable - Int((target * Double(prunable)).rounded()))
            #expect(Double(row["test_accuracy"]!)! > 0.5)  // well above chance (0.1) on real data
            #expect(Double(row["latency_b1_median_us"]!)! > 0 && Int(row["peak_rss_bytes"]!)! > 0)
        }
        #expect(Int(stages.rows[2]["csr_bytes"]!)! < Int(stages.rows[0]["csr_bytes"]!)!)

        let layers = try readCSV(directory + "/layers.csv")
        #expect(layers.rows.count == 3 * 3)
        #expect(layers.rows.filter { $0["stage"] == "2" }.map { Int($0["nonzeros"]!)! }.reduce(0, +)
                == Int(stages.rows[2]["nonzeros"]!)!)

        let reread = try RunReport.read(from: directory)
        #expect(reread == report)
        #expect(reread.status == .complete && reread.schemaVersion == 1 && reread.stages.count == 3)
        #expect(!reread.environment.blasCore.isEmpty && reread.environment.blasThreads >= 1 && reread.environment.flushToZero)
        #expect(reread.spec.pruning.retraining?.optimizer != nil)  // resolved spec, defaults written out
        #expect(reread.dataRows.validation == 400 && reread.dataRows.train == FashionMNISTSlice.trainRows - 400)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".tmp") }
        #expect(leftovers.isEmpty)
    }

    /// Same spec + seed + thread count ⇒ identical masks and accuracies (timings aside).
    @Test func sameSeedReproducesEveryNonTimingColumn() throws {
        let spec = try sliceSpec { $0.replacingOccurrences(of: "scorer: magnitude", with: "scorer: taylor") }
        let first = try runSlice(spec), second = try runSlice(spec)
        let a = try readCSV(first.directory + "/stages.csv"), b = try readCSV(second.directory + "/stages.csv")
        for (rowA, rowB) in zip(a.rows, b.rows) {
            for column in a.header where !isTimingColumn(column) {
                #expect(rowA[column] == rowB[column], "\(column)")
            }
        }
        #expect(try nonTimingColumns(first.directory + "/layers.csv") == nonTimingColumns(second.directory + "/layers.csv"))
        let other = try runSlice(spec, seed: 99)
        #expect(other.report.stages[1].testAccuracy != first.report.stages[1].testAccuracy)
    }

    @Test func excludedLayersAndPerLayerScope() throws {
        let spec = try sliceSpec {
            $0.replacingOccurrences(of: "scorer: magnitude", with: "scorer: random\n  scope: per_layer\n  exclude_layers: [fc3]")
        }
        let (_, report) = try runSlice(spec)
        let last = report.stages.last!
        #expect(last.prunableWeights == 784 * 32 + 32 * 16)
        let byName = Dictionary(uniqueKeysWithValues: last.layers.map { ($0.layer, $0) })
        #expect(byName["fc3"]!.nonzeros == 160 && byName["fc3"]!.excluded)
        #expect(byName["fc1"]!.nonzeros == 784 * 32 - Int((0.8 * 784 * 32).rounded()))
        #expect(byName["fc2"]!.nonzeros == 32 * 16 - Int((0.8 * 32 * 16).rounded()))
    }

    @Test func refusesToOverwriteAFinishedRun() throws {
        let (directory, _) = try runSlice(try sliceSpec())
        var options = RunOptions()
        options.runDirectory = directory
        #expect(throws: ReportError.runDirectoryNotEmpty(path: directory)) {
            try ExperimentRunner(spec: try sliceSpec(), options: options)
        }
    }

    @Test func blasCoreDecision() {
        // Kernels made for less than the CPU offers are replaced by the ones made for it.
        #expect(BLASRuntimeDecision.check("Prescott", nil, .avx512BF16) == "Cooperlake")
        #expect(BLASRuntimeDecision.check("Haswell", nil, .avx512BF16) == "Cooperlake")  // Zen 5 under Debian's 0.3.21
        #expect(BLASRuntimeDecision.check("SkylakeX", nil, .avx512BF16) == "Cooperlake")
        #expect(BLASRuntimeDecision.check("Prescott", nil, .avx512) == "SkylakeX")
        #expect(BLASRuntimeDecision.check("Zen", nil, .avx512) == "SkylakeX")
        #expect(BLASRuntimeDecision.check("Prescott", nil, .avx2FMA) == "Haswell")
        #expect(BLASRuntimeDecision.check("Sandybridge", nil, .avx2FMA) == "Haswell")
        // Kept: the core already uses everything, the CPU has nothing better, or the user chose.
        #expect(BLASRuntimeDecision.check("Cooperlake", nil, .avx512BF16) == nil)
        #expect(BLASRuntimeDecision.check("SapphireRapids", nil, .avx512BF16) == nil)
        #expect(BLASRuntimeDecision.check("SkylakeX", nil, .avx512) == nil)
        #expect(BLASRuntimeDecision.check("Haswell", nil, .avx2FMA) == nil)
        #expect(BLASRuntimeDecision.check("Prescott", nil, .baseline) == nil)
        #expect(BLASRuntimeDecision.check("Prescott", "Zen", .avx512BF16) == nil)
        #expect(BLASRuntimeDecision.check("Haswell", "Haswell", .avx512) == nil)
    }
}
}

import TopiaryTensor
enum BLASRuntimeDecision {
    static func check(_ core: String, _ user: String?, _ cpu: BLASRuntime.InstructionSet) -> String? {
        BLASRuntime.preferredCoreType(currentCore: core, userSetting: user, cpu: cpu)
    }
}
