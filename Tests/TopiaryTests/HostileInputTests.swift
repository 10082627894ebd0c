import Foundation
import Testing
@testable import TopiaryData
@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySpec
@testable import TopiaryStudy
@testable import TopiaryTraining

/// What a hostile (or unlucky) user can do to a run, class by class: each must end in a clear
/// error, a non-zero exit and nothing half-written, never in a crash or a wrong result.
extension AllTests {
@Suite struct HostileDataTests {
    /// A copy of the Fashion-MNIST slice folder with the files in `replacements` swapped for
    /// the given IDX contents.
    func dataFolder(replacing replacements: [String: [UInt8]]) throws -> String {
        let directory = temporaryDirectory("hostile-data")
        for name in [FashionMNIST.files.trainImages, FashionMNIST.files.trainLabels, FashionMNIST.files.testImages,
                     FashionMNIST.files.testLabels] {
            if let bytes = replacements[name] {
                writeGzip(bytes, to: directory + "/" + name)
            } else {
                try FileManager.default.copyItem(atPath: FashionMNISTSlice.directory + "/" + name, toPath: directory + "/" + name)
            }
        }
        return directory
    }

    func expectRefused(_ replacements: [String: [UInt8]], mentions: [String]) throws {
        let folder = try dataFolder(replacing: replacements)
        let yaml = validSpecYAML.replacingOccurrences(of: "  validation_size: 400", with: "  validation_size: 400\n  path: \(folder)")
        let out = temporaryDirectory("hostile") + "/run"
        let result = try runTopiary(["run", writeSpecFile(yaml), "--out", out, "--quiet"])
        #expect(result.status == 1, "\(result.stderr)")
        for word in mentions { #expect(result.stderr.contains(word), "stderr: \(result.stderr)") }
        #expect(!FileManager.default.fileExists(atPath: out), "nothing may be written")
    }

    /// A consistent header with images of another size than the training split's: the model
    /// would read past each row. Refused before any work, naming the file and both shapes.
    @Test func testImagesOfAnotherSizeAreRefused() throws {
        let images = idxBytes(dimensions: [600, 20, 20], payload: [UInt8](repeating: 9, count: 600 * 400))
        try expectRefused([FashionMNIST.files.testImages: images],
                          mentions: [FashionMNIST.files.testImages, "[20, 20]", "[28, 28]"])
    }

    @Test func emptySplitsAndZeroDimensionsAreRefused() throws {
        try expectRefused([FashionMNIST.files.testImages: idxBytes(dimensions: [0, 28, 28], payload: []),
                           FashionMNIST.files.testLabels: idxBytes(dimensions: [0], payload: [])],
                          mentions: [FashionMNIST.files.testImages, "holds no items"])
        try expectRefused([FashionMNIST.files.trainImages: idxBytes(dimensions: [2400, 0, 28], payload: [])],
                          mentions: [FashionMNIST.files.trainImages, "zero-sized"])
    }

    /// A header declaring more than the reader will ever allocate is refused from the header
    /// alone (no allocation, no read of the rest).
    @Test func absurdDeclaredSizesAreRefusedFromTheHeader() {
        let path = temporaryDirectory("idx") + "/huge.gz"
        writeGzip(idxBytes(dimensions: [0x7FFF_FFFF, 0x7FFF_FFFF, 28], payload: [1, 2, 3]), to: path)
        #expect(describe { try IDXFile(contentsOf: path) }.contains("more than the"))
    }
}
}

extension AllTests {
@Suite struct OutputLocationTests {
    /// `--out ""` once wrote a run into `/`. Unsafe places are refused with a message naming
    /// the option, and nothing is written anywhere.
    @Test func unsafeOutputPathsAreRefused() throws {
        let spec = writeSpecFile(sliceSpecYAML)
        let occupied = temporaryDirectory("occupied")
        writeTestFile(occupied + "/notes.txt", Data("mine".utf8))
        let file = occupied + "/notes.txt"
        for (out, says) in [("", "is empty"), ("   ", "is empty"), ("/", "is the file-system root"), ("/tmp/../", "is the file-system root"),
                            ("~/runs", "starts with '~'"), (occupied, "already holds 1 file"), (file, "is an existing file")] {
            let result = try runTopiary(["run", spec, "--out", out, "--quiet"])
            #expect(result.status == 1 && result.stderr.contains("--out '\(out)' \(says)"), "\(out): \(result.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: occupied) == ["notes.txt"])
        #expect(!FileManager.default.fileExists(atPath: "/report.json") && !FileManager.default.fileExists(atPath: "/stages.csv"))
        for command in [["sweep", spec], ["compare", occupied, occupied], ["sensitivity", spec]] {
            let result = try runTopiary(command + ["--out", ""])
            #expect(result.status != 0 && result.stderr.contains("--out '' is empty"), "\(command): \(result.stderr)")
        }
    }
}

@Suite struct FolderLockTests {
    /// The lock is per process and names its holder; it goes away with its owner.
    @Test func secondHolderIsRefusedWithTheHoldersName() throws {
        let directory = temporaryDirectory("lock")
        var first: FolderLock? = try FolderLock(directory: directory)
        #expect(FolderLock.holder(of: directory)?.contains("process \(getpid())") == true)
        #expect(throws: FolderLockError.self) { try FolderLock(directory: directory) }
        #expect(describe { try FolderLock(directory: directory) }.contains("is in use by process \(getpid())"))
        withExtendedLifetime(first) {}
        first = nil
        #expect(FolderLock.holder(of: directory) == nil)
        _ = try FolderLock(directory: directory)
    }

