import Foundation
import TopiaryData
import TopiaryFormats
import TopiaryMetrics
import TopiaryNN
import TopiaryOptim
import TopiaryReport
import TopiarySparsity
import TopiarySpec
import TopiaryTensor
import TopiaryTraining

/// Runs one experiment: dense training, then the spec's pruning plan (staged, adaptive or
/// gradual), measuring and rewriting the reports after every stage, and checkpointing so a
/// killed run resumes exactly (`RunOptions.resumeDirectory`).
///
/// Everything a user can get wrong (spec, data files, output folder, a resume that does not
/// match) is checked in `init`, before any training and before any file is written.
public final class ExperimentRunner {
    public let spec: ResolvedSpec
    public let options: RunOptions
    public let runDirectory: String
    public let plan: PruningPlan

    package let data: SplitData
    package let model: any Model
    /// What the model is trained and judged for (the spec's `task`).
    package let task: any Task
    /// The matrices pruning acts on (the model's prunable matrices minus excluded layers).
    package let targets: [PrunableMatrix]
    /// The spec's granularity: how scores become masks, and the check that they realise a target.
    let maskSelection: any MaskSelection
    var shuffleGenerator: SeededGenerator
    var scorerGenerator: SeededGenerator
    /// Optimizer steps per phase on this run's training rows (what `topiary plan` prints).
    var phasePlan: PhasePlan { PhasePlan(spec: spec, trainRows: data.train.count) }
    var report: RunReport
    var progress: RunProgress
    /// The optimizer of a schedule that spans stages (lr continue, gradual); nil when each
    /// stage starts a fresh one.
    var spanningOptimizer: (any Optimizer)?
    /// Values surviving weights are reset to after each stage's pruning (rewinding).
    var rewindValues: Tensor?
    /// The last accepted state, which an adaptive rejection rolls back to.
    var lastAccepted: Checkpoint?
    /// −Σ w·g per target since the last pruning, when a movement scorer needs it.
    var movement: [Tensor]?
    var checkpointSequence = 0
    /// Set when a checkpoint was restored (resume), so dense training is skipped.
    var resumed = false
    /// This process's exclusive hold on the run folder (taken before a resume reads it, or
    /// as soon as a new run's folder exists); released when the runner goes away or the
    /// process ends.
    var folderLock: FolderLock?
    /// Space the final report is written into (`SpaceReserve`).
    var spaceReserve: SpaceReserve?
    /// With `federated:`: the simulated clients, made at the first round.
    var federation: FederatedSimulation?
    /// The LoRA factors of the checkpoint resumed from (a federated adapter phase between rounds).
    var resumedAdapterTensors: [String: Tensor] = [:]
    /// `adapters.init_from`'s PEFT folder as read and checked at start-up; the first pruning
    /// stage's adapters (every adaptive attempt at it) start from these factors.
    let adapterSource: PEFTAdapterFolder?

