import Foundation
import Testing
@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySpec
@testable import TopiaryStudy
@testable import TopiaryTraining

extension AllTests {
@Suite struct SlurmTests {
    func sweepSpec(_ extra: String = "") -> String {
        let yaml = sliceSpecYAML
            + "\nsweep:\n  grid: { seed: [1, 2] }\nslurm: { cpus_per_task: 1, time: \"00:10:00\", memory: 500M }\n" + extra
        return writeSpecFile(yaml, name: "slurm-sweep.yaml")
    }

    /// The script: one array task per unfinished point, resources from the spec, absolute
    /// paths, and the point's BLAS threads from --cpus-per-task.
    @Test func scriptHasOneTaskPerPendingPointAndTheSpecsResources() throws {
        let spec = sweepSpec()
        let out = temporaryDirectory("slurm-script") + "/sweep"
        let result = try runTopiary(["slurm", spec, "--out", out, "--dry-run", "--partition", "short"])
        #expect(result.status == 0, "\(result.stderr)")
        let script = try String(contentsOfFile: out + "/slurm/sweep.sbatch", encoding: .utf8)
        for line in ["#SBATCH --array=0,1", "#SBATCH --cpus-per-task=1", "#SBATCH --time=00:10:00", "#SBATCH --mem=500M",
                     "#SBATCH --partition=short", "#SBATCH --output=\(out)/slurm/%A_%a.out"] {
            #expect(script.contains(line + "\n"), "missing \(line)")
        }
        #expect(script.contains("sweep '\(spec)' --out '\(out)' --point \"$SLURM_ARRAY_TASK_ID\" --threads \"${SLURM_CPUS_PER_TASK:-1}\""))
        let bad = try runTopiary(["slurm", spec, "--out", out + "2", "--time", "1h", "--dry-run"])
        #expect(bad.status != 0 && bad.stderr.contains("--time") && !FileManager.default.fileExists(atPath: out + "2/slurm/sweep.sbatch"))
        let noClient = try runTopiary(["slurm", spec, "--out", out + "3"], environment: ["PATH": "/nonexistent"])
        #expect(noClient.status != 0 && noClient.stderr.contains("sbatch is not on PATH"))
    }

    /// Against a real single-node Slurm: submit, wait, merge; the re-run submits nothing.
    @Test func sweepRunsOnARealSlurmCluster() throws {
        let (started, whyNot) = SlurmCluster.start()
        guard let cluster = started else {
            try Test.cancel("Slurm test skipped: \(whyNot ?? "unknown reason")")
        }
        defer { cluster.stop() }
        let spec = sweepSpec("compare: { baseline: { seed: 1 }, candidate: { seed: 2 }, replicate_key: none }\n")
        let out = temporaryDirectory("slurm-run") + "/sweep"
        let result = try runTopiary(["slurm", spec, "--out", out, "--wait", "--poll-seconds", "0.5"], environment: cluster.environment)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("submitted job") && result.stdout.contains("2 points, 0 not complete"), "\(result.stdout)")
        let rows = try readCSV(out + "/sweep.csv").rows
        #expect(rows.count == 2 * 3 && rows.allSatisfy { $0["status"] == "complete" } && Set(rows.map { $0["seed"]! }) == ["1", "2"])
        let logs = try FileManager.default.contentsOfDirectory(atPath: out + "/slurm").filter { $0.hasSuffix(".out") }
        #expect(logs.count == 2, "one Slurm log per array task: \(logs)")
        #expect(FileManager.default.fileExists(atPath: out + "/index.html") && FileManager.default.fileExists(atPath: out + "/compare.md"))
        // Each point ran with the task's CPUs as BLAS threads.
        let report = try RunReport.read(from: out + "/points/000-seed=1")
        #expect(report.spec.threads == 1 && report.status == .complete)
        let again = try runTopiary(["slurm", spec, "--out", out, "--wait", "--poll-seconds", "0.5"], environment: cluster.environment)
        #expect(again.status == 0 && again.stdout.contains("nothing to submit"), "\(again.stdout)")

        // Stop waiting at once (exit 1, the tasks go on); the same command re-attaches to the
        // queued tasks instead of submitting them again.
        let detachedOut = temporaryDirectory("slurm-detach") + "/sweep"
        let detached = try runTopiary(["slurm", spec, "--out", detachedOut, "--wait", "--wait-timeout", "0", "--poll-seconds", "0.5"],
                                      environment: cluster.environment)
        #expect(detached.status == 1 && detached.stdout.contains("still running after 0"), "\(detached.stdout)\n\(detached.stderr)")
        let attached = try runTopiary(["slurm", spec, "--out", detachedOut, "--wait", "--poll-seconds", "0.5"], environment: cluster.environment)
        #expect(attached.status == 0 && !attached.stdout.contains("submitted job") && attached.stdout.contains("2 points, 0 not complete"),
                "\(attached.stdout)\n\(attached.stderr)")
        let jobs = try String(contentsOfFile: detachedOut + "/slurm/jobs", encoding: .utf8).split(separator: "\n")
        #expect(jobs.count == 1, "one submission: \(jobs)")

        // A point that fails on the node (its data folder is missing): exit 1, the point and
        // its Slurm log named; the good point completes.
        let failing = writeSpecFile(sliceSpecYAML + "\nsweep:\n  grid: { data.path: [\(FashionMNISTSlice.directory), /nonexistent/fmnist] }\n"
                                    + "slurm: { cpus_per_task: 1, time: \"00:10:00\", memory: 500M }\n")
        let failedOut = temporaryDirectory("slurm-fail") + "/sweep"
        let failed = try runTopiary(["slurm", failing, "--out", failedOut, "--wait", "--poll-seconds", "0.5"], environment: cluster.environment)
        #expect(failed.status == 1 && failed.stdout.contains("1 not complete") && failed.stdout.contains("not complete: 1 ("), "\(failed.stdout)")
        let log = try #require(failed.stdout.firstMatch(of: /log (\S+\.out)\)/)?.1, "\(failed.stdout)")
        #expect(try String(contentsOfFile: String(log), encoding: .utf8).contains("dataset-fashion-mnist"), "the task's log says why")
        #expect(try RunReport.read(from: failedOut + "/points/000-path=\(FashionMNISTSlice.directory.replacingOccurrences(of: "/", with: "-"))").status == .complete)
    }
}
}