    /// Two processes on one run folder: while a run is writing it, a second run into the same
    /// folder and a resume of it are both refused, naming the first process; the first run
    /// finishes undisturbed. A SIGKILLed holder leaves no stale lock behind.
    @Test func aRunningRunOwnsItsFolder() throws {
        let spec = writeSpecFile(killableYAML, name: "killable.yaml")
        let directory = temporaryDirectory("owned") + "/run"
        let first = try launchTopiary(["run", spec, "--out", directory, "--quiet"])
        #expect(waitForFile(directory + "/checkpoints/0000-stage0.bin", first))
        let second = try runTopiary(["run", spec, "--out", directory, "--quiet"])
        #expect(second.status == 1 && second.stderr.contains("is in use by process \(first.pid)"), "\(second.stderr)")
        let resume = try runTopiary(["run", spec, "--resume", directory, "--quiet"])
        #expect(resume.status == 1 && resume.stderr.contains("is in use by process \(first.pid)"), "\(resume.stderr)")
        first.signal(SIGKILL)
        _ = try first.wait(timeout: 60)
        #expect(FolderLock.holder(of: directory) == nil)
        let resumed = try runTopiary(["run", spec, "--resume", directory, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try RunReport.read(from: directory).status == .complete)
    }
}
}

extension AllTests {
@Suite struct NonFiniteTests {
    /// SGD at lr 1e30 blows up within a few steps: the run fails at that step with the phase,
    /// epoch, step, learning rate and the spec key to change, and its report says failed.
    /// A resume repeats the same diagnosis instead of crashing.
    @Test func divergenceFailsWithADiagnosisAndAFailedReport() throws {
        let yaml = sliceSpecYAML.replacingOccurrences(of: "optimizer: { name: adam, learning_rate: 1e-3 }",
                                                      with: "optimizer: { name: sgd, learning_rate: 1e30 }")
        let spec = writeSpecFile(yaml)
        let out = temporaryDirectory("diverge") + "/run"
        for arguments in [["--out", out], ["--resume", out]] {
            let result = try runTopiary(["run", spec, "--quiet"] + arguments)
            #expect(result.status == 1, "\(result.stderr)")
            #expect(result.stderr.contains("training diverged in dense, epoch 1, optimizer step")
                    && result.stderr.contains("Lower training.optimizer.learning_rate") && !result.stderr.contains("-nan"), "\(result.stderr)")
            let report = try RunReport.read(from: out)
            #expect(report.status == .failed && report.error?.contains("diverged") == true && report.stages.isEmpty)
        }
    }

