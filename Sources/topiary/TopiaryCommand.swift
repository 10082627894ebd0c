import ArgumentParser
import Foundation
import TopiaryRun

struct TopiaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topiary",
        abstract: "Adaptive sparse fine-tuning: score, prune in stages, retrain under masks, report.",
        subcommands: [RunCommand.self, PlanCommand.self, GenerateCommand.self, ExportCommand.self, SweepCommand.self, MergeCommand.self, SlurmCommand.self, SensitivityCommand.self, CompareCommand.self, BenchCommand.self, BenchModelCommand.self, EnvCommand.self, ColumnsCommand.self, SgemmProbeCommand.self])
}

/// Prints a user-facing error and exits non-zero; the message already says what and where.
func fail(_ error: any Error) -> ExitCode {
    let message = (error as? LocalizedError)?.errorDescription ?? "\(error)"
    FileHandle.standardError.write(Data("topiary: error: \(message)\n".utf8))
    return ExitCode(1)
}

/// This binary's own path (symlinks resolved): what sweep points and Slurm tasks run.
var topiaryExecutable: String { URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path }

/// Progress lines go to stderr, and only to a terminal unless asked to stay quiet.
func progressPrinter(quiet: Bool) -> (@Sendable (String) -> Void)? {
    guard !quiet, isatty(STDERR_FILENO) != 0 else { return nil }
    return { line in FileHandle.standardError.write(Data("[topiary] \(line)\n".utf8)) }
}

/// How `bench-model` and `compare --remeasure` time a model.
struct LatencyFlags: ParsableArguments {
    @Option(help: "Batch sizes to time, comma-separated (bench-model: default 1,1000; compare: default those in A's report).")
    var batchSizes: String?

    @Option(parsing: .unconditional, help: "Timed calls at batch 1, larger batches a tenth, at least 5 (bench-model: default 300; compare: default the runs' own).")
    var repetitions: Int?

    @Option(parsing: .unconditional, help: "Threads for BLAS and sparse kernels (1 is the edge-device view). bench-model: default all cores; compare: default the runs' own.")
    var latencyThreads: Int?

    func validate() throws {
        if let repetitions, repetitions < 1 { throw ValidationError("--repetitions must be >= 1, got \(repetitions).") }
        if let latencyThreads, latencyThreads < 1 { throw ValidationError("--latency-threads must be >= 1, got \(latencyThreads).") }
        _ = try batches(default: [1])
    }

    /// The batch sizes asked for, else `fallback`.
    func batches(default fallback: [Int]) throws -> [Int] {
        guard let batchSizes else { return fallback }
        let batches = batchSizes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !batches.isEmpty, batches.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--batch-sizes must list whole numbers >= 1, e.g. 1,1000; got '\(batchSizes)'.")
        }
        return batches
    }

    var threads: Int { latencyThreads ?? ProcessInfo.processInfo.activeProcessorCount }
}

/// Flags every command that trains shares.
struct TrainingFlags: ParsableArguments {
    @Flag(help: "Small data slices and one epoch per phase: a smoke test of the whole pipeline.")
    var quick = false

    @Flag(help: "No progress lines on stderr.")
    var quiet = false

    /// Run options with these flags, for the spec at `specFile`.
    func runOptions(specFile: String) -> RunOptions {
        var options = RunOptions()
        options.quick = quick
        options.specFile = specFile
        options.progress = progressPrinter(quiet: quiet)
        options.warning = { line in FileHandle.standardError.write(Data("topiary: warning: \(line)\n".utf8)) }
        return options
    }
}
