import Foundation
import TopiaryData
import TopiaryNN
import TopiarySparsity
import Yams

/// An experiment spec (experiments/*.yaml), decoded strictly: unknown keys, out-of-range
/// values and impossible combinations fail with the key path and a fix, before any work.
/// Optional fields are filled by `resolved`, which is what report.json records.
public struct ExperimentSpec: Codable, Sendable, Equatable {
    public var name: String
    public var seed: UInt64
    /// BLAS threads (and the parallelism of Topiary's own sweeps); default: all cores.
    public var threads: Int?
    /// What the model is trained and judged for (default classification).
    public var task: TaskKind?
    public var data: DataSpec
    public var model: ModelSpec
    public var training: TrainingSpec
    public var pruning: PruningSpec
    public var measurement: MeasurementSpec
    /// Points to run with `topiary sweep` (ignored by `topiary run`).
    public var sweep: SweepSpec?
    /// Thresholds and sweep selections `topiary compare` uses when given no flags.
    public var compare: CompareSpec?
    /// Resources of each array task `topiary slurm` submits.
    public var slurm: SlurmSpec?
    /// Export, compile and emulate every stage on a microcontroller.
    public var device: DeviceSpec?
    /// Retrain each stage through low-rank adapters on the frozen pruned base (LoRA).
    public var adapters: AdapterSpec?
    /// Train and retrain by simulated federated rounds.
    public var federated: FederatedSpec?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, seed, threads, task, data, model, training, pruning, measurement, sweep, compare, slurm, device, adapters, federated
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw decoder.problem(CodingKeys.name, "'\(name)' must be non-empty and use only letters, digits, '-', '_' and '.' (it names the output folder).")
        }
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
        threads = try c.decodeIfPresent(Int.self, forKey: .threads)
        if let threads, threads < 1 { throw decoder.problem(CodingKeys.threads, "must be >= 1, got \(threads).") }
        if c.contains(.task) { task = try c.decodeEnum(TaskKind.self, forKey: .task, decoder: decoder) }
        data = try c.decodeIfPresent(DataSpec.self, forKey: .data) ?? DataSpec()
        model = try c.decode(ModelSpec.self, forKey: .model)
        training = try c.decode(TrainingSpec.self, forKey: .training)
        pruning = try c.decode(PruningSpec.self, forKey: .pruning)
        measurement = try c.decodeIfPresent(MeasurementSpec.self, forKey: .measurement) ?? MeasurementSpec()
        sweep = try c.decodeIfPresent(SweepSpec.self, forKey: .sweep)
        compare = try c.decodeIfPresent(CompareSpec.self, forKey: .compare)
        slurm = try c.decodeIfPresent(SlurmSpec.self, forKey: .slurm)
        device = try c.decodeIfPresent(DeviceSpec.self, forKey: .device)
        adapters = try c.decodeIfPresent(AdapterSpec.self, forKey: .adapters)
        federated = try c.decodeIfPresent(FederatedSpec.self, forKey: .federated)
        if federated != nil {
            if pruning.schedule?.kind == .agp {
                throw SpecProblem(keyPath: "federated", problem: "prunes between rounds, but a gradual schedule prunes inside one training phase: use stages or an adaptive schedule.")
            }
            if pruning.rewind?.lrSchedule == .continue {
                throw SpecProblem(keyPath: "pruning.rewind.lr_schedule", problem: "is continue, but federated clients start a fresh optimizer every round: use restart.")
            }
            if pruning.rewind?.weights == .step {
                throw SpecProblem(keyPath: "pruning.rewind.weights", problem: "is step, but federated training has no central optimizer steps to snapshot at: use init or none.")
            }
            if pruning.scorer == "movement" {
                throw SpecProblem(keyPath: "pruning.scorer", problem: "movement scores accumulate over central training steps, which federated rounds do not take: use a scorer of the weights (magnitude) or of calibration data (taylor, wanda).")
            }
        }
        if adapters != nil {
            // Adapters live for one stage's retraining and are merged at its end.
            if pruning.schedule?.kind == .agp {
                throw SpecProblem(keyPath: "adapters", problem: "retrain each stage and merge at its end, but a gradual schedule prunes during one long phase: use stages or an adaptive schedule, or remove adapters:.")
            }
            if pruning.rewind?.lrSchedule == .continue {
                throw SpecProblem(keyPath: "pruning.rewind.lr_schedule", problem: "is continue, but adapters (and their optimizer) are made anew each stage: use restart with adapters:.")
            }
        }
        // µP's learning-rate rules are Adam's; SGD's differ (and are not implemented).
        if model.parametrization == .mup {
            for (key, optimizer) in [("training.optimizer", training.optimizer), ("pruning.retraining.optimizer", pruning.retraining?.optimizer)] {
                if let optimizer, optimizer.name == .sgd {
                    throw SpecProblem(keyPath: key, problem: "is sgd, but model.parametrization mup scales Adam's learning rates: use adam or adamw.")
                }
            }
        }
        if device != nil, data.dataset == .text {
            throw SpecProblem(keyPath: "device", problem: "exports MLP and CNN models to C; a language model has no C export yet: remove device:.")
        }
        // Text is next-token prediction and nothing else; a language model reads text only.
        if data.dataset == .text && task != .languageModel {
            throw SpecProblem(keyPath: "task", problem: "dataset text trains a language model: set task: language_model.")
        }
        if task == .languageModel {
            guard data.dataset == .text else {
                throw SpecProblem(keyPath: "data.dataset", problem: "task language_model reads text: set dataset: text (a corpus name, path or glob in data.train).")
            }
            guard model.isLanguageModel || !model.isBuiltIn else {
                throw SpecProblem(keyPath: "model.architecture", problem: "task language_model needs a sequence model: architecture gpt or llama (or a registered one), not \(model.architecture).")
            }
            // Byte-level models: prompt bytes are token ids, each must be in the vocabulary.
            let vocabulary = model.vocabSize ?? 256
            if !model.isLlama, let prompt = measurement.generationPrompt, let byte = prompt.utf8.first(where: { Int($0) >= vocabulary }) {
                throw SpecProblem(keyPath: "measurement.generation_prompt",
                                  problem: "holds the byte \(byte), outside this model's vocabulary of \(vocabulary) (model.vocab_size); use characters whose UTF-8 bytes are below \(vocabulary).")
            }
        } else if measurement.generationPrompt != nil {
            throw SpecProblem(keyPath: "measurement.generation_prompt", problem: "applies to task language_model only.")
        }
        let deciding = (task ?? .classification).make().decidingMetric
        if deciding.change == .relative, pruning.schedule?.tolerancePoints != nil {
            throw SpecProblem(keyPath: "pruning.schedule.tolerance_points",
                              problem: "is for accuracy; this task decides by \(deciding.name): give tolerance (a fraction, 0.02 = 2 %) instead.")
        }
    }

    /// The layer names `pruning.exclude_layers` and `layer_targets` use must be prunable
    /// matrices of the model: checked once the model is built (its layers depend on the data).
    package func checkLayerNames(_ prunable: [String]) throws {
        if let unknown = pruning.excludeLayers.first(where: { !prunable.contains($0) }) {
            throw SpecProblem(keyPath: "pruning.exclude_layers",
                              problem: "no prunable layer named '\(unknown)'. This model's prunable layers: \(prunable.joined(separator: ", ")).")
        }
        if let unknown = pruning.layerTargets?.keys.sorted().first(where: { !prunable.contains($0) }) {
            throw SpecProblem(keyPath: "pruning.layer_targets",
                              problem: "no prunable layer named '\(unknown)'. This model's prunable layers: \(prunable.joined(separator: ", ")).")
        }
        if Set(pruning.excludeLayers).isSuperset(of: prunable) {
            throw SpecProblem(keyPath: "pruning.exclude_layers", problem: "excludes every layer, so nothing could be pruned.")
        }
    }

    /// Reads and decodes a spec file; every failure is a `SpecError` naming the file.
    public static func load(path: String) throws -> ExperimentSpec {
        guard let contents = FileManager.default.contents(atPath: path) else {
            throw SpecError(file: path, keyPath: "", problem: "cannot read the file (does it exist?). Specs live in experiments/, e.g. experiments/lenet300-fmnist.yaml.")
        }
        guard let text = String(data: contents, encoding: .utf8) else {
            throw SpecError(file: path, keyPath: "", problem: "is not UTF-8 text.")
        }
        return try decode(yaml: text, file: path)
    }

    /// Bounded (`SpecLimits`): size first, then the expanded node count, then the decoding.
    public static func decode(yaml text: String, file: String = "<string>") throws -> ExperimentSpec {
        do {
            try SpecLimits.checkSize(text)
            // As YAMLDecoder(from: String) parses: merge keys resolved, scalars left for the
            // types to read. The parser owns the anchors while the tree is in use.
            let parser = try Parser(yaml: text, resolver: Resolver.basic.appending(.merge))
            return try withExtendedLifetime(parser) {
                let node = try parser.singleRoot() ?? ""
                try SpecLimits.checkExpansion(node)
                return try YAMLDecoder().decode(ExperimentSpec.self, from: node)
            }
        } catch {
            throw specError(from: error, file: file)
        }
    }

    /// `spec` put through the decoder's checks: a spec a program builds in code is validated
    /// exactly as a spec file (key paths in the errors included), by encoding it and
    /// decoding it back strictly.
    public static func validated(_ spec: ExperimentSpec, file: String = "<spec built in code>") throws -> ExperimentSpec {
        do {
            return try JSONDecoder().decode(ExperimentSpec.self, from: try JSONEncoder().encode(spec))
        } catch {
            throw specError(from: error, file: file)
        }
    }

    /// Yams reports every error thrown while decoding as "not valid YAML" with the real
    /// cause as `underlyingError`: unwrap to the innermost one that says what is wrong.
    static func specError(from error: any Error, file: String) -> SpecError {
        switch error {
        case let problem as SpecProblem:
            return SpecError(file: file, keyPath: problem.keyPath, problem: problem.problem)
        case DecodingError.dataCorrupted(let context) where context.underlyingError != nil:
            return specError(from: context.underlyingError!, file: file)
        case let decoding as DecodingError:
            return SpecError(decodingError: decoding, file: file)
        case let yaml as YamlError:
            return SpecError(file: file, keyPath: "", problem: "is not valid YAML: \(yaml)")
        default:
            return SpecError(file: file, keyPath: "", problem: "\(error)")
        }
    }

    public init(name: String, seed: UInt64, threads: Int? = nil, task: TaskKind? = nil, data: DataSpec, model: ModelSpec, training: TrainingSpec, pruning: PruningSpec, measurement: MeasurementSpec = MeasurementSpec(), sweep: SweepSpec? = nil, compare: CompareSpec? = nil, slurm: SlurmSpec? = nil, device: DeviceSpec? = nil, adapters: AdapterSpec? = nil, federated: FederatedSpec? = nil) {
        self.name = name
        self.seed = seed
        self.threads = threads
        self.task = task
        self.data = data
        self.model = model
        self.training = training
        self.pruning = pruning
        self.measurement = measurement
        self.sweep = sweep
        self.compare = compare
        self.slurm = slurm
        self.device = device
        self.adapters = adapters
        self.federated = federated
    }
}