    /// Adam at lr 1e3 keeps a finite loss of ~1e10 at chance accuracy: the run completes (its
    /// numbers are real) but warns, on stderr and in report.json.
    @Test func aLossFarAboveChanceWarns() throws {
        let yaml = sliceSpecYAML.replacingOccurrences(of: "learning_rate: 1e-3", with: "learning_rate: 1e3")
        let out = temporaryDirectory("warn") + "/run"
        let result = try runTopiary(["run", writeSpecFile(yaml), "--out", out, "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("topiary: warning: dense epoch 1: mean training loss"), "\(result.stderr)")
        let report = try RunReport.read(from: out)
        #expect(!report.warnings.isEmpty && report.warnings.allSatisfy { $0.contains("far above ln(10)") })
    }

    /// A model whose logits overflow is never measured as a result.
    @Test func nonFiniteEvaluationIsAnError() throws {
        var options = RunOptions()
        options.runDirectory = temporaryDirectory("overflow") + "/run"
        let runner = try ExperimentRunner(spec: try sliceSpec(), options: options)
        let fc3 = runner.model.store.parameter(named: "fc3.weight")!
        fc3.value.fill(3e38)
        let message = describe { try runner.measure(stage: 0, target: 0, training: .init(), scoreSeconds: 0, selectSeconds: 0) }
        #expect(message.contains("stage 0: the loss on the test set is") && message.contains("overflow"), "\(message)")
    }

    /// A NaN that reaches a row (an old report, say) is written and read back as "nan" in
    /// CSV and JSON, never as an encoding failure or "-nan".
    @Test func nonFiniteValuesEncodeEverywhere() throws {
        let (_, report) = try runSlice(try sliceSpec())
        var rows = report.stages
        rows[0].testLoss = -Double.nan
        rows[0].valLoss = .infinity
        let progress = RunProgress(spec: report.spec, rows: rows, shuffleState: [1, 2, 3, 4], scorerState: [5, 6, 7, 8])
        let path = temporaryDirectory("nan") + "/c.bin"
        try Checkpoint(sequence: 0, label: "x", progress: progress, tensors: []).write(to: path)
        let back = try Checkpoint.read(from: path).header.progress.rows[0]
        #expect(back.testLoss.isNaN && back.valLoss == .infinity)
        let csv = ReportColumns.csv(ReportColumns.stages(latencyBatchSizes: [1]), rows)
        #expect(csv.contains(",nan,") && !csv.contains("-nan"))
    }
}
}

extension AllTests {
@Suite struct GateTests {
    /// `--max-accuracy-drop nan` once passed a 57-point drop. Every threshold must be finite
    /// and in range, from a flag or from a spec; usage errors exit 2; negative values parse
    /// (and are refused by their range, not mistaken for a flag).
    @Test func thresholdsMustBeFiniteAndInRange() throws {
        let (baseline, report) = try runSlice(try sliceSpec())
        var worse = report
        worse.stages[2].testAccuracy -= 0.57
        let candidate = temporaryDirectory("gate") + "/run"
        try FileManager.default.createDirectory(atPath: candidate, withIntermediateDirectories: true)
        try worse.write(to: candidate)
        for (flag, value, says) in [("--max-accuracy-drop", "nan", "in [0, 100]"), ("--max-accuracy-drop", "-1", "got -1.0"),
                                    ("--max-accuracy-drop", "inf", "in [0, 100]"), ("--max-latency-increase", "nan", "finite fraction"),
                                    ("--max-latency-increase", "-0.5", "got -0.5")] {
            let result = try runTopiary(["compare", baseline, candidate, flag, value])
            #expect(result.status == 2 && result.stderr.contains("\(flag) must be") && result.stderr.contains(says), "\(flag) \(value): \(result.stderr)")
        }
        #expect(try runTopiary(["compare", baseline, candidate, "--max-accuracy-drop", "0.5"]).status == 1)
        #expect(try runTopiary(["compare", baseline, candidate, "--no-such-flag"]).status == 2)
        #expect(try runTopiary(["run", "x.yaml", "--latency-threads", "-3"]).status == 2)
        for bad in [".nan", "-2", ".inf"] {
            let yaml = validSpecYAML + "\ncompare:\n  max_accuracy_drop: \(bad)\n"
            #expect(describe { try ExperimentSpec.decode(yaml: yaml) }.contains("compare.max_accuracy_drop: must be"), "\(bad)")
        }
    }

