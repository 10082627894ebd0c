import Foundation
import TopiaryData
import TopiaryMetrics
import TopiaryNN
import TopiaryOptim
import TopiarySparsity
import TopiaryTensor

/// Runs one experiment: dense training, then for each stage score → select → masked
/// retraining → measure, rewriting the reports after every stage.
///
/// Everything a user can get wrong (spec, data files, output folder) is checked before the
/// first epoch and before any file is written.
public final class ExperimentRunner {
    public let spec: ExperimentSpec
    public let options: RunOptions
    public let runDirectory: String
    public let runID: String

    private let data: SplitData
    private let model: Sequential
    private let targets: [Parameter]
    private var shuffleGenerator: SeededGenerator
    private var scorerGenerator: SeededGenerator
    private var report: RunReport
    private let startTime = monotonicNanoseconds()

    struct SplitData {
        let train: LabeledDataset
        let validation: LabeledDataset
        let test: LabeledDataset
    }

    /// Validates everything and loads the data; writes nothing.
    public init(spec rawSpec: ExperimentSpec, options: RunOptions) throws {
        var spec = options.quick ? rawSpec.quickVariant : rawSpec
        if let seed = options.seedOverride { spec.seed = seed }
        spec = spec.resolved
        self.spec = spec
        self.options = options

        FloatEnvironment.prepareForFloatWork(blasThreads: spec.threads!)

        do {
            data = try ExperimentRunner.loadData(spec)
            try ExperimentRunner.checkPhasesFit(spec, trainRows: data.train.count)
        } catch let problem as SpecProblem {
            throw SpecError(file: options.specFile, keyPath: problem.keyPath, problem: problem.problem)
        }

        var initGenerator = SeededGenerator(seed: spec.seed, stream: "init")
        model = Sequential.multilayerPerceptron(inputFeatures: data.train.featureCount,
                                                hiddenSizes: spec.model.hiddenSizes,
                                                outputs: data.train.classCount, generator: &initGenerator)
        let excluded = Set(spec.pruning.excludeLayers)
        targets = model.weightParameters.filter { !excluded.contains($0.layerName) }
        shuffleGenerator = SeededGenerator(seed: spec.seed, stream: "shuffle")
        scorerGenerator = SeededGenerator(seed: spec.seed, stream: "scorer")

        runID = ExperimentRunner.makeRunID(seed: spec.seed)
        runDirectory = options.runDirectory ?? "\(options.notebooksRoot)/\(spec.name)/\(runID)"
        if FileManager.default.fileExists(atPath: runDirectory + "/report.json") {
            throw ReportError.runDirectoryNotEmpty(path: runDirectory)
        }
        report = RunReport(status: .running, experiment: spec.name, runID: runID, quick: options.quick, spec: spec,
                           environment: RunEnvironment.current(),
                           dataRows: .init(train: data.train.count, validation: data.validation.count, test: data.test.count),
                           model: .init(architecture: model.architectureDescription,
                                        parameters: model.store.parameterCount,
                                        prunableWeights: targets.reduce(0) { $0 + $1.count }),
                           stages: [], totalSeconds: 0)
    }

    /// Runs every phase; returns the finished report (also on disk in `runDirectory`).
    @discardableResult
    public func run() throws -> RunReport {
        try createRunDirectory()
        do {
            let dense = try train(epochs: spec.training.epochs, batchSize: spec.training.batchSize,
                                  optimizer: spec.training.optimizer, schedule: spec.training.lrSchedule!, phase: "dense")
            try record(stage: 0, target: 0, training: dense, scoreSeconds: 0, selectSeconds: 0)

            let scorer = ScorerRegistry.make(spec.pruning.scorer)!
            let pruner = UnstructuredPruner(scope: spec.pruning.scope)
            let retraining = spec.pruning.retraining!
            for (index, stage) in spec.pruning.stages.enumerated() {
                let stageNumber = index + 1
                options.progress?("stage \(stageNumber)/\(spec.pruning.stages.count): scoring (\(scorer.name)), pruning to \(stage.sparsity)")
                var context = ScoringContext(model: model,
                                             calibration: BatchIterator(dataset: data.train, batchSize: retraining.batchSize!),
                                             calibrationBatches: spec.pruning.calibrationBatches, generator: scorerGenerator)
                let (scores, scoreSeconds) = try measureSeconds { try scorer.scores(for: targets, context: &context) }
                scorerGenerator = context.generator
                let (_, selectSeconds) = try measureSeconds { try pruner.prune(targets, scores: scores, to: stage.sparsity) }
                try checkRealised(stage: stageNumber, target: stage.sparsity)

                let training = try train(epochs: stage.epochs, batchSize: retraining.batchSize!, optimizer: retraining.optimizer!,
                                         schedule: retraining.lrSchedule!, phase: "stage \(stageNumber)")
                try checkRealised(stage: stageNumber, target: stage.sparsity)
                try record(stage: stageNumber, target: stage.sparsity, training: training,
                           scoreSeconds: scoreSeconds, selectSeconds: selectSeconds)
            }
            report.status = .complete
            report.totalSeconds = elapsedSeconds
            try report.write(to: runDirectory)
            return report
        } catch {
            report.status = .failed
            report.error = (error as? LocalizedError)?.errorDescription ?? "\(error)"
            report.totalSeconds = elapsedSeconds
            try? report.write(to: runDirectory)
            throw error
        }
    }

