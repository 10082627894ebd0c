import TopiaryNN
import TopiarySparsity

/// `pruning.schedule:` — a schedule other than an explicit `stages:` list.
///
///     kind: linear      final_sparsity, stages, epochs
///     kind: geometric   fraction, stages, epochs            (s_k = 1 − (1 − fraction)^k)
///     kind: agp         final_sparsity, frequency, pruning_steps, epochs,
///                       initial_sparsity (0), start_step (0)
///     kind: adaptive    epochs, tolerance_points (0.5, accuracy) or tolerance (in the task's
///                       deciding metric's change unit: points for accuracy, a fraction for RMSE
///                       or loss; default 0.02), initial_step (0.5), minimum_step (0.03),
///                       maximum_retries (8), maximum_sparsity (0.99), maximum_stages (16)
/// `epochs` is retraining epochs per stage, except for agp: the epochs of its one phase.
public struct SparsityScheduleSpec: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable { case linear, geometric, agp, adaptive }

    public var kind: Kind
    public var epochs: Int
    public var finalSparsity: Double?
    public var stages: Int?
    public var fraction: Double?
    public var initialSparsity: Double?
    public var startStep: Int?
    public var frequency: Int?
    public var pruningSteps: Int?
    public var tolerancePoints: Double?
    public var tolerance: Double?
    public var initialStep: Double?
    public var minimumStep: Double?
    public var maximumRetries: Int?
    public var maximumSparsity: Double?
    public var maximumStages: Int?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case kind, epochs, finalSparsity = "final_sparsity", stages, fraction
        case initialSparsity = "initial_sparsity", startStep = "start_step", frequency, pruningSteps = "pruning_steps"
        case tolerancePoints = "tolerance_points", tolerance, initialStep = "initial_step", minimumStep = "minimum_step"
        case maximumRetries = "maximum_retries", maximumSparsity = "maximum_sparsity", maximumStages = "maximum_stages"
    }

    /// Keys each kind accepts besides `kind` and `epochs`; the required ones first.
    static let keys: [Kind: (required: [CodingKeys], optional: [CodingKeys])] = [
        .linear: ([.finalSparsity, .stages], []),
        .geometric: ([.fraction, .stages], []),
        .agp: ([.finalSparsity, .frequency, .pruningSteps], [.initialSparsity, .startStep]),
        .adaptive: ([], [.tolerancePoints, .tolerance, .initialStep, .minimumStep, .maximumRetries, .maximumSparsity, .maximumStages]),
    ]

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decodeEnum(Kind.self, forKey: .kind, decoder: decoder)
        epochs = try c.decode(Int.self, forKey: .epochs)
        let allowed = SparsityScheduleSpec.keys[kind]!
        for key in CodingKeys.allCases where ![.kind, .epochs].contains(key) && c.contains(key) {
            guard allowed.required.contains(key) || allowed.optional.contains(key) else {
                let names = (allowed.required + allowed.optional).map(\.stringValue)
                throw decoder.problem(key, "does not apply to kind \(kind.rawValue) (it takes: epochs\(names.isEmpty ? "" : ", " + names.joined(separator: ", "))).")
            }
        }
        for key in allowed.required where !c.contains(key) {
            throw decoder.problem(key, "is required for kind \(kind.rawValue).")
        }
        finalSparsity = try c.decodeIfPresent(Double.self, forKey: .finalSparsity)
        stages = try c.decodeIfPresent(Int.self, forKey: .stages)
        fraction = try c.decodeIfPresent(Double.self, forKey: .fraction)
        initialSparsity = try c.decodeIfPresent(Double.self, forKey: .initialSparsity)
        startStep = try c.decodeIfPresent(Int.self, forKey: .startStep)
        frequency = try c.decodeIfPresent(Int.self, forKey: .frequency)
        pruningSteps = try c.decodeIfPresent(Int.self, forKey: .pruningSteps)
        tolerancePoints = try c.decodeIfPresent(Double.self, forKey: .tolerancePoints)
        tolerance = try c.decodeIfPresent(Double.self, forKey: .tolerance)
        if tolerance != nil && tolerancePoints != nil { throw decoder.problem(CodingKeys.tolerance, "give tolerance_points or tolerance, not both.") }
        initialStep = try c.decodeIfPresent(Double.self, forKey: .initialStep)
        minimumStep = try c.decodeIfPresent(Double.self, forKey: .minimumStep)
        maximumRetries = try c.decodeIfPresent(Int.self, forKey: .maximumRetries)
        maximumSparsity = try c.decodeIfPresent(Double.self, forKey: .maximumSparsity)
        maximumStages = try c.decodeIfPresent(Int.self, forKey: .maximumStages)
        try validate(decoder)
    }

    private func validate(_ decoder: any Decoder) throws {
        func check(_ ok: Bool, _ key: CodingKeys, _ message: String) throws {
            if !ok { throw decoder.problem(key, message) }
        }
        try check(epochs >= (kind == .agp ? 1 : 0), .epochs, "must be >= \(kind == .agp ? 1 : 0), got \(epochs).")
        if let s = finalSparsity { try check(s > 0 && s < 1, .finalSparsity, "must lie in (0, 1), got \(s).") }
        if let s = initialSparsity { try check(s >= 0 && s <= (finalSparsity ?? 1) && s < 1, .initialSparsity, "must lie in [0, final_sparsity], got \(s).") }
        if let n = stages { try check(n >= 1, .stages, "must be >= 1, got \(n).") }
        if let f = fraction { try check(f > 0 && f < 1, .fraction, "must lie in (0, 1), got \(f).") }
        if let t = startStep { try check(t >= 0, .startStep, "must be >= 0, got \(t).") }
        if let f = frequency { try check(f >= 1, .frequency, "must be >= 1, got \(f).") }
        if let n = pruningSteps { try check(n >= 1, .pruningSteps, "must be >= 1, got \(n).") }
        if let t = tolerancePoints { try check(t >= 0 && t < 100, .tolerancePoints, "must lie in [0, 100) accuracy points, got \(t).") }
        if let t = tolerance { try check(t >= 0 && t.isFinite, .tolerance, "must be a finite number >= 0, got \(t).") }
        if let s = initialStep { try check(s > 0 && s < 1, .initialStep, "must lie in (0, 1): the fraction of remaining weights an attempt prunes, got \(s).") }
        if let s = minimumStep { try check(s > 0 && s <= (initialStep ?? 0.5), .minimumStep, "must lie in (0, initial_step], got \(s).") }
        if let r = maximumRetries { try check(r >= 0, .maximumRetries, "must be >= 0, got \(r).") }
        if let s = maximumSparsity { try check(s > 0 && s < 1, .maximumSparsity, "must lie in (0, 1), got \(s).") }
        if let n = maximumStages { try check(n >= 1, .maximumStages, "must be >= 1, got \(n).") }
    }

    /// Defaults filled; the adaptive tolerance's default depends on the task's deciding metric
    /// (0.5 accuracy points for classification, a 2 % relative worsening otherwise).
    public func resolved(task: TaskKind) -> SparsityScheduleSpec {
        var r = self
        switch kind {
        case .agp:
            r.initialSparsity = initialSparsity ?? 0
            r.startStep = startStep ?? 0
        case .adaptive:
            if tolerance == nil { r.tolerancePoints = tolerancePoints ?? (task == .classification ? 0.5 : nil) }
            if r.tolerancePoints == nil { r.tolerance = tolerance ?? 0.02 }
            r.initialStep = initialStep ?? 0.5
            r.minimumStep = minimumStep ?? 0.03
            r.maximumRetries = maximumRetries ?? 8
            r.maximumSparsity = maximumSparsity ?? 0.99
            r.maximumStages = maximumStages ?? 16
        case .linear, .geometric: break
        }
        return r
    }
}