    /// An interrupted run is never "within the thresholds": the gate refuses to judge (exit 2)
    /// unless told to judge what is complete, and then says so.
    @Test func incompleteRunsAreNotJudged() throws {
        let (baseline, report) = try runSlice(try sliceSpec())
        var partial = report
        partial.status = .interrupted
        partial.stages.removeLast()
        let candidate = temporaryDirectory("gate") + "/run"
        try FileManager.default.createDirectory(atPath: candidate, withIntermediateDirectories: true)
        try partial.write(to: candidate)
        let refused = try runTopiary(["compare", baseline, candidate, "--max-accuracy-drop", "0.5"])
        #expect(refused.status == 2 && refused.stdout.contains("Not judged: not every run is complete: B \(candidate) is interrupted after 2 stage row(s)"),
                "\(refused.stdout)")
        let allowed = try runTopiary(["compare", baseline, candidate, "--max-accuracy-drop", "0.5", "--allow-incomplete"])
        #expect(allowed.status == 0 && allowed.stdout.contains("within the thresholds on what is complete only"), "\(allowed.stdout)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: candidate + "/compare.json"))) as! [String: Any]
        #expect(json["verdict"] as? String == "within" && (json["incomplete"] as? [String])?.count == 1)
    }
}
}

extension AllTests {
@Suite struct BoundedParsingTests {
    /// Nine levels of nine aliases (9⁹ nodes) inside sweep: refused at once, whatever
    /// command reads the spec.
    @Test func aliasBombsAreRefused() throws {
        var lines = ["sweep:", "  points:", "    - { name: a, extra: &a0 [l, l, l, l, l, l, l, l, l] }"]
        for level in 1...8 {
            lines.append("    - { name: b\(level), extra: &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ", ") + "] }")
        }
        let spec = writeSpecFile(sliceSpecYAML + "\n" + lines.joined(separator: "\n") + "\n")
        let started = Date()
        let result = try runTopiary(["plan", spec], timeout: 60)
        #expect(result.status != 0 && result.stderr.contains("expands to more than 100000 YAML nodes"), "\(result.stderr)")
        #expect(Date().timeIntervalSince(started) < 20)
    }

    /// A huge file is refused by size; a long value is quoted as an excerpt, never whole.
    @Test func hugeSpecsAndValuesAreBounded() throws {
        let big = writeSpecFile(sliceSpecYAML + "\n# " + String(repeating: "x", count: 2 << 20) + "\n")
        let refused = try runTopiary(["plan", big])
        #expect(refused.status != 0 && refused.stderr.contains("a spec may be at most 1048576 bytes"), "\(refused.stderr.prefix(500))")
        let longName = writeSpecFile(sliceSpecYAML.replacingOccurrences(of: "name: tiny", with: "name: '" + String(repeating: "é/", count: 200_000) + "'"))
        let quoted = try runTopiary(["plan", longName])
        #expect(quoted.status != 0 && quoted.stderr.contains("characters left out") && quoted.stderr.count < 2000, "\(quoted.stderr.count)")
    }