    /// Validates everything and loads the data (and, when resuming, the latest checkpoint);
    /// writes nothing (a resume takes the run folder's lock first).
    ///
    /// A resume continues with the flags the run was started with (`RunInvocation`, kept in
    /// report.json): flags left out are taken from there, and one that differs is refused.
    public init(spec rawSpec: ExperimentSpec, options requested: RunOptions) throws {
        var options = requested
        var previous: RunReport?
        if let resumeDirectory = options.resumeDirectory {
            try OutputLocation.check(resumeDirectory, option: "--resume")
            guard FileManager.default.fileExists(atPath: resumeDirectory + "/report.json") else {
                throw CheckpointError.nothingToResume(directory: resumeDirectory)
            }
            // Locked before anything is read: a run still writing the folder refuses us now,
            // rather than our stale state overwriting what it writes later.
            folderLock = try FolderLock(directory: resumeDirectory)
            let report = try ExperimentRunner.readPreviousReport(in: resumeDirectory)
            options = try options.resuming(report.invocation, directory: resumeDirectory)
            previous = report
        }
        // The full spec is checked against the data first, so --quick (which shrinks the
        // data and the phases) cannot hide an error a full run would report.
        let fullSpec = try ExperimentRunner.applyOverrides(rawSpec, options: options)
        let spec = options.quick ? try ExperimentRunner.applyOverrides(rawSpec.quickVariant, options: options) : fullSpec
        self.spec = spec
        self.options = options
        plan = spec.pruning.plan

        FloatEnvironment.prepareForFloatWork(blasThreads: spec.threads)
        // The device check runs after every stage: its toolchain must be there before any training.
        if spec.device != nil, let missing = CModelCheck.missingTool {
            throw SpecProblem(keyPath: "device", problem: "needs \(missing.tool) (Debian \(missing.package)); run make device-deps, or remove device:.")
        }

        var madeTask = spec.task.make()
        let built: (data: SplitData, model: any Model)
        var checkedAdapterSource: PEFTAdapterFolder?
        do {
            let loaded = try DataLoading.load(spec)
            // Text in a model's tokens: bits per byte counts the bytes each token stands for.
            if let tokenizer = loaded.tokenizer { madeTask = LanguageModelTask(tokenByteCounts: tokenizer.tokenByteCounts) }
            for checked in options.quick ? [fullSpec, spec] : [spec] {
                let trainRows = try checked.data.trainingRows(available: loaded.availableTrainingRows)
                try ExperimentRunner.checkPhasesFit(checked, plan: checked.pruning.plan, trainRows: trainRows)
                try MemoryBudget.check(checked, dataShape: loaded.train.inputShape, outputs: ExperimentRunner.outputCount(madeTask, loaded.train))
            }
            built = try ExperimentRunner.makeModel(spec, task: madeTask, data: loaded)
            if let source = spec.model.initFrom { try InitialWeights.load(source, into: built.model) }
            try spec.spec.checkLayerNames(built.model.prunableMatrices.map(\.layerName))
            if let adapters = spec.adapters {
                checkedAdapterSource = try ExperimentRunner.checkAdapters(adapters, model: built.model, excluded: spec.pruning.excludeLayers)
            }
            // Clients' BatchNorm statistics are not aggregated (only trained parameters are).
            if spec.federated != nil, let buffer = built.model.parameters.first(where: { $0.role == .buffer }) {
                throw SpecProblem(keyPath: "federated", problem: "this model keeps running statistics (\(buffer.name)), which federated rounds do not aggregate: use a model without BatchNorm (an MLP, a GPT) or remove federated:.")
            }
        } catch let problem as SpecProblem {
            throw SpecError(file: options.specFile, keyPath: problem.keyPath, problem: problem.problem)
        }
        task = madeTask
        (data, model) = built
        adapterSource = checkedAdapterSource
        let excluded = Set(spec.pruning.excludeLayers)
        targets = model.prunableMatrices.filter { !excluded.contains($0.layerName) }
        maskSelection = ExperimentRunner.maskSelection(spec.pruning, model: model)
        let needsMovement = spec.pruning.scorer == "movement" || spec.pruning.compareScorers?.contains("movement") == true
        movement = needsMovement ? targets.map { Tensor(zeros: [$0.rows, $0.fanIn]) } : nil
        shuffleGenerator = SeededGenerator(seed: spec.seed, stream: "shuffle")
        scorerGenerator = SeededGenerator(seed: spec.seed, stream: "scorer")
        progress = RunProgress(spec: spec.spec, rows: [], shuffleState: shuffleGenerator.stateArray,
                               scorerState: scorerGenerator.stateArray)

        let runID: String
        if let resumeDirectory = options.resumeDirectory, let previous {
            runDirectory = resumeDirectory
            try ExperimentRunner.checkResumable(previous, in: resumeDirectory, spec: spec.spec)
            runID = previous.runID
            report = ExperimentRunner.newReport(spec: spec, options: options, runID: runID, data: data, model: model, targets: targets)
            report.resumedAt = previous.resumedAt + [ISO8601DateFormatter().string(from: Date())]
            if let checkpoint = try latestCheckpoint() { try restore(checkpoint) }
        } else {
            runID = ExperimentRunner.makeRunID(seed: spec.seed)
            runDirectory = options.runDirectory ?? "\(options.notebooksRoot)/\(spec.name)/\(runID)"
            try OutputLocation.checkNewRunFolder(runDirectory, option: "--out")
            report = ExperimentRunner.newReport(spec: spec, options: options, runID: runID, data: data, model: model, targets: targets)
        }
    }

    /// Runs (or continues) every phase; returns the finished report (also on disk).
    @discardableResult
    public func run() throws -> RunReport {
        try startWriting()
        do {
            // A federated run resumed between stage 0's rounds has no stage row yet.
            if !resumed || report.stages.isEmpty { try denseTraining() }
            switch plan {
            case .staged(let stages): try runStaged(stages)
            case .adaptive(let policy, let epochs): try runAdaptive(policy, epochsPerAttempt: epochs)
            case .gradual(let schedule, let epochs): try runGradual(schedule, epochs: epochs)
            }
            report.status = .complete
            report.error = nil
            try writeFinalReport()
            return report
        } catch is TrainingInterrupted {
            let interruption = RunInterrupted(runDirectory: runDirectory)
            report.status = .interrupted
            report.error = interruption.errorDescription
            try? writeFinalReport()
            throw interruption
        } catch {
            report.status = .failed
            report.error = (error as? LocalizedError)?.errorDescription ?? "\(error)"
            try? writeFinalReport()
            throw error
        }
    }

