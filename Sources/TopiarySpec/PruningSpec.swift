import TopiaryInference
import TopiaryNN
import TopiarySparsity

/// `pruning:` — how weights are scored and removed, stage by stage, and how the survivors
/// are retrained.
public struct PruningSpec: Codable, Sendable, Equatable {
    public var scorer: String
    public var scope: UnstructuredPruner.Scope
    /// Batches of the training split that data-driven scorers (taylor) read.
    public var calibrationBatches: Int
    /// Layers never pruned (their weights do not count toward sparsity).
    public var excludeLayers: [String]
    /// Masked retraining after each stage; defaults to the dense training's settings.
    public var retraining: RetrainingSpec?
    /// An explicit list of stages, or…
    public var stages: [StageSpec]?
    /// …a named schedule (exactly one of the two).
    public var schedule: SparsityScheduleSpec?
    public var rewind: RewindSpec?
    /// [N, M] for scope nm: keep N of every M consecutive inputs in each row.
    public var nOfM: [Int]?
    /// Scorers whose agreement (Spearman, Jaccard) with each other is reported every stage.
    public var compareScorers: [String]?
    /// Save every stage's scores, one binary file per layer, under scores/.
    public var saveScores: Bool?
    /// Where calibration batches come from: the training split (default) or the validation split.
    public var calibrationSplit: CalibrationSplit?
    /// Global scope: every layer keeps at least this fraction of its weights.
    public var minimumDensity: Double?
    /// Per-layer scope: final sparsity per layer; stage k prunes layer L to
    /// layer_targets[L] · s_k / s_last (layers not listed follow s_k).
    public var layerTargets: [String: Double]?