    /// Sizes no machine here can allocate are refused up front with the key to change.
    @Test func unallocatableSizesAreRefusedUpFront() throws {
        for (edit, key) in [({ (y: String) in y.replacingOccurrences(of: "hidden_sizes: [32, 16]", with: "hidden_sizes: [100000000, 16]") }, "model.hidden_sizes"),
                            ({ (y: String) in y.replacingOccurrences(of: "latency_batch_sizes: [1, 100]", with: "latency_batch_sizes: [1, 1000000000000]") }, "measurement.latency_batch_sizes")] {
            let out = temporaryDirectory("alloc") + "/run"
            let result = try runTopiary(["run", writeSpecFile(edit(sliceSpecYAML)), "--out", out])
            #expect(result.status == 1 && result.stderr.contains("\(key): the run would need about"), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
    }
}
}

extension AllTests {
@Suite struct FullDiskTests {
    /// A run onto a file system that fills up mid-run: it fails with the reason, report.json
    /// says `failed` (the reserved space is what lets it say so), no temporary file is left,
    /// and once there is space again the run resumes to completion.
    @Test func aFullDiskEndsInAFailedReportAndResumes() throws {
        guard getuid() == 0 else { try Test.cancel("full-disk test skipped: mounting a small tmpfs needs root") }
        let mountPoint = temporaryDirectory("tmpfs")
        guard try ChildProcess.run("/bin/mount", ["-t", "tmpfs", "-o", "size=2600k", "tmpfs", mountPoint], timeout: 30).status == 0 else {
            try Test.cancel("full-disk test skipped: mount -t tmpfs failed (no permission in this container?)")
        }
        defer { _ = try? ChildProcess.run("/bin/umount", ["-l", mountPoint], timeout: 30) }
        let spec = writeSpecFile(sliceSpecYAML)
        let out = mountPoint + "/run"
        let full = try runTopiary(["run", spec, "--out", out, "--quiet"])
        #expect(full.status == 1 && full.stderr.contains("No space left on device"), "\(full.stderr)")
        let report = try RunReport.read(from: out)
        #expect(report.status == .failed && report.error?.contains("No space left on device") == true)
        let leftovers = try FileManager.default.subpathsOfDirectory(atPath: out).filter { $0.hasSuffix(".tmp") }
        #expect(leftovers.isEmpty, "\(leftovers)")

        #expect(try ChildProcess.run("/bin/mount", ["-o", "remount,size=20m", mountPoint], timeout: 30).status == 0)
        let resumed = try runTopiary(["run", spec, "--resume", out, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try RunReport.read(from: out).status == .complete)
        #expect(!FileManager.default.fileExists(atPath: out + "/" + SpaceReserve.fileName))
    }

    /// A process killed between its write and its rename leaves `.name.pid.tmp` behind; the
    /// resume (holding the folder's lock) removes those of dead processes.
    @Test func staleTemporariesOfDeadProcessesAreRemovedOnResume() throws {
        let spec = writeSpecFile(killableYAML, name: "killable.yaml")
        let directory = temporaryDirectory("stale") + "/run"
        let process = try launchTopiary(["run", spec, "--out", directory, "--quiet"])
        #expect(waitForFile(directory + "/checkpoints/0001-stage1.bin", process))
        process.signal(SIGKILL)
        _ = try process.wait(timeout: 60)
        let dead = process.pid   // reaped: no process has this pid now
        let stale = [directory + "/.report.json.\(dead).tmp", directory + "/checkpoints/.0002-stage2.bin.\(dead).tmp"]
        for path in stale { writeTestFile(path, Data("partial".utf8)) }
        let live = directory + "/.stages.csv.1.tmp"   // pid 1 is alive: not ours to remove
        writeTestFile(live, Data("other".utf8))
        let resumed = try runTopiary(["run", spec, "--resume", directory, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(stale.allSatisfy { !FileManager.default.fileExists(atPath: $0) })
        #expect(FileManager.default.fileExists(atPath: live))
    }
}
}

extension AllTests {
@Suite struct ResumeTruthTests {
    /// A run started with --quick, --seed, --scorer and --latency-threads and stopped by
    /// SIGHUP: following the printed "continue with" command as it is finishes the run with
    /// the same flags (one latency thread count in every row); a resume with another thread
    /// count is refused, naming both.
    @Test func followingTheHintContinuesWithTheRunsFlags() throws {
        let spec = writeSpecFile(killableYAML, name: "killable.yaml")
        let directory = temporaryDirectory("hint") + "/run"
        let flags = ["--quick", "--seed", "7", "--scorer", "taylor", "--latency-threads", "1"]
        let process = try launchTopiary(["run", spec, "--out", directory, "--quiet"] + flags)
        #expect(waitForFile(directory + "/checkpoints/0000-stage0.bin", process))
        process.signal(SIGHUP)
        let stopped = try process.wait(timeout: 120)
        #expect(stopped.status == 130, "\(stopped.stderr)")
        guard let hint = stopped.stderr.range(of: "Continue with: ").map({ String(stopped.stderr[$0.upperBound...]).trimmingCharacters(in: .whitespacesAndNewlines) }) else {
            Issue.record("no continue hint in: \(stopped.stderr)")
            return
        }
        let words = hint.split(separator: " ").map(String.init)
        #expect(words.prefix(2) == ["topiary", "run"], "\(hint)")

        let conflicting = try runTopiary(Array(words.dropFirst()) + ["--latency-threads", "2"])
        #expect(conflicting.status == 1 && conflicting.stderr.contains("was started with --latency-threads 1, but this resume has --latency-threads 2"),
                "\(conflicting.stderr)")
        let resumed = try runTopiary(Array(words.dropFirst()) + ["--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let report = try RunReport.read(from: directory)
        #expect(report.status == .complete && report.quick && report.spec.seed == 7 && report.spec.pruning.scorer == "taylor")
        #expect(report.invocation == RunInvocation(quick: true, seed: 7, scorer: "taylor", latencyThreads: 1))
        #expect(report.stages.allSatisfy { $0.latencyThreads == 1 } && report.stages.count == 5)
    }

    /// --quick shrinks the data and phases; it must not hide what a full run would refuse.
    @Test func quickRunsReportTheFullSpecsErrors() throws {
        let tooManyValidationRows = sliceSpecYAML.replacingOccurrences(of: "validation_size: 400", with: "validation_size: 2400")
        let agpPastItsPhase = sliceSpecYAML.replacingOccurrences(
            of: "  stages:\n    - { sparsity: 0.5, epochs: 1 }\n    - { sparsity: 0.8, epochs: 1 }",
            with: "  schedule: { kind: agp, epochs: 1, final_sparsity: 0.8, frequency: 100, pruning_steps: 10 }")
        for (yaml, key) in [(tooManyValidationRows, "data.validation_size"), (agpPastItsPhase, "pruning.schedule")] {
            #expect(yaml != sliceSpecYAML)
            let out = temporaryDirectory("quick") + "/run"
            let result = try runTopiary(["run", writeSpecFile(yaml), "--quick", "--out", out])
            #expect(result.status == 1 && result.stderr.contains(key), "\(key): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
    }
}
}

extension AllTests {
@Suite struct LatencyCalibrationTests {
    /// A run compared with itself, re-measured: A's checkpoints are timed again beside B's,
    /// and a latency threshold finer than the difference between two timings of one model is
    /// not judged (exit 2, saying why) rather than reported as a regression; a threshold the
    /// machine can resolve passes.
    @Test func aLatencyGateCalibratesOnIdenticalModels() throws {
        let (run, _) = try runSlice(try sliceSpec())
        let timing = ["--remeasure", "--batch-sizes", "1", "--repetitions", "20", "--rounds", "3", "--latency-threads", "1"]
        let out = temporaryDirectory("calibrate")
        let tooFine = try runTopiary(["compare", run, run, "--max-latency-increase", "0.000001", "--out", out] + timing)
        #expect(tooFine.status == 2 && tooFine.stdout.contains("Not judged: latency not judged for latency_b1_") && tooFine.stdout.contains("timed again against themselves"),
                "\(tooFine.stdout)\n\(tooFine.stderr)")
        #expect(!tooFine.stdout.contains("**REGRESSION**"))
        let rows = try readCSV(out + "/compare.csv").rows.filter { $0["metric"]!.hasPrefix("latency_") }
        #expect(!rows.isEmpty && rows.allSatisfy { Double($0["calibration_noise"] ?? "") != nil }, "\(rows)")
        let coarse = try runTopiary(["compare", run, run, "--max-latency-increase", "10", "--out", out] + timing)
        #expect(coarse.status == 0 && coarse.stdout.contains("calibration (A's models timed again"), "\(coarse.stdout)")
    }
}
}