/// `training:` — the dense phase before any pruning.
public struct TrainingSpec: Codable, Sendable, Equatable {
    public var epochs: Int
    public var batchSize: Int
    public var optimizer: OptimizerSpec
    public var lrSchedule: ScheduleSpec?
    /// With a wsd schedule: every this many optimizer steps on the plateau (after warm-up, up
    /// to where decay starts), write `plateau/step-NNNNNN.bin` — weights, masks and optimizer
    /// state — from which decay branches start (`model.init_from` + `model.init_optimizer`).
    public var plateauCheckpointEvery: Int?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case epochs, batchSize = "batch_size", optimizer, lrSchedule = "lr_schedule", plateauCheckpointEvery = "plateau_checkpoint_every"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        epochs = try c.decode(Int.self, forKey: .epochs)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        optimizer = try c.decode(OptimizerSpec.self, forKey: .optimizer)
        lrSchedule = try c.decodeIfPresent(ScheduleSpec.self, forKey: .lrSchedule)
        plateauCheckpointEvery = try c.decodeIfPresent(Int.self, forKey: .plateauCheckpointEvery)
        if let every = plateauCheckpointEvery {
            if every < 1 { throw decoder.problem(CodingKeys.plateauCheckpointEvery, "must be >= 1 optimizer steps, got \(every).") }
            if lrSchedule?.name != .wsd {
                throw decoder.problem(CodingKeys.plateauCheckpointEvery, "needs lr_schedule wsd (a plateau to branch from); got \(lrSchedule?.name.rawValue ?? "constant").")
            }
        }
        if epochs < 0 { throw decoder.problem(CodingKeys.epochs, "must be >= 0, got \(epochs).") }
        if batchSize < 1 { throw decoder.problem(CodingKeys.batchSize, "must be >= 1, got \(batchSize).") }
    }

    public var resolved: TrainingSpec {
        var r = self
        r.optimizer = optimizer.resolved
        r.lrSchedule = (lrSchedule ?? .constant).resolved
        return r
    }

    public init(epochs: Int, batchSize: Int, optimizer: OptimizerSpec, lrSchedule: ScheduleSpec? = nil) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.optimizer = optimizer
        self.lrSchedule = lrSchedule
    }
}