    // MARK: - Phases

    struct TrainingOutcome {
        var epochs = 0
        var lastLoss: Double?
        var epochSeconds: [Double] = []
    }

    /// `epochs` epochs with a fresh optimizer (so no state from before pruning survives).
    private func train(epochs: Int, batchSize: Int, optimizer optimizerSpec: OptimizerSpec, schedule: ScheduleSpec,
                       phase: String) throws -> TrainingOutcome {
        var outcome = TrainingOutcome(epochs: epochs)
        guard epochs > 0 else { return outcome }
        let batches = BatchIterator(dataset: data.train, batchSize: batchSize)
        let lr = try schedule.makeSchedule(baseRate: optimizerSpec.learningRate, totalSteps: epochs * batches.batchesPerEpoch)
        let trainer = Trainer(model: model, optimizer: optimizerSpec.makeOptimizer(for: model.store), schedule: lr, batches: batches)
        for epoch in 1...epochs {
            let (loss, seconds) = trainer.runEpoch(generator: &shuffleGenerator)
            guard loss.isFinite else { throw TrainingError.diverged(phase: phase, epoch: epoch) }
            outcome.lastLoss = loss
            outcome.epochSeconds.append(seconds)
            options.progress?("\(phase) epoch \(epoch)/\(epochs): loss \(String(format: "%.4f", loss)), \(String(format: "%.2f", seconds)) s")
        }
        return outcome
    }

    /// Fails loudly when the masks do not realise the target or a pruned weight came back.
    private func checkRealised(stage: Int, target: Double) throws {
        let accounting = SparsityAccounting(targets)
        guard accounting.matches(target: target, scope: spec.pruning.scope) else {
            throw PruningError.missedTarget(stage: stage, target: target, realised: accounting.sparsity)
        }
        for parameter in targets {
            let (value, mask) = (parameter.value.pointer, parameter.mask.pointer)
            if let revived = (0..<parameter.count).first(where: { mask[$0] == 0 && value[$0] != 0 }) {
                throw TrainingError.prunedWeightRevived(parameter: parameter.name, index: revived)
            }
        }
    }

    private func record(stage: Int, target: Double, training: TrainingOutcome,
                        scoreSeconds: Double, selectSeconds: Double) throws {
        let test = Evaluation.measure(model, on: data.test)
        let validation = Evaluation.measure(model, on: data.validation)
        let accounting = SparsityAccounting(targets)
        let excluded = Set(spec.pruning.excludeLayers)
        let prunedLayers = Set(targets.map(\.layerName))
        let layers = model.weightParameters.map { parameter in
            let alive = countNonzeros(parameter.mask)
            return LayerRecord(layer: parameter.layerName, parameter: parameter.name,
                               rows: parameter.shape[0], columns: parameter.shape[1], total: parameter.count,
                               nonzeros: alive, sparsity: 1 - Double(alive) / Double(parameter.count),
                               excluded: excluded.contains(parameter.layerName), denseBytes: 4 * parameter.count,
                               csrBytes: MemoryFootprint.csrBytes(rows: parameter.shape[0], columns: parameter.shape[1], nonzeros: alive))
        }
        let latency = spec.measurement.latencyBatchSizes.map { batch in
            LatencyRecord(batchSize: batch, engine: "dense", measureLatency(batch: batch))
        }
        let trainSeconds = training.epochSeconds.reduce(0, +)
        report.stages.append(StageRecord(
            stage: stage, targetSparsity: target, sparsity: accounting.sparsity, nonzeros: accounting.alive,
            prunableWeights: accounting.total, testAccuracy: test.accuracy, testLoss: test.loss,
            valAccuracy: validation.accuracy, valLoss: validation.loss, trainLoss: training.lastLoss,
            epochs: training.epochs,
            trainEpochSeconds: training.epochs > 0 ? trainSeconds / Double(training.epochs) : nil,
            trainSeconds: trainSeconds, scoreSeconds: scoreSeconds, selectSeconds: selectSeconds, latency: latency,
            denseBytes: MemoryFootprint.denseBytes(model.parameters),
            csrBytes: MemoryFootprint.csrBytes(model.parameters, sparseLayers: prunedLayers),
            peakRSSBytes: ProcessMemory.peakResidentBytes, layers: layers))
        report.totalSeconds = elapsedSeconds
        try report.write(to: runDirectory)
        options.progress?("stage \(stage): sparsity \(String(format: "%.5f", accounting.sparsity)), test accuracy \(String(format: "%.4f", test.accuracy)), validation \(String(format: "%.4f", validation.accuracy))")
    }

