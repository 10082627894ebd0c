import Foundation
import TopiaryReport
import TopiarySpec

/// `topiary slurm SPEC`: a sweep as one Slurm job array — one array task per unfinished
/// point, each task `topiary sweep SPEC --point $SLURM_ARRAY_TASK_ID` on a shared file
/// system — submitted with sbatch; `wait` polls squeue until the array is gone, then the
/// sweep's summary is written as after a local sweep.
public struct SlurmSubmission {
    public let sweep: SweepRunner
    public let resources: SlurmSpec
    /// The topiary binary the tasks run (an absolute path every node can reach).
    public let executable: String
    public let quick: Bool

    public init(sweep: SweepRunner, resources: SlurmSpec, executable: String, quick: Bool = false) {
        self.sweep = sweep
        self.resources = resources
        self.executable = executable
        self.quick = quick
    }

    /// Points without a complete report.
    public var unfinishedPoints: [Int] { sweep.points.indices.filter { !sweep.isComplete($0) } }

    /// Points to submit: unfinished and not already queued by an earlier submission that
    /// Slurm still lists (so re-running after `--wait-timeout` re-attaches instead of
    /// running a point twice).
    public func pendingPoints() throws -> [Int] {
        let queued = try queuedTasks()
        return unfinishedPoints.filter { queued[$0] == nil }
    }

    /// Job ids of this sweep's submissions, one per line, appended by `submit`.
    public var jobsPath: String { sweep.directory + "/slurm/jobs" }

    public func submittedJobs() -> [String] {
        ((try? String(contentsOfFile: jobsPath, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// Array tasks of this sweep's submitted jobs that Slurm lists as pending or running:
    /// point index → job id. Asks squeue only when something was submitted.
    public func queuedTasks() throws -> [Int: String] {
        var queued: [Int: String] = [:]
        for job in submittedJobs() {
            for point in try SlurmSubmission.queuedArrayIndices(jobID: job) { queued[point] = job }
        }
        return queued
    }

    public var scriptPath: String { sweep.directory + "/slurm/sweep.sbatch" }

    /// Slurm's output file of one task (%A job id, %a array index).
    public static let outputPattern = "%A_%a.out"

    /// The sbatch script for `points`. Paths are absolute so tasks do not depend on the
    /// directory sbatch was called from; BLAS threads follow --cpus-per-task.
    public func script(points: [Int], workingDirectory: String) -> String {
        precondition(!points.isEmpty, "an array needs at least one point")
        func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let folder = absolute(sweep.directory, from: workingDirectory)
        var lines = [
            "#!/bin/bash",
            "# Written by topiary slurm: one array task per unfinished point of \(sweep.specFile).",
            "#SBATCH --job-name=topiary-\(sweep.spec.name)",
            "#SBATCH --array=\(points.map(String.init).joined(separator: ","))",
            "#SBATCH --cpus-per-task=\(resources.cpusPerTask)",
            "#SBATCH --time=\(resources.time)",
            "#SBATCH --mem=\(resources.memory)",
            "#SBATCH --output=\(folder)/slurm/\(SlurmSubmission.outputPattern)",
        ]
        if let partition = resources.partition { lines.append("#SBATCH --partition=\(partition)") }
        lines += [
            "set -euo pipefail",
            "cd \(quoted(workingDirectory))",
            "exec \(quoted(executable)) sweep \(quoted(absolute(sweep.specFile, from: workingDirectory))) --out \(quoted(folder)) "
                + "--point \"$SLURM_ARRAY_TASK_ID\" --threads \"${SLURM_CPUS_PER_TASK:-\(resources.cpusPerTask)}\"" + (quick ? " --quick" : ""),
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes the script for the pending points and submits it; returns the job id (nil
    /// when no point is pending) and the points it runs.
    public func submit(workingDirectory: String = FileManager.default.currentDirectoryPath) throws -> (jobID: String, points: [Int])? {
        let points = try pendingPoints()
        guard !points.isEmpty else { return nil }
        try FileManager.default.createDirectory(atPath: sweep.directory + "/slurm", withIntermediateDirectories: true)
        try AtomicFile.write(script(points: points, workingDirectory: workingDirectory), to: scriptPath)
        let output = try SlurmSubmission.command("sbatch", ["--parsable", scriptPath])
        // --parsable prints "jobid" or "jobid;cluster".
        guard let jobID = output.split(separator: ";").first.map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) }),
              !jobID.isEmpty, jobID.allSatisfy(\.isNumber) else {
            throw SlurmError.unexpectedOutput(command: "sbatch", output: output)
        }
        try AtomicFile.write((submittedJobs() + [jobID]).joined(separator: "\n") + "\n", to: jobsPath)
        return (jobID, points)
    }

    /// Array indices of `jobID` that squeue lists (pending or running); empty once the job
    /// has finished, including when the controller has already forgotten it.
    static func queuedArrayIndices(jobID: String) throws -> [Int] {
        let output: String
        do {
            output = try command("squeue", ["--noheader", "--array", "--jobs", jobID, "--format", "%i"])
        } catch SlurmError.commandFailed(_, _, let message) where message.contains("Invalid job id") {
            return []
        }
        // With --array every task has its own line, "<job>_<index>".
        return output.split(separator: "\n").compactMap { line in
            line.split(separator: "_").last.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        }
    }

    /// Polls squeue every `interval` seconds until no task of `jobIDs` is pending or
    /// running; false when `timeout` seconds passed first (the tasks go on).
    public static func wait(jobIDs: [String], interval: Double, timeout: Double? = nil, progress: ((String) -> Void)? = nil) throws -> Bool {
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        var lastCount = -1
        while true {
            let count = try jobIDs.reduce(0) { $0 + (try queuedArrayIndices(jobID: $1).count) }
            if count == 0 { return true }
            if count != lastCount { progress?("job \(jobIDs.joined(separator: ", ")): \(count) task(s) pending or running") }
            lastCount = count
            if let deadline, Date() >= deadline { return false }
            usleep(useconds_t(interval * 1_000_000))
        }
    }

    /// Runs a Slurm client command and returns its standard output; a missing command or a
    /// non-zero exit is a `SlurmError` carrying its message.
    static func command(_ name: String, _ arguments: [String]) throws -> String {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let path else { throw SlurmError.clientMissing(command: name) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile(), errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SlurmError.commandFailed(command: ([name] + arguments).joined(separator: " "), status: process.terminationStatus,
                                           message: String(decoding: errors, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return String(decoding: output, as: UTF8.self)
    }

    func absolute(_ path: String, from directory: String) -> String {
        path.hasPrefix("/") ? path : (directory as NSString).appendingPathComponent(path)
    }
}

public enum SlurmError: Error, LocalizedError, Equatable {
    case clientMissing(command: String)
    case commandFailed(command: String, status: Int32, message: String)
    case unexpectedOutput(command: String, output: String)
    public var errorDescription: String? {
        switch self {
        case .clientMissing(let command):
            return "\(command) is not on PATH: topiary slurm needs the Slurm client commands (Debian: slurm-client) and a reachable cluster (SLURM_CONF). Without a cluster, run the sweep locally with topiary sweep."
        case .commandFailed(let command, let status, let message):
            return "\(command) failed with status \(status): \(message.isEmpty ? "(no message)" : message)"
        case .unexpectedOutput(let command, let output):
            return "\(command) printed '\(output.trimmingCharacters(in: .whitespacesAndNewlines))', not a job id."
        }
    }
}
