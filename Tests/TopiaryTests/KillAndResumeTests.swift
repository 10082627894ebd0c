import Foundation
import Testing
@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySpec
@testable import TopiaryStudy
@testable import TopiaryTraining

/// A spec heavy enough (in a debug build) that a stage takes a while: 4 stages × 3 epochs.
let killableYAML = validSpecYAML
    .replacingOccurrences(of: "hidden_sizes: [32, 16]", with: "hidden_sizes: [256, 128]")
    .replacingOccurrences(of: "    - { sparsity: 0.5, epochs: 1 }\n    - { sparsity: 0.8, epochs: 1 }",
                          with: "    - { sparsity: 0.5, epochs: 3 }\n    - { sparsity: 0.7, epochs: 3 }\n    - { sparsity: 0.8, epochs: 3 }\n    - { sparsity: 0.9, epochs: 3 }")
    .replacingOccurrences(of: "  validation_size: 400", with: "  validation_size: 400\n  path: \(FashionMNISTSlice.directory)")

/// Starts `topiary` in the background.
func launchTopiary(_ arguments: [String]) throws -> ChildProcess {
    try ChildProcess(topiaryExecutable, arguments)
}

/// Waits (up to 120 s) until `path` exists; false when the process ended first.
func waitForFile(_ path: String, _ process: ChildProcess) -> Bool {
    let deadline = Date().addingTimeInterval(120)
    while Date() < deadline {
        if FileManager.default.fileExists(atPath: path) { return true }
        if !process.isRunning { return false }
        usleep(2_000)
    }
    return false
}

extension AllTests {
@Suite struct KillAndResumeTests {
    /// SIGKILL a real run in the middle of stage 2, resume it, and compare with an
    /// uninterrupted run of the same spec: every non-timing column of stages.csv agrees.
    @Test func sigkillMidStageThenResumeMatchesUninterruptedRun() throws {
        let spec = writeSpecFile(killableYAML, name: "killable.yaml")
        let reference = temporaryDirectory("ref") + "/run"
        let full = try runTopiary(["run", spec, "--out", reference, "--quiet"])
        #expect(full.status == 0, "\(full.stderr)")

        let killed = temporaryDirectory("killed") + "/run"
        let process = try launchTopiary(["run", spec, "--out", killed, "--quiet"])
        // The stage-1 checkpoint is written as stage 2 begins: kill right then, mid-stage 2.
        #expect(waitForFile(killed + "/checkpoints/0001-stage1.bin", process))
        usleep(50_000)
        process.signal(SIGKILL)
        #expect(try process.wait(timeout: 60).status == 128 + SIGKILL)
        let partial = try RunReport.read(from: killed)
        #expect(partial.status == .running && partial.stages.count < 5)

        let resumed = try runTopiary(["run", spec, "--resume", killed, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try nonTimingColumns(killed + "/stages.csv") == nonTimingColumns(reference + "/stages.csv"))
        let report = try RunReport.read(from: killed)
        #expect(report.status == .complete && report.resumedAt.count == 1 && report.stages.count == 5)
    }

    /// Ctrl-C: the run stops between batches, report.json says interrupted, exit 130;
    /// --resume then finishes it.
    @Test func interruptMarksReportAndExitsNonZero() throws {
        let spec = writeSpecFile(killableYAML, name: "killable.yaml")
        let directory = temporaryDirectory("sigint") + "/run"
        let process = try launchTopiary(["run", spec, "--out", directory, "--quiet"])
        #expect(waitForFile(directory + "/checkpoints/0000-stage0.bin", process))
        process.signal(SIGINT)
        #expect(try process.wait(timeout: 120).status == 130)
        let report = try RunReport.read(from: directory)
        #expect(report.status == .interrupted && report.error?.contains("--resume") == true)
        let resumed = try runTopiary(["run", spec, "--resume", directory, "--quiet"])
        #expect(resumed.status == 0)
        #expect(try RunReport.read(from: directory).status == .complete)
    }

    @Test func planPrintsTargetsAndSteps() throws {
        let result = try runTopiary(["plan", writeSpecFile(killableYAML, name: "killable.yaml")])
        #expect(result.status == 0, "\(result.stderr)")
        // 2,000 training rows / batch 64 = 32 steps per epoch; 3 epochs per stage.
        #expect(result.stdout.contains("2000 training rows"))
        #expect(result.stdout.contains("dense: 2 epochs x 32 steps = 64 optimizer steps"))
        #expect(result.stdout.contains("    4          0.90000       3               96"))
        #expect(result.stdout.contains("total optimizer steps: 448"))
    }
}
}

extension AllTests {
@Suite struct BenchModelTests {
    /// bench-model re-measures every accepted checkpoint of a run with every engine.
    @Test func benchModelReMeasuresAFinishedRun() throws {
        let (directory, _) = try runSlice(try sliceSpec())
        let result = try runTopiary(["bench-model", directory, "--batch-sizes", "1,64", "--repetitions", "10", "--latency-threads", "1"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("batch 1:") && result.stdout.contains("batch 64:") && result.stdout.contains("stage2"))
        let written = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("bench-model-") }
        #expect(written.count == 1)
        let (header, rows) = try readCSV(directory + "/" + written[0])
        #expect(header.contains("speedup_vs_dense") && header.contains("int8_test_metric"))
        // 3 stages × 2 batch sizes × 7 engines (6 + auto).
        #expect(rows.count == 3 * 2 * 7)
        #expect(rows.filter { $0["engine"] == "dense" }.allSatisfy { $0["speedup_vs_dense"] == "1.0" })
        let bad = try runTopiary(["bench-model", temporaryDirectory("none")])
        #expect(bad.status != 0 && bad.stderr.contains("no report.json"))

        let last = try runTopiary(["bench-model", directory, "--batch-sizes", "1", "--repetitions", "5", "--latency-threads", "1", "--stages", "last"])
        #expect(last.status == 0 && last.stdout.contains("stage2") && !last.stdout.contains("stage1 "), "\(last.stdout)")
        let unknown = try runTopiary(["bench-model", directory, "--stages", "stage1,stage9"])
        #expect(unknown.status != 0 && unknown.stderr.contains("no accepted checkpoint 'stage9'") && unknown.stderr.contains("stage0, stage1, stage2"),
                "\(unknown.stderr)")
        // Each accepted stage maps to the checkpoint written after it.
        let bench = try ModelBench(runDirectory: directory)
        for stage in 0...2 {
            #expect(try bench.checkpointPath(afterStage: stage).map(ModelBench.label(ofCheckpoint:)) == "stage\(stage)")
        }
        #expect(try bench.checkpointPath(afterStage: 3) == nil)
    }
}
}