    /// Whole-model dense forward latency on `batch` test rows (repeated if the test set is smaller).
    private func measureLatency(batch: Int) -> LatencyStatistics {
        let inputs = Tensor(zeros: [batch, data.test.featureCount])
        let d = data.test.featureCount
        for r in 0..<batch {
            (inputs.pointer + r * d).update(from: data.test.features.pointer + (r % data.test.count) * d, count: d)
        }
        return LatencyHarness.measure(warmup: spec.measurement.latencyWarmup,
                                      repetitions: spec.measurement.latencyRepetitions) { _ = model.forward(inputs) }
    }

    // MARK: - Set-up

    static func loadData(_ spec: ExperimentSpec) throws -> SplitData {
        let (fullTrain, fullTest) = try FashionMNIST.load(directory: spec.data.path!)
        guard spec.data.validationSize < fullTrain.count else {
            throw SpecProblem(keyPath: "data.validation_size",
                              problem: "\(spec.data.validationSize) leaves no training rows of \(fullTrain.count).")
        }
        var splitGenerator = SeededGenerator(seed: spec.seed, stream: "split")
        let (rest, validation) = fullTrain.split(heldOutCount: spec.data.validationSize, generator: &splitGenerator)
        let train = spec.data.trainLimit.map { rest.sample($0, generator: &splitGenerator) } ?? rest
        let test = spec.data.testLimit.map { fullTest.subset(Array(0..<min($0, fullTest.count))) } ?? fullTest
        return SplitData(train: train, validation: validation, test: test)
    }

    /// Schedules whose warm-up is longer than their phase are a spec error, found before training.
    static func checkPhasesFit(_ spec: ExperimentSpec, trainRows: Int) throws {
        func steps(_ epochs: Int, _ batch: Int) -> Int { epochs * ((trainRows + batch - 1) / batch) }
        let dense = steps(spec.training.epochs, spec.training.batchSize)
        if dense > 0 {
            _ = try spec.training.lrSchedule!.makeSchedule(baseRate: spec.training.optimizer.learningRate, totalSteps: dense)
        }
        let retraining = spec.pruning.retraining!
        for stage in spec.pruning.stages where stage.epochs > 0 {
            _ = try retraining.lrSchedule!.makeSchedule(baseRate: retraining.optimizer!.learningRate,
                                                        totalSteps: steps(stage.epochs, retraining.batchSize!))
        }
    }

    static func makeRunID(seed: UInt64) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return "\(formatter.string(from: Date()))-seed\(seed)-\(getpid())"
    }

    private func createRunDirectory() throws {
        do {
            try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        } catch {
            throw ReportError.cannotCreateDirectory(path: runDirectory, reason: error.localizedDescription)
        }
    }

    private var elapsedSeconds: Double { Double(monotonicNanoseconds() - startTime) / 1e9 }
}

public enum TrainingError: Error, LocalizedError, Equatable {
    case diverged(phase: String, epoch: Int)
    case prunedWeightRevived(parameter: String, index: Int)

    public var errorDescription: String? {
        switch self {
        case .diverged(let phase, let epoch):
            return "training diverged in \(phase), epoch \(epoch): the loss is not finite. Lower the learning rate in the spec."
        case .prunedWeightRevived(let parameter, let index):
            return "internal error: pruned weight \(parameter)[\(index)] is nonzero after retraining (mask invariant broken). Please report this."
        }
    }
}
