import ArgumentParser
import Foundation
import TopiaryRun
import TopiarySparsity
import TopiarySpec
import TopiaryTraining

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run an experiment spec: dense training, staged pruning with masked retraining, reports.")

    @Argument(help: "The experiment spec (YAML), e.g. experiments/lenet300-fmnist.yaml.")
    var spec: String

    @Option(help: "Write the run into this folder (default: notebooks-out/<experiment>/<run-id>).")
    var out: String?

    @Option(name: .customLong("resume"), help: "Continue the unfinished run in this folder from its latest checkpoint (same spec and flags).")
    var resumeDirectory: String?

    @Option(parsing: .unconditional, help: "Override the spec's seed.")
    var seed: UInt64?

    @Option(help: "Override the spec's pruning.scorer (to compare scorers on one spec).")
    var scorer: String?

    @Option(parsing: .unconditional, help: "Threads for latency measurement (BLAS and sparse kernels); 1 is the edge-device view. Default: the run's threads.")
    var latencyThreads: Int?

    @OptionGroup var flags: TrainingFlags

    func validate() throws {
        if let scorer, ScorerRegistry.make(scorer) == nil {
            throw ValidationError("unknown scorer '\(scorer)' for --scorer. Available: \(ScorerRegistry.names.joined(separator: ", ")).")
        }
        if let latencyThreads, latencyThreads < 1 {
            throw ValidationError("--latency-threads must be >= 1, got \(latencyThreads).")
        }
        if resumeDirectory != nil, out != nil {
            throw ValidationError("--resume continues a run in its own folder; drop --out.")
        }
    }

    func run() throws {
        do {
            let experiment = try ExperimentSpec.load(path: spec)
            var options = flags.runOptions(specFile: spec)
            options.scorerOverride = scorer
            options.runDirectory = out
            options.resumeDirectory = resumeDirectory
            options.interruptible = true
            options.latencyThreads = latencyThreads
            options.seedOverride = seed
            let runner = try ExperimentRunner(spec: experiment, options: options)
            options.progress?((resumeDirectory == nil ? "run folder " : "resuming ") + runner.runDirectory)
            RunInterruption.installHandler()
            let report = try runner.run()
            print(SummaryTable.render(report, runDirectory: runner.runDirectory))
        } catch let interruption as RunInterrupted {
            FileHandle.standardError.write(Data("topiary: \(interruption.errorDescription!.replacingOccurrences(of: "SPEC", with: spec))\n".utf8))
            throw ExitCode(130)
        } catch {
            throw fail(error)
        }
    }
}