/// What the runner executes after dense training, derived from a resolved spec.
public enum PruningPlan: Sendable, Equatable {
    /// Prune once per stage, then retrain (explicit list, linear, geometric).
    case staged([StageSpec])
    /// One training phase of `epochs` epochs with mask updates inside it.
    case gradual(GradualSchedule, epochs: Int)
    /// Accept or roll back each attempt by validation accuracy.
    case adaptive(AdaptivePolicy, epochsPerAttempt: Int)
}

extension PruningSpec {
    /// The plan of a resolved spec (exactly one of `stages` and `schedule` is set).
    public var plan: PruningPlan {
        if let stages { return .staged(stages) }
        let s = schedule!
        switch s.kind {
        case .linear:
            return .staged(StagedSchedule.linear(finalSparsity: s.finalSparsity!, stages: s.stages!).map { StageSpec(sparsity: $0, epochs: s.epochs) })
        case .geometric:
            return .staged(StagedSchedule.geometric(fraction: s.fraction!, stages: s.stages!).map { StageSpec(sparsity: $0, epochs: s.epochs) })
        case .agp:
            return .gradual(GradualSchedule(initialSparsity: s.initialSparsity!, finalSparsity: s.finalSparsity!,
                                            startStep: s.startStep!, frequency: s.frequency!, pruningSteps: s.pruningSteps!),
                            epochs: s.epochs)
        case .adaptive:
            return .adaptive(AdaptivePolicy(tolerance: s.tolerance ?? s.tolerancePoints!, initialStep: s.initialStep!,
                                            minimumStep: s.minimumStep!, maximumRetries: s.maximumRetries!,
                                            maximumSparsity: s.maximumSparsity!, maximumStages: s.maximumStages!),
                             epochsPerAttempt: s.epochs)
        }
    }
}

/// `pruning.rewind:` — what is reset after each stage's pruning, before retraining.
public struct RewindSpec: Codable, Sendable, Equatable {
    public enum Weights: String, Codable, Sendable, CaseIterable {
        /// Keep the trained values (plain prune-and-retrain).
        case none
        /// Reset surviving weights to their values at initialisation (lottery ticket).
        case initialization = "init"
        /// Reset surviving weights to their values after dense-training step `step`.
        case step
    }
    public enum LearningRate: String, Codable, Sendable, CaseIterable {
        /// Each stage's retraining starts the LR schedule (and a fresh optimizer) anew.
        case restart
        /// One LR schedule spans all stages' retraining, and the optimizer state carries over.
        case `continue`
    }

    public var weights: Weights = .none
    public var step: Int?
    public var lrSchedule: LearningRate = .restart

    enum CodingKeys: String, CodingKey, CaseIterable { case weights, step, lrSchedule = "lr_schedule" }

    public init() {}

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if c.contains(.weights) { weights = try c.decodeEnum(Weights.self, forKey: .weights, decoder: decoder) }
        step = try c.decodeIfPresent(Int.self, forKey: .step)
        if c.contains(.lrSchedule) { lrSchedule = try c.decodeEnum(LearningRate.self, forKey: .lrSchedule, decoder: decoder) }
        if weights == .step {
            guard let step else { throw decoder.problem(CodingKeys.step, "is required with weights: step.") }
            if step < 0 { throw decoder.problem(CodingKeys.step, "must be >= 0, got \(step).") }
        } else if step != nil {
            throw decoder.problem(CodingKeys.step, "applies only with weights: step.")
        }
    }
}