    public enum CalibrationSplit: String, Codable, Sendable, CaseIterable { case train, validation }
    /// How data-driven scorers see the model while a stage prunes: `sequential` scores and
    /// prunes one block at a time (a transformer block, an MLP layer), each calibrated on
    /// activations that pass through the blocks already pruned, as Wanda and SparseGPT do;
    /// `together` scores every matrix on the unpruned model at once. Default: sequential for
    /// wanda where each block can meet the target alone (per_layer, per_row, nm), together
    /// otherwise. (obs is always sequential, layer by layer.)
    public var calibration: CalibrationOrder?
    public enum CalibrationOrder: String, Codable, Sendable, CaseIterable { case sequential, together }
    /// Options of the chosen scorer (e.g. obs: dampening, block_size).
    public var scorerOptions: [String: Double]?
    /// scope channels: how a channel's weight scores combine (l2, default; l1 as PyTorch's
    /// L1-norm filter pruning).
    public var channelNorm: ChannelPruner.Norm?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case scorer, scope, calibrationBatches = "calibration_batches", excludeLayers = "exclude_layers"
        case retraining, stages, schedule, rewind, nOfM = "n_of_m", compareScorers = "compare_scorers"
        case saveScores = "save_scores", calibrationSplit = "calibration_split", minimumDensity = "minimum_density"
        case layerTargets = "layer_targets", scorerOptions = "scorer_options", channelNorm = "channel_norm"
        case calibration
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        scorer = try c.decode(String.self, forKey: .scorer)
        guard ScorerRegistry.make(scorer) != nil || decoder.readsRecordedSpec else {
            throw decoder.problem(CodingKeys.scorer, "unknown scorer '\(scorer)'. Available: \(ScorerRegistry.names.joined(separator: ", ")).")
        }
        // `neurons` is what earlier specs called channel pruning of an MLP.
        scope = try c.decodeIfPresent(String.self, forKey: .scope) == "neurons" ? .channels
            : c.contains(.scope) ? try c.decodeEnum(UnstructuredPruner.Scope.self, forKey: .scope, decoder: decoder) : .global
        if c.contains(.channelNorm) {
            guard scope == .channels else { throw decoder.problem(CodingKeys.channelNorm, "applies to scope: channels only.") }
            channelNorm = try c.decodeEnum(ChannelPruner.Norm.self, forKey: .channelNorm, decoder: decoder)
        }
        if ScorerRegistry.make(scorer) is any ReconstructingScorer, ![.perLayer, .perRow, .nm].contains(scope) {
            throw decoder.problem(CodingKeys.scope, "the \(scorer) scorer prunes layer by layer: use scope per_layer, per_row or nm.")
        }
        calibrationBatches = try c.decodeIfPresent(Int.self, forKey: .calibrationBatches) ?? 20
        if calibrationBatches < 1 {
            throw decoder.problem(CodingKeys.calibrationBatches, "must be >= 1, got \(calibrationBatches).")
        }
        excludeLayers = try c.decodeIfPresent([String].self, forKey: .excludeLayers) ?? []
        retraining = try c.decodeIfPresent(RetrainingSpec.self, forKey: .retraining)
        stages = try c.decodeIfPresent([StageSpec].self, forKey: .stages)
        schedule = try c.decodeIfPresent(SparsityScheduleSpec.self, forKey: .schedule)
        rewind = try c.decodeIfPresent(RewindSpec.self, forKey: .rewind)
        nOfM = try c.decodeIfPresent([Int].self, forKey: .nOfM)
        compareScorers = try c.decodeIfPresent([String].self, forKey: .compareScorers)
        saveScores = try c.decodeIfPresent(Bool.self, forKey: .saveScores)
        if c.contains(.calibration) {
            calibration = try c.decodeEnum(CalibrationOrder.self, forKey: .calibration, decoder: decoder)
            if calibration == .sequential, scope == .global || scope == .channels {
                throw decoder.problem(CodingKeys.calibration, "sequential prunes one block at a time, so each block must meet the target on its own: use scope per_layer, per_row or nm, or calibration: together.")
            }
        }
        if c.contains(.calibrationSplit) { calibrationSplit = try c.decodeEnum(CalibrationSplit.self, forKey: .calibrationSplit, decoder: decoder) }
        minimumDensity = try c.decodeIfPresent(Double.self, forKey: .minimumDensity)
        if let minimumDensity {
            guard scope == .global else { throw decoder.problem(CodingKeys.minimumDensity, "applies to scope: global only.") }
            guard minimumDensity >= 0 && minimumDensity < 1 else {
                throw decoder.problem(CodingKeys.minimumDensity, "must lie in [0, 1), got \(minimumDensity).")
            }
        }
        scorerOptions = try c.decodeIfPresent([String: Double].self, forKey: .scorerOptions)
        do { _ = try ScorerRegistry.make(scorer, options: scorerOptions ?? [:]) } catch let error as ScorerOptionError {
            throw decoder.problem(CodingKeys.scorerOptions, error.message)
        }
        layerTargets = try c.decodeIfPresent([String: Double].self, forKey: .layerTargets)
        if let layerTargets {
            guard scope == .perLayer else { throw decoder.problem(CodingKeys.layerTargets, "applies to scope: per_layer only.") }
            guard c.contains(.stages) else { throw decoder.problem(CodingKeys.layerTargets, "needs an explicit 'stages' list.") }
            if let bad = layerTargets.first(where: { !($0.value >= 0 && $0.value < 1) }) {
                throw decoder.problem(CodingKeys.layerTargets, "\(bad.key): \(bad.value) is outside [0, 1).")
            }
        }
        if let compareScorers {
            if let unknown = compareScorers.first(where: { ScorerRegistry.make($0) == nil }), !decoder.readsRecordedSpec {
                throw decoder.problem(CodingKeys.compareScorers, "unknown scorer '\(unknown)'. Available: \(ScorerRegistry.names.joined(separator: ", ")).")
            }
            if compareScorers.count < 2 || Set(compareScorers).count != compareScorers.count {
                throw decoder.problem(CodingKeys.compareScorers, "needs at least two different scorers, got \(compareScorers).")
            }
        }
        if scope == .nm {
            guard let nOfM, nOfM.count == 2, nOfM[0] >= 1, nOfM[0] < nOfM[1], nOfM[1] <= 256 else {
                throw decoder.problem(CodingKeys.nOfM, "scope nm needs n_of_m: [N, M] with 1 <= N < M <= 256, e.g. [2, 4].")
            }
            let implied = 1 - Double(nOfM[0]) / Double(nOfM[1])
            guard c.contains(.stages), !c.contains(.schedule) else {
                throw decoder.problem(CodingKeys.schedule, "scope nm takes an explicit 'stages' list whose sparsity is \(implied).")
            }
        } else if nOfM != nil {
            throw decoder.problem(CodingKeys.nOfM, "applies only with scope: nm.")
        }
        if scope == .channels, let schedule = try c.decodeIfPresent(SparsityScheduleSpec.self, forKey: .schedule),
           schedule.kind == .agp || schedule.kind == .adaptive {
            throw decoder.problem(CodingKeys.scope, "channels takes staged schedules (stages, linear, geometric), not \(schedule.kind.rawValue).")
        }
        switch (stages, schedule) {
        case (nil, nil):
            throw decoder.problem(nil, "needs either 'stages' (an explicit list) or 'schedule' (linear, geometric, agp, adaptive).")
        case (.some, .some):
            throw decoder.problem(CodingKeys.schedule, "give either 'stages' or 'schedule', not both.")
        case (let stages?, nil):
            // `stages: []` trains dense only: a pretraining run that other specs adapt.
            if scope == .nm, let nOfM {
                let implied = 1 - Double(nOfM[0]) / Double(nOfM[1])
                if let index = stages.firstIndex(where: { abs($0.sparsity - implied) > 1e-12 }) {
                    throw SpecProblem(keyPath: "pruning.stages[\(index)].sparsity",
                                      problem: "with n_of_m \(nOfM[0]):\(nOfM[1]) every stage's sparsity is \(implied), got \(stages[index].sparsity).")
                }
            }
            for index in stages.indices.dropFirst() where stages[index].sparsity <= stages[index - 1].sparsity {
                throw SpecProblem(keyPath: "pruning.stages[\(index)].sparsity",
                                  problem: "\(stages[index].sparsity) does not exceed the previous stage's \(stages[index - 1].sparsity): targets must strictly increase (masks only shrink).")
            }
        case (nil, let schedule?):
            if let rewind, schedule.kind == .agp, rewind.weights != .none || rewind.lrSchedule != .restart {
                throw decoder.problem(CodingKeys.rewind, "does not apply to agp, which prunes inside one training phase.")
            }
            if let rewind, schedule.kind == .adaptive, rewind.lrSchedule == .continue {
                throw SpecProblem(keyPath: "pruning.rewind.lr_schedule",
                                  problem: "continue needs the total retraining steps in advance; an adaptive schedule does not know them. Use restart.")
            }
        }
    }

    func resolved(training: TrainingSpec, task: TaskKind) -> PruningSpec {
        var r = self
        r.schedule = schedule?.resolved(task: task)
        if scope == .channels { r.channelNorm = channelNorm ?? .l2 }
        r.rewind = rewind ?? RewindSpec()
        r.calibrationSplit = calibrationSplit ?? .train
        r.calibration = calibration ?? (scorer == "wanda" && [.perLayer, .perRow, .nm].contains(scope) ? .sequential : .together)
        let base = retraining ?? RetrainingSpec(batchSize: nil, optimizer: nil, lrSchedule: nil)
        r.retraining = RetrainingSpec(batchSize: base.batchSize ?? training.batchSize,
                                      optimizer: (base.optimizer ?? training.optimizer).resolved,
                                      lrSchedule: (base.lrSchedule ?? training.lrSchedule ?? .constant).resolved)
        return r
    }

    /// A spec built in code; the defaults are the YAML's. Run it through `ExperimentSpec.validated`
    /// for the decoder's checks.
    public init(scorer: String, scope: UnstructuredPruner.Scope = .global, calibrationBatches: Int = 20, excludeLayers: [String] = [], retraining: RetrainingSpec? = nil, stages: [StageSpec]? = nil, schedule: SparsityScheduleSpec? = nil, rewind: RewindSpec? = nil, nOfM: [Int]? = nil, compareScorers: [String]? = nil, saveScores: Bool? = nil, calibrationSplit: CalibrationSplit? = nil, minimumDensity: Double? = nil, layerTargets: [String: Double]? = nil, scorerOptions: [String: Double]? = nil, channelNorm: ChannelPruner.Norm? = nil) {
        self.scorer = scorer
        self.scope = scope
        self.calibrationBatches = calibrationBatches
        self.excludeLayers = excludeLayers
        self.retraining = retraining
        self.stages = stages
        self.schedule = schedule
        self.rewind = rewind
        self.nOfM = nOfM
        self.compareScorers = compareScorers
        self.saveScores = saveScores
        self.calibrationSplit = calibrationSplit
        self.minimumDensity = minimumDensity
        self.layerTargets = layerTargets
        self.scorerOptions = scorerOptions
        self.channelNorm = channelNorm
    }
}

