import Foundation
import TopiaryData
import TopiaryReport
import TopiarySpec

/// How `ExperimentRunner` runs a spec: where to write and what to override.
public struct RunOptions: Sendable {
    /// The run folder itself (--out); nil: notebooks-out/<experiment>/<run-id>/.
    public var runDirectory: String?
    /// Continue the run in this folder from its latest checkpoint.
    public var resumeDirectory: String?
    /// Threads for latency measurement (1 = the edge-device view); nil: the run's threads.
    public var latencyThreads: Int?
    /// Stop with `RunInterrupted` between batches once Ctrl-C arrives (the CLI sets it).
    public var interruptible = false
    /// The spec's file, for error messages.
    public var specFile = "<spec>"
    /// Root for default run folders.
    public var notebooksRoot: String = "notebooks-out"
    public var seedOverride: UInt64?
    /// The scorer instead of the spec's pruning.scorer (--scorer).
    public var scorerOverride: String?
    /// Small data slices and one epoch per phase: a smoke test of the whole pipeline.
    public var quick = false
    /// Receives progress lines (epochs, stages); nil: silent.
    public var progress: (@Sendable (String) -> Void)?
    /// Receives warnings (also kept in report.json's `warnings`); nil: only the report.
    public var warning: (@Sendable (String) -> Void)?

    public init() {}

    /// The flags that shape a run's results, as report.json keeps them.
    public var invocation: RunInvocation {
        RunInvocation(quick: quick, seed: seedOverride, scorer: scorerOverride, latencyThreads: latencyThreads)
    }

    /// These options for resuming a run started with `started`: a flag left out takes the
    /// run's value; one given with another value is refused, naming both. (Reports of
    /// earlier versions kept no invocation: the flags are then taken as given.)
    public func resuming(_ started: RunInvocation?, directory: String) throws -> RunOptions {
        guard let started else { return self }
        var merged = self
        func conflict(_ flag: String, _ given: String, _ original: String) -> RunResumeError {
            RunResumeError.flagDiffers(directory: directory, flag: flag, given: given, original: original)
        }
        if quick && !started.quick { throw conflict("--quick", "given", "not given") }
        merged.quick = started.quick
        if let seed = seedOverride, seed != started.seed { throw conflict("--seed", "\(seed)", started.seed.map(String.init) ?? "not given") }
        merged.seedOverride = started.seed
        if let scorer = scorerOverride, scorer != started.scorer { throw conflict("--scorer", scorer, started.scorer ?? "not given") }
        merged.scorerOverride = started.scorer
        if let threads = latencyThreads, threads != started.latencyThreads {
            throw conflict("--latency-threads", "\(threads)", started.latencyThreads.map(String.init) ?? "not given (the run's threads)")
        }
        merged.latencyThreads = started.latencyThreads
        return merged
    }
}

public enum RunResumeError: Error, LocalizedError, Equatable {
    case flagDiffers(directory: String, flag: String, given: String, original: String)
    public var errorDescription: String? {
        switch self {
        case .flagDiffers(let directory, let flag, let given, let original):
            return "the run in \(directory) was started with \(flag) \(original), but this resume has \(flag) \(given): a resumed run continues as it began. Leave \(flag) out (the run's own value is used)."
        }
    }
}

extension ExperimentSpec {
    /// The spec `--quick` runs: at most 2,000 training rows, 500 validation rows, 1,000 test
    /// rows (text: 800 training windows, 32 evaluation windows, 32 generated tokens timed
    /// once), one epoch per phase (two for agp, whose ramp is compressed to fit), warm-ups of
    /// at most a tenth of such a phase, four calibration batches and 20 latency repetitions.
    public var quickVariant: ExperimentSpec {
        var q = self
        if !data.dataset.splitsByRows {
            // 800 windows (50 steps of batch 16), 32 evaluation windows each, and a short
            // generation timed once per engine.
            q.data.trainWindows = min(data.trainWindows ?? .max, 800)
            q.data.evalWindows = min(data.evalWindows ?? .max, 32)
            q.measurement.generationTokens = min(measurement.generationTokens, 32)
            q.measurement.generationRepetitions = 1
        } else {
            q.data.trainLimit = min(data.trainLimit ?? .max, 2000)
            q.data.validationSize = min(data.validationSize, 500)
            q.data.testLimit = min(data.testLimit ?? .max, 1000)
        }
        // The rows (or windows) a quick epoch trains on at most, for the phase lengths below.
        let quickRows = data.dataset.splitsByRows ? q.data.trainLimit! : q.data.trainWindows!
        q.training.epochs = min(training.epochs, 1)
        q.pruning.stages = pruning.stages?.map { StageSpec(sparsity: $0.sparsity, epochs: min($0.epochs, 1)) }
        if var schedule = pruning.schedule {
            schedule.epochs = min(schedule.epochs, schedule.kind == .agp ? 2 : 1)
            if schedule.kind == .agp {
                // The same cubic ramp, compressed into the shorter phase: at most 4 mask
                // updates, the last one before the phase ends.
                let phaseSteps = schedule.epochs * max(1, quickRows / (pruning.retraining?.batchSize ?? training.batchSize))
                let updates = max(1, min(schedule.pruningSteps ?? 1, 4))
                schedule.startStep = 0
                schedule.pruningSteps = updates
                schedule.frequency = max(1, (phaseSteps - 1) / (updates + 1))
            }
            q.pruning.schedule = schedule
        }
        // A warm-up sized for full phases may not fit one short epoch: it becomes at most a
        // tenth of a quick phase's steps.
        func shortened(_ schedule: ScheduleSpec?, batchSize: Int) -> ScheduleSpec? {
            guard var schedule, let warmup = schedule.warmupSteps else { return schedule }
            schedule.warmupSteps = min(warmup, BatchIterator.batchesPerEpoch(rows: quickRows, batchSize: batchSize) / 10)
            return schedule
        }
        q.training.lrSchedule = shortened(training.lrSchedule, batchSize: training.batchSize)
        if let retraining = pruning.retraining {
            q.pruning.retraining?.lrSchedule = shortened(retraining.lrSchedule, batchSize: retraining.batchSize ?? training.batchSize)
        }
        q.pruning.calibrationBatches = min(pruning.calibrationBatches, 4)
        q.measurement.latencyRepetitions = min(measurement.latencyRepetitions, 20)
        q.measurement.latencyWarmup = min(measurement.latencyWarmup, 2)
        return q
    }
}