    /// The run folder, locked, with space set aside and report.json written first (status
    /// running): a folder that holds any of this run's files holds its report. A new run
    /// that cannot get this far removes its folder again, so it leaves nothing behind.
    private func startWriting() throws {
        let creating = !FileManager.default.fileExists(atPath: runDirectory)
        do {
            try createRunDirectory()
            if resumed || options.resumeDirectory != nil {
                for folder in [runDirectory, checkpointDirectory, runDirectory + "/scores"] { AtomicFile.removeStaleTemporaries(in: folder) }
            }
            spaceReserve = try SpaceReserve(in: runDirectory)
            try writeReport()
        } catch {
            spaceReserve?.release()
            if creating, folderLock != nil { try? FileManager.default.removeItem(atPath: runDirectory) }
            throw error
        }
    }

    /// The report that says how the run ended, written with the reserved space given back.
    private func writeFinalReport() throws {
        spaceReserve?.release()
        spaceReserve = nil
        try writeReport()
    }

    /// The spec's dense training phase, writing nothing (sensitivity analysis calls it alone).
    @discardableResult
    package func trainDense(afterStep: ((Int) throws -> Void)? = nil) throws -> TrainingOutcome {
        let optimizer = try denseOptimizer()
        let plateau = try plateauWriter(optimizer: optimizer)
        return try train(epochs: spec.training.epochs, batchSize: spec.training.batchSize, optimizer: optimizer,
                         settings: spec.training.optimizer, schedule: spec.trainingSchedule, phase: "dense",
                         afterStep: { step in
                             try afterStep?(step)
                             try plateau?(step)
                         })
    }

    /// Dense training (with the rewind snapshot taken at init or at the chosen step), stage 0,
    /// and the first checkpoint.
    private func denseTraining() throws {
        let rewind = spec.rewind
        // (A run resumed between stage 0's federated rounds keeps the snapshot it restored.)
        if rewind.weights == .initialization, rewindValues == nil { rewindValues = model.store.values.copy() }
        var afterStep: ((Int) throws -> Void)?
        if rewind.weights == .step, let target = rewind.step {
            afterStep = { [unowned self] step in if step + 1 == target { rewindValues = model.store.values.copy() } }
            if target == 0 { rewindValues = model.store.values.copy() }
        }
        let dense = spec.federated != nil
            ? try federatedPhase(stage: 0, optimizer: spec.training.optimizer, batchSize: spec.training.batchSize)
            : try trainDense(afterStep: afterStep)
        if rewind.weights == .step, rewindValues == nil {
            throw SpecError(file: options.specFile, keyPath: "pruning.rewind.step",
                            problem: "dense training ended after \(dense.steps) steps, before step \(rewind.step!). Choose a step within dense training.")
        }
        try append(try measure(stage: 0, target: 0, training: dense, scoreSeconds: 0, selectSeconds: 0))
        try checkpoint(label: "stage0")
    }

    // MARK: - Set-up

    /// The spec with the command line's overrides (seed, scorer), validated as a spec file
    /// would be (a spec built in code passes the same checks) and resolved.
    static func applyOverrides(_ spec: ExperimentSpec, options: RunOptions) throws -> ResolvedSpec {
        var spec = spec
        if let seed = options.seedOverride { spec.seed = seed }
        if let scorer = options.scorerOverride {
            guard let made = ScorerRegistry.make(scorer) else {
                throw SpecError(file: options.specFile, keyPath: "--scorer",
                                problem: "unknown scorer '\(scorer)'. Available: \(ScorerRegistry.names.joined(separator: ", ")).")
            }
            if made is any ReconstructingScorer, ![.perLayer, .perRow, .nm].contains(spec.pruning.scope) {
                throw SpecError(file: options.specFile, keyPath: "--scorer",
                                problem: "\(scorer) prunes layer by layer; the spec's scope is \(spec.pruning.scope.rawValue). Use a spec with scope per_layer, per_row or nm.")
            }
            spec.pruning.scorer = scorer
        }
        return try ExperimentSpec.validated(spec, file: options.specFile).resolved
    }

    static func newReport(spec: ResolvedSpec, options: RunOptions, runID: String, data: SplitData, model: any Model,
                          targets: [PrunableMatrix]) -> RunReport {
        var report = RunReport(status: .running, experiment: spec.name, runID: runID, quick: options.quick, spec: spec.spec,
                  environment: RunEnvironment.current(),
                  dataRows: .init(train: data.train.count, validation: data.validation.count, test: data.test.count),
                  model: .init(architecture: model.architectureDescription, parameters: model.store.parameterCount,
                               prunableWeights: targets.reduce(0) { $0 + $1.count }),
                  stages: [], totalSeconds: 0)
        report.invocation = options.invocation
        report.task = TaskRecord(spec.task.make())
        return report
    }