/// One prune stage: reach `sparsity` (fraction of prunable weights that are zero), then
/// retrain the survivors for `epochs` epochs under the masks.
public struct StageSpec: Codable, Sendable, Equatable {
    public var sparsity: Double
    public var epochs: Int

    enum CodingKeys: String, CodingKey, CaseIterable { case sparsity, epochs }

    public init(sparsity: Double, epochs: Int) {
        self.sparsity = sparsity
        self.epochs = epochs
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        sparsity = try c.decode(Double.self, forKey: .sparsity)
        epochs = try c.decode(Int.self, forKey: .epochs)
        guard sparsity >= 0, sparsity < 1 else {
            throw decoder.problem(CodingKeys.sparsity, "\(sparsity) is outside [0, 1): a sparsity is the fraction of weights removed (0.9 = 90 %).")
        }
        if epochs < 0 { throw decoder.problem(CodingKeys.epochs, "must be >= 0, got \(epochs).") }
    }
}

/// `pruning.retraining:` — masked retraining settings; each absent field falls back to
/// `training:`. A fresh optimizer state starts every stage (as in the PyTorch reference).
public struct RetrainingSpec: Codable, Sendable, Equatable {
    public var batchSize: Int?
    public var optimizer: OptimizerSpec?
    public var lrSchedule: ScheduleSpec?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case batchSize = "batch_size", optimizer, lrSchedule = "lr_schedule"
    }

    public init(batchSize: Int? = nil, optimizer: OptimizerSpec? = nil, lrSchedule: ScheduleSpec? = nil) {
        self.batchSize = batchSize
        self.optimizer = optimizer
        self.lrSchedule = lrSchedule
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize)
        optimizer = try c.decodeIfPresent(OptimizerSpec.self, forKey: .optimizer)
        lrSchedule = try c.decodeIfPresent(ScheduleSpec.self, forKey: .lrSchedule)
        if let batchSize, batchSize < 1 { throw decoder.problem(CodingKeys.batchSize, "must be >= 1, got \(batchSize).") }
    }
}

