import Foundation
import Testing
@testable import TopiaryData
@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySpec
@testable import TopiaryStudy
@testable import TopiaryTraining

/// Runs the real `topiary` executable (built beside the test bundle).
func runTopiary(_ arguments: [String], environment: [String: String] = [:], timeout: Double = 600) throws -> (status: Int32, stdout: String, stderr: String) {
    let result = try ChildProcess.run(topiaryExecutable, arguments, environment: environment, timeout: timeout)
    return (result.status, result.stdout, result.stderr)
}

/// The `topiary` binary built beside the test bundle.
var topiaryExecutable: String {
    URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("topiary").path
}

extension AllTests {
@Suite struct CommandLineTests {
    func sliceYAML(path: String = FashionMNISTSlice.directory) -> String {
        validSpecYAML.replacingOccurrences(of: "  validation_size: 400", with: "  validation_size: 400\n  path: \(path)")
    }

    /// Bad input: a clear message on stderr, a non-zero exit, and no run folder.
    func expectCleanFailure(_ yaml: String, mentions: [String]) throws {
        let out = temporaryDirectory("cli") + "/run"
        let result = try runTopiary(["run", writeSpecFile(yaml), "--out", out])
        #expect(result.status != 0)
        for word in mentions { #expect(result.stderr.contains(word), "stderr: \(result.stderr)") }
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func specErrorsExitNonZeroAndWriteNothing() throws {
        try expectCleanFailure(sliceYAML() + "\nsurprise: true", mentions: ["unknown key 'surprise'"])
        try expectCleanFailure(sliceYAML().replacingOccurrences(of: "sparsity: 0.8", with: "sparsity: 1.5"),
                               mentions: ["pruning.stages[1].sparsity", "outside [0, 1)"])
        try expectCleanFailure(sliceYAML().replacingOccurrences(of: "scorer: magnitude", with: "scorer: hessian"),
                               mentions: ["unknown scorer 'hessian'"])
    }

    @Test func scorerOverrideIsValidatedAndRecorded() throws {
        let bad = try runTopiary(["run", writeSpecFile(sliceYAML()), "--scorer", "nope"])
        #expect(bad.status != 0 && bad.stderr.contains("unknown scorer 'nope'"))
        let out = temporaryDirectory("cli") + "/run"
        let good = try runTopiary(["run", writeSpecFile(sliceYAML()), "--scorer", "fisher", "--out", out, "--quiet"])
        #expect(good.status == 0, "\(good.stderr)")
        #expect(try RunReport.read(from: out).spec.pruning.scorer == "fisher")
    }

    @Test func missingDatasetNamesTheDebianPackage() throws {
        try expectCleanFailure(sliceYAML(path: "/nonexistent/fmnist"), mentions: ["dataset-fashion-mnist", "/nonexistent/fmnist"])
    }

    @Test func corruptIDXFileFailsBeforeTraining() throws {
        let directory = temporaryDirectory("corrupt")
        for name in [FashionMNIST.files.trainImages, FashionMNIST.files.trainLabels, FashionMNIST.files.testImages,
                     FashionMNIST.files.testLabels] {
            try FileManager.default.copyItem(atPath: FashionMNISTSlice.directory + "/" + name, toPath: directory + "/" + name)
        }
        // Labels that claim 2,400 entries but hold 100.
        writeGzip(idxBytes(dimensions: [2400], payload: [UInt8](repeating: 1, count: 100)),
                  to: directory + "/" + FashionMNIST.files.trainLabels)
        try expectCleanFailure(sliceYAML(path: directory), mentions: ["truncated", FashionMNIST.files.trainLabels])
    }

    @Test func runPrintsSummaryAndWritesReports() throws {
        let out = temporaryDirectory("cli") + "/run"
        let result = try runTopiary(["run", writeSpecFile(sliceYAML()), "--out", out, "--seed", "5", "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("test acc") && result.stdout.contains(out))
        #expect(result.stderr.isEmpty)
        for file in ["stages.csv", "layers.csv", "report.json"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + file))
        }
        #expect(try String(contentsOfFile: out + "/report.json", encoding: .utf8).contains("\"seed\" : 5"))
    }

    @Test func environmentReportsBLASAndFlushToZero() throws {
        let result = try runTopiary(["env"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("\"blas_core\"") && result.stdout.contains("\"flush_to_zero\" : true"))
        // The kernel choice: unless the user pinned a core, the CLI runs the kernels made for
        // this CPU's instruction set (re-executing itself when OpenBLAS loaded lesser ones).
        #expect(result.stdout.contains("\"cpu_instruction_set\""))
        if ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil {
            #expect(result.stdout.contains("\"blas_core_matches_cpu\" : true"), "\(result.stdout)")
        }
        // OpenBLAS's workers sleep soon after a call unless the user chose their spin time.
        let timeout = ProcessInfo.processInfo.environment["OPENBLAS_THREAD_TIMEOUT"] ?? "10"
        #expect(result.stdout.contains("\"blas_thread_timeout_variable\" : \"\(timeout)\""), "\(result.stdout)")
    }
}
}

extension AllTests {
@Suite struct SensitivityCommandTests {
    @Test func sensitivityWritesCSVAndTargets() throws {
        let spec = writeSpecFile(sliceSpecYAML)
        let out = temporaryDirectory("sens") + "/out"
        let result = try runTopiary(["sensitivity", spec, "--grid", "0.5,0.9", "--global-sparsity", "0.5", "--out", out, "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("per-layer targets for global sparsity 0.5"))
        let (header, rows) = try readCSV(out + "/sensitivity.csv")
        #expect(header == ["layer", "sparsity", "val_accuracy", "test_accuracy", "val_drop"] && rows.count == 6)
        #expect(FileManager.default.fileExists(atPath: out + "/sensitivity.json"))
        let bad = try runTopiary(["sensitivity", spec, "--grid", "0.5,1.2"])
        #expect(bad.status != 0 && bad.stderr.contains("--grid"))
    }
}
}

extension AllTests {
@Suite struct CompareTests {
    /// A report written before per-engine measurement (no per-layer latency, bytes per engine,
    /// best/auto engines, flops, latency threads) still reads and compares; a report missing
    /// a core field is refused with the field's path.
    @Test func reportsFromEarlierVersionsStayComparable() throws {
        let (directory, report) = try runSlice(try sliceSpec())
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/report.json"))) as! [String: Any]
        let later = ["bytes_by_engine", "best_engine", "auto_engines", "int8_test_accuracy", "flops_dense", "flops_effective",
                     "latency_threads", "score_agreement"]
        json["stages"] = (json["stages"] as! [[String: Any]]).map { stage in
            var stage = stage.filter { !later.contains($0.key) }
            stage["layers"] = (stage["layers"] as! [[String: Any]]).map { $0.filter { !["latency", "bytes_by_engine"].contains($0.key) } }
            return stage
        }
        let old = temporaryDirectory("old") + "/run"
        try FileManager.default.createDirectory(atPath: old, withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: old + "/report.json"))
        let read = try RunReport.read(from: old)
        #expect(read.stages.map(\.testAccuracy) == report.stages.map(\.testAccuracy) && read.stages[1].layers[0].latency.isEmpty)
        let compared = try runTopiary(["compare", old, directory, "--max-accuracy-drop", "0"])
        #expect(compared.status == 0, "\(compared.stderr)")

        json["stages"] = (json["stages"] as! [[String: Any]]).map { $0.filter { $0.key != "test_accuracy" } }
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: old + "/report.json"))
        let broken = try runTopiary(["compare", old, directory])
        #expect(broken.status == 2 && broken.stderr.contains("stages.[0].test_accuracy is missing"), "\(broken.stderr)")
    }

    /// Reports built from a real run with edited figures: the gate's exit codes.
    @Test func compareGateExitCodes() throws {
        let (baseline, report) = try runSlice(try sliceSpec())
        func variant(_ edit: (inout RunReport) -> Void) throws -> String {
            var copy = report
            edit(&copy)
            let directory = temporaryDirectory("cmp") + "/run"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try copy.write(to: directory)
            return directory
        }
        let same = try variant { _ in }
        let within = try runTopiary(["compare", baseline, same, "--max-accuracy-drop", "0.5", "--max-latency-increase", "0.5"])
        #expect(within.status == 0 && within.stdout.contains("within the thresholds"), "\(within.stderr)")
        #expect(FileManager.default.fileExists(atPath: same + "/compare.csv") && FileManager.default.fileExists(atPath: same + "/compare.json"))

        let worse = try variant { $0.stages[2].testAccuracy -= 0.01 }   // one point lower at stage 2
        let dropped = try runTopiary(["compare", baseline, worse, "--max-accuracy-drop", "0.5"])
        #expect(dropped.status == 1)
        #expect(dropped.stdout.contains("| 2 | 0.8 | `test_accuracy` |") && dropped.stdout.contains("**REGRESSION**"))
        #expect(try runTopiary(["compare", baseline, worse, "--max-accuracy-drop", "2"]).status == 0)

        let slower = try variant { report in
            for i in report.stages[1].latency.indices where report.stages[1].latency[i].engine == "dense" {
                report.stages[1].latency[i].medianMicroseconds *= 3
            }
        }
        #expect(try runTopiary(["compare", baseline, slower, "--max-latency-increase", "0.5"]).status == 1)

        // Aligned on the target sparsities both runs reached; the others are named, not compared.
        let otherLast = try variant { $0.stages[2].targetSparsity = 0.9 }
        let partial = try runTopiary(["compare", baseline, otherLast])
        #expect(partial.status == 0 && partial.stdout.contains("only one side, not compared: 0.8 (A), 0.9 (B)"), "\(partial.stdout)")
        #expect(!partial.stdout.contains("| 2 | 0.8 |"))
        let otherStages = try variant { $0.stages[1].targetSparsity = 0.6; $0.stages[2].targetSparsity = 0.9 }
        let mismatch = try runTopiary(["compare", baseline, otherStages])
        #expect(mismatch.status == 2 && mismatch.stderr.contains("share no pruned target sparsity"))
        #expect(try runTopiary(["compare", baseline, temporaryDirectory("none")]).status == 2)
    }

    /// --remeasure times both sides again from their checkpoints: a report that claims its
    /// dense model is 3× slower gates as a regression, but re-measured against the same
    /// checkpoints the claim is gone.
    @Test func remeasureReplacesTheReportsLatency() throws {
        let (baseline, report) = try runSlice(try sliceSpec())
        var claimed = report
        for i in claimed.stages[1].latency.indices where claimed.stages[1].latency[i].engine == "dense" {
            claimed.stages[1].latency[i].medianMicroseconds *= 3
        }
        let slower = temporaryDirectory("cmp") + "/run"
        try FileManager.default.createDirectory(atPath: slower, withIntermediateDirectories: true)
        try claimed.write(to: slower)
        let gate = ["--max-latency-increase", "1.0", "--batch-sizes", "1", "--repetitions", "50", "--rounds", "3", "--latency-threads", "1"]
        let noCheckpoints = try runTopiary(["compare", baseline, slower, "--remeasure"] + gate)
        #expect(noCheckpoints.status == 2 && noCheckpoints.stderr.contains("holds no accepted checkpoint of stage 0"), "\(noCheckpoints.stderr)")

        try FileManager.default.copyItem(atPath: baseline + "/checkpoints", toPath: slower + "/checkpoints")
        #expect(try runTopiary(["compare", baseline, slower] + gate.prefix(2)).status == 1)
        let out = temporaryDirectory("cmp") + "/new/folder"
        let remeasured = try runTopiary(["compare", baseline, slower, "--remeasure", "--out", out] + gate)
        #expect(remeasured.status == 0 && remeasured.stdout.contains("latency re-measured on this machine")
                && remeasured.stdout.contains("3 round(s) with A's and B's checkpoints alternating"), "\(remeasured.stdout)\n\(remeasured.stderr)")
        let rows = try readCSV(out + "/compare.csv").rows.filter { $0["metric"] == "latency_b1_dense_median_us" }
        #expect(rows.count == 3, "stages 0, 1, 2 at batch 1")
        #expect(rows.allSatisfy { abs(Double($0["change"]!)!) < 1.0 }, "\(rows)")
    }
}
}
