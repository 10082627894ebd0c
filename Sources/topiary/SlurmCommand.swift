import ArgumentParser
import Foundation
import TopiaryReport
import TopiaryRun
import TopiarySpec
import TopiaryStudy

struct SlurmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slurm",
        abstract: "Run a sweep on Slurm: one array task per unfinished point; --wait then writes the summary.",
        discussion: """
        Writes <sweep folder>/slurm/sweep.sbatch and submits it with sbatch. Each task runs \
        `topiary sweep SPEC --point $SLURM_ARRAY_TASK_ID` with BLAS threads = --cpus-per-task, so the \
        sweep folder and this binary must be on a file system every node sees. Resources come from the \
        spec's slurm: block, overridden by flags. Re-running submits only points that are neither \
        complete nor still queued by an earlier submission (job ids in <sweep folder>/slurm/jobs), and \
        with --wait waits for those queued tasks too: after --wait-timeout, run the same command again.
        """)

    @Argument(help: "A spec with a sweep: section.")
    var spec: String

    @Option(help: "The sweep folder (default notebooks-out/<experiment>-sweep).")
    var out: String?

    @Option(parsing: .unconditional, help: "CPUs per array task (also the point's BLAS threads).")
    var cpusPerTask: Int?

    @Option(help: "Time limit per task, as Slurm takes it (e.g. 00:30:00).")
    var time: String?

    @Option(help: "Memory per task (e.g. 2G).")
    var mem: String?

    @Option(help: "Slurm partition.")
    var partition: String?

    @Flag(help: "Write the sbatch script and print it, but do not submit.")
    var dryRun = false

    @Flag(help: "Wait for every task to finish, then write sweep.csv, sweep.json, charts and the compare: block's comparison.")
    var wait = false

    @Option(parsing: .unconditional, help: "Seconds between squeue polls while waiting.")
    var pollSeconds = 10.0

    @Option(parsing: .unconditional, help: "Stop waiting after this many seconds (exit 1; the tasks go on, and the same command re-attaches).")
    var waitTimeout: Double?

    @Flag(help: "Small data slices, one epoch per phase, for every point.")
    var quick = false

    func run() throws {
        guard pollSeconds > 0, pollSeconds.isFinite else { throw ValidationError("--poll-seconds must be a finite number > 0, got \(pollSeconds).") }
        if let waitTimeout, !(waitTimeout >= 0) { throw ValidationError("--wait-timeout must be ≥ 0 seconds, got \(waitTimeout).") }
        let submission: SlurmSubmission
        do {
            let sweep = try SweepRunner(specFile: spec, directory: out)
            var resources = sweep.spec.slurm ?? SlurmSpec()
            resources.cpusPerTask = cpusPerTask ?? resources.cpusPerTask
            resources.time = time ?? resources.time
            resources.memory = mem ?? resources.memory
            resources.partition = partition ?? resources.partition
            if let problem = resources.problem { throw ValidationError("--\(problem.flag): \(problem.message)") }
            submission = SlurmSubmission(sweep: sweep, resources: resources, executable: topiaryExecutable, quick: quick)
        } catch {
            throw fail(error)
        }
        let directory = submission.sweep.directory
        // Held while submitting and waiting: a second `topiary slurm` on this sweep would
        // submit the same points again.
        let lock: FolderLock
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            lock = try FolderLock(directory: directory)
        } catch { throw fail(error) }
        defer { withExtendedLifetime(lock) {} }
        let queued: [Int: String]
        do { queued = try submission.queuedTasks() } catch { throw fail(error) }
        if dryRun {
            let points = submission.unfinishedPoints.filter { queued[$0] == nil }
            guard !points.isEmpty else { print("every point of \(directory) is complete or queued; nothing to submit."); return }
            do {
                try FileManager.default.createDirectory(atPath: directory + "/slurm", withIntermediateDirectories: true)
                try AtomicFile.write(submission.script(points: points, workingDirectory: FileManager.default.currentDirectoryPath),
                                     to: submission.scriptPath)
            } catch { throw fail(error) }
            print(try String(contentsOfFile: submission.scriptPath, encoding: .utf8), terminator: "")
            print("written (not submitted): \(submission.scriptPath)")
            return
        }
        if !queued.isEmpty {
            print("\(queued.count) point(s) still queued by earlier submissions (job \(Set(queued.values).sorted().joined(separator: ", "))): not submitted again")
        }
        let submitted: (jobID: String, points: [Int])?
        do { submitted = try submission.submit() } catch { throw fail(error) }
        if let submitted {
            print("submitted job \(submitted.jobID): \(submitted.points.count) array task(s), script \(submission.scriptPath), task logs \(directory)/slurm/")
        } else {
            print("every point of \(directory) is complete or queued; nothing to submit.")
        }
        guard wait else { return }
        let jobs = Set(queued.values).union(submitted.map { [$0.jobID] } ?? []).sorted()
        let summary: SweepSummary
        do {
            if !jobs.isEmpty {
                let finished = try SlurmSubmission.wait(jobIDs: jobs, interval: pollSeconds, timeout: waitTimeout, progress: progressPrinter(quiet: false))
                if !finished {
                    print("job \(jobs.joined(separator: ", ")) still running after \(waitTimeout ?? 0) s; its tasks go on. "
                          + "Run the same command again to wait for them (it submits nothing for queued points).")
                    throw ExitCode(1)
                }
            }
            summary = try submission.sweep.writeSummary(progress: progressPrinter(quiet: false))
        } catch let exit as ExitCode { throw exit } catch { throw fail(error) }
        let incomplete = submission.unfinishedPoints
        print("sweep \(directory): \(submission.sweep.points.count) points, \(incomplete.count) not complete")
        print("summary: \(directory)/sweep.csv, sweep.json, index.html")
        printComparison(summary, folder: directory)
        if !incomplete.isEmpty {
            // A point's log is named by the job that ran it last.
            let logJob = { (point: Int) in submission.submittedJobs().last { job in
                FileManager.default.fileExists(atPath: "\(directory)/slurm/\(job)_\(point).out") } ?? "<job>" }
            print("not complete: " + incomplete.map { "\($0) (\(submission.sweep.points[$0].label), log \(directory)/slurm/\(logJob($0))_\($0).out)" }.joined(separator: ", "))
            throw ExitCode(1)
        }
    }
}