/// `measurement:` — how latency is measured after every stage.
public struct MeasurementSpec: Codable, Sendable, Equatable {
    public var latencyBatchSizes: [Int] = [1, 1000]
    public var latencyRepetitions: Int = 200
    public var latencyWarmup: Int = 20
    /// Language models: tokens generated per engine after every stage (0: none), the prompt
    /// (nil: the first 16 bytes of the first test window) and timed generations per engine.
    public var generationTokens: Int = 128
    public var generationPrompt: String?
    public var generationRepetitions: Int = 3
    /// Inference engines measured (latency, bytes, generation; int8 metrics with int8): all
    /// by default; dense is always among them, as the baseline. A large model may list fewer:
    /// every engine holds its own copy of the weights.
    public var engines: [InferenceEngine] = InferenceEngine.allCases

    enum CodingKeys: String, CodingKey, CaseIterable {
        case latencyBatchSizes = "latency_batch_sizes", latencyRepetitions = "latency_repetitions"
        case latencyWarmup = "latency_warmup", generationTokens = "generation_tokens", generationPrompt = "generation_prompt"
        case generationRepetitions = "generation_repetitions", engines
    }

    public init() {}

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        latencyBatchSizes = try c.decodeIfPresent([Int].self, forKey: .latencyBatchSizes) ?? [1, 1000]
        latencyRepetitions = try c.decodeIfPresent(Int.self, forKey: .latencyRepetitions) ?? 200
        latencyWarmup = try c.decodeIfPresent(Int.self, forKey: .latencyWarmup) ?? 20
        generationTokens = try c.decodeIfPresent(Int.self, forKey: .generationTokens) ?? 128
        generationPrompt = try c.decodeIfPresent(String.self, forKey: .generationPrompt)
        generationRepetitions = try c.decodeIfPresent(Int.self, forKey: .generationRepetitions) ?? 3
        if let names = try c.decodeIfPresent([String].self, forKey: .engines) {
            let known = InferenceEngine.allCases.map(\.rawValue)
            if let unknown = names.first(where: { InferenceEngine(rawValue: $0) == nil }) {
                throw decoder.problem(CodingKeys.engines, "'\(unknown)' is not an engine; choose among \(known.joined(separator: ", ")).")
            }
            if names.isEmpty || Set(names).count != names.count { throw decoder.problem(CodingKeys.engines, "must list distinct engines, got \(names).") }
            let listed = Set(names)
            engines = InferenceEngine.allCases.filter { $0 == .dense || listed.contains($0.rawValue) }
        }
        if !(0...100_000).contains(generationTokens) { throw decoder.problem(CodingKeys.generationTokens, "must be 0 (none) to 100000, got \(generationTokens).") }
        if generationPrompt?.isEmpty == true { throw decoder.problem(CodingKeys.generationPrompt, "must hold at least one character; leave it out for the first 16 bytes of the test text.") }
        if generationRepetitions < 1 { throw decoder.problem(CodingKeys.generationRepetitions, "must be >= 1, got \(generationRepetitions).") }
        if latencyBatchSizes.isEmpty || latencyBatchSizes.contains(where: { $0 < 1 }) || Set(latencyBatchSizes).count != latencyBatchSizes.count {
            throw decoder.problem(CodingKeys.latencyBatchSizes, "must be distinct batch sizes >= 1, got \(latencyBatchSizes).")
        }
        if latencyRepetitions < 1 { throw decoder.problem(CodingKeys.latencyRepetitions, "must be >= 1, got \(latencyRepetitions).") }
        if latencyWarmup < 0 { throw decoder.problem(CodingKeys.latencyWarmup, "must be >= 0, got \(latencyWarmup).") }
    }
}
