import Foundation
import TopiaryData
import TopiaryNN

/// What a run executes: an `ExperimentSpec` with every default applied and every choice
/// the YAML leaves open made, so the runner, reports and studies read it without
/// unwrapping anything. `ExperimentSpec` stays what a user writes (an optional there means
/// "not given"); `spec` here is it with the defaults written out, as report.json records it.
public struct ResolvedSpec: Sendable, Equatable {
    public let spec: ExperimentSpec
    public let task: TaskKind
    /// BLAS threads and the parallelism of Topiary's own passes.
    public let threads: Int
    public let source: DataSource
    /// Standardise inputs with the training rows' statistics (tables and series by default).
    public let standardize: Bool
    public let trainingSchedule: ScheduleSpec
    /// Masked retraining after each stage, every field taken from `training:` when
    /// `pruning.retraining` leaves it out.
    public let retraining: RetrainingPhase
    public let rewind: RewindSpec
    public let calibrationSplit: PruningSpec.CalibrationSplit

    public var name: String { spec.name }
    public var seed: UInt64 { spec.seed }
    public var data: DataSpec { spec.data }
    public var model: ModelSpec { spec.model }
    public var training: TrainingSpec { spec.training }
    public var pruning: PruningSpec { spec.pruning }
    public var measurement: MeasurementSpec { spec.measurement }
    public var sweep: SweepSpec? { spec.sweep }
    public var compare: CompareSpec? { spec.compare }
    public var slurm: SlurmSpec? { spec.slurm }
    public var device: DeviceSpec? { spec.device }
    public var adapters: AdapterSpec? { spec.adapters }
    public var federated: FederatedSpec? { spec.federated }

    public struct RetrainingPhase: Sendable, Equatable {
        public let batchSize: Int
        public let optimizer: OptimizerSpec
        public let lrSchedule: ScheduleSpec
    }

    /// Where the examples come from, one case per `data.dataset` with what it needs.
    public enum DataSource: Sendable, Equatable {
        case fashionMNIST(directory: String)
        case idx(IDXFiles)
        case csv(TableFiles)
        case series(SeriesFiles)
        case text(TextSource)
    }

    /// The test rows: a file of their own, or this fraction carved from the training file.
    public enum TestSplit: Sendable, Equatable {
        case file(String)
        case fraction(Double)
    }

    public struct IDXFiles: Sendable, Equatable {
        public let trainImages: String, trainLabels: String, testImages: String, testLabels: String
        /// Classes, when the spec says (else the largest label + 1).
        public let classes: Int?
    }

    public struct TableFiles: Sendable, Equatable {
        public let train: String
        public let test: TestSplit
        public let label: String
        /// Feature columns, when the spec lists them (else every column but the label).
        public let features: [String]?
        public let header: Bool
        public let separator: DataSpec.Separator
    }

    /// A corpus cut into windows of the model's context: training windows at seeded random
    /// offsets of the leading `trainFraction`, test and validation windows consecutive in the
    /// held-out rest.
    public struct TextSource: Sendable, Equatable {
        public let corpus: String
        public let trainFraction: Double
        public let trainWindows: Int
        public let evalWindows: Int
        /// Window length T: the model's block_size.
        public let context: Int
        /// Further held-out sets (`data.evaluate`), name → corpus, in name order.
        public let evaluations: [(name: String, corpus: String)]
        /// The GGUF whose tokenizer turns text into tokens (a llama model's file); nil: bytes.
        public let tokenizerFile: String?

        public static func == (a: TextSource, b: TextSource) -> Bool {
            (a.corpus, a.trainFraction, a.trainWindows, a.evalWindows, a.context, a.tokenizerFile) == (b.corpus, b.trainFraction, b.trainWindows, b.evalWindows, b.context, b.tokenizerFile)
                && a.evaluations.map(\.name) == b.evaluations.map(\.name) && a.evaluations.map(\.corpus) == b.evaluations.map(\.corpus)
        }
    }

    public struct SeriesFiles: Sendable, Equatable {
        public let train: String
        public let test: TestSplit
    }

    /// Resolves `written` (idempotent: resolving `spec` again gives the same value).
    public init(_ written: ExperimentSpec) {
        var r = written
        let task = written.task ?? .classification
        r.threads = written.threads ?? ProcessInfo.processInfo.activeProcessorCount
        r.task = task
        r.data = written.data.resolved
        r.training = written.training.resolved
        r.pruning = written.pruning.resolved(training: written.training, task: task)
        spec = r
        self.task = task
        threads = r.threads ?? 1
        let data = r.data
        standardize = data.standardize ?? false
        // The decoder guarantees each kind's required keys (`DataSpec.init(from:)`).
        let test: TestSplit = data.test.map(TestSplit.file) ?? .fraction(data.testFraction ?? 0.2)
        switch data.dataset {
        case .fashionMNIST:
            source = .fashionMNIST(directory: data.path ?? "")
        case .idx:
            source = .idx(IDXFiles(trainImages: data.trainImages ?? "", trainLabels: data.trainLabels ?? "",
                                   testImages: data.testImages ?? "", testLabels: data.testLabels ?? "", classes: data.classes))
        case .csv:
            source = .csv(TableFiles(train: data.train ?? "", test: test, label: data.label ?? "", features: data.features,
                                     header: data.header ?? true, separator: data.separator ?? .comma))
        case .ts:
            source = .series(SeriesFiles(train: data.train ?? "", test: test))
        case .text:
            source = .text(TextSource(corpus: data.train ?? "", trainFraction: data.trainFraction ?? 0.9, trainWindows: data.trainWindows ?? 32_000,
                                      evalWindows: data.evalWindows ?? 256, context: r.model.blockSize ?? 1,
                                      evaluations: data.evaluations, tokenizerFile: r.model.isLlama ? r.model.initFrom.map { DataCache.resolve($0) } : nil))
        }
        trainingSchedule = r.training.lrSchedule ?? .constant
        let retrainingSpec = r.pruning.retraining
        retraining = RetrainingPhase(batchSize: retrainingSpec?.batchSize ?? r.training.batchSize,
                                     optimizer: retrainingSpec?.optimizer ?? r.training.optimizer,
                                     lrSchedule: retrainingSpec?.lrSchedule ?? trainingSchedule)
        rewind = r.pruning.rewind ?? RewindSpec()
        calibrationSplit = r.pruning.calibrationSplit ?? .train
    }
}

extension ExperimentSpec {
    /// Every optional field filled with its default, and the choices made (`ResolvedSpec`).
    public var resolved: ResolvedSpec { ResolvedSpec(self) }
}