    /// Outputs per sample the task needs for this data (classes, or target values).
    static func outputCount(_ task: any Task, _ data: Dataset) -> Int {
        task.outputShape(targetShape: data.targetShape, classCount: data.classCount).reduce(1, *)
    }

    /// The spec's model with its seeded initial weights, shaped for the data's samples and the
    /// task's outputs, and the data seen with the model's input shape (an image [28, 28] as
    /// the [784] an MLP reads or the [1, 28, 28] a CNN reads).
    package static func makeModel(_ spec: ResolvedSpec, task: any Task, data: SplitData) throws -> (data: SplitData, model: any Model) {
        var initGenerator = SeededGenerator(seed: spec.seed, stream: "init")
        let model = try ModelFactory.make(spec.model, dataShape: data.train.inputShape, outputs: outputCount(task, data.train),
                                          generator: &initGenerator)
        guard model.inputCount == data.train.featureCount else {
            throw SpecProblem(keyPath: "model", problem: "the model reads samples of shape \(model.inputShape), but the data's have shape \(data.train.inputShape).")
        }
        let shape = model.inputShape
        var reshaped = SplitData(train: data.train.reshapingInputs(shape), validation: data.validation.reshapingInputs(shape),
                                 test: data.test.reshapingInputs(shape), availableTrainingRows: data.availableTrainingRows, classNames: data.classNames)
        reshaped.evaluations = data.evaluations.map { ($0.name, $0.data.reshapingInputs(shape)) }
        reshaped.tokenizer = data.tokenizer
        return (reshaped, model)
    }

    /// Schedules that do not fit their phases (warm-up longer than a phase, gradual updates
    /// past the phase's end, a rewind step past dense training) are spec errors, found here.
    static func checkPhasesFit(_ spec: ResolvedSpec, plan: PruningPlan, trainRows: Int) throws {
        let phases = PhasePlan(spec: spec, trainRows: trainRows)
        if phases.denseSteps > 0 {
            _ = try spec.trainingSchedule.makeSchedule(baseRate: spec.training.optimizer.learningRate, totalSteps: phases.denseSteps)
        }
        if let step = spec.pruning.rewind?.step, step > phases.denseSteps {
            throw SpecProblem(keyPath: "pruning.rewind.step",
                              problem: "\(step) is past the end of dense training (\(phases.denseSteps) steps).")
        }
        let retraining = spec.retraining
        for steps in phases.retrainingPhaseSteps(plan) where steps > 0 {
            _ = try retraining.lrSchedule.makeSchedule(baseRate: retraining.optimizer.learningRate, totalSteps: steps)
        }
        if case .gradual(let schedule, let epochs) = plan, schedule.endStep >= epochs * phases.retrainingStepsPerEpoch {
            throw SpecProblem(keyPath: "pruning.schedule",
                              problem: "the last mask update (step \(schedule.endStep) = start_step + pruning_steps · frequency) falls outside the \(epochs * phases.retrainingStepsPerEpoch) steps of \(epochs) epochs. Lower pruning_steps or frequency, or add epochs.")
        }
    }

    static func makeRunID(seed: UInt64) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return "\(formatter.string(from: Date()))-seed\(seed)-\(getpid())"
    }

    /// The run folder, locked by this process; a new run's folder must still be empty once
    /// locked (another process may have started in it since `init` looked).
    private func createRunDirectory() throws {
        do {
            try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        } catch {
            throw ReportError.cannotCreateDirectory(path: runDirectory, reason: error.localizedDescription)
        }
        if folderLock == nil {
            folderLock = try FolderLock(directory: runDirectory)
            try OutputLocation.checkEmpty(runDirectory, option: "--out")
        }
        do {
            try FileManager.default.createDirectory(atPath: runDirectory + "/checkpoints", withIntermediateDirectories: true)
        } catch {
            throw ReportError.cannotCreateDirectory(path: runDirectory + "/checkpoints", reason: error.localizedDescription)
        }
    }

    /// Kept in report.json and passed to `options.warning`.
    func warn(_ message: String) {
        report.warnings.append(message)
        options.warning?(message)
    }

    func writeReport() throws {
        report.totalSeconds += elapsedSinceLastWrite
        try report.write(to: runDirectory)
    }

    private var lastWrite = monotonicNanoseconds()
    private var elapsedSinceLastWrite: Double {
        let now = monotonicNanoseconds()
        defer { lastWrite = now }
        return Double(now - lastWrite) / 1e9
    }
}
