import TopiaryOptim

/// `lr_schedule:` — how the learning rate moves over a training phase's optimizer steps.
public struct ScheduleSpec: Codable, Sendable, Equatable {
    public enum Name: String, Codable, Sendable, CaseIterable { case constant, cosine, wsd }

    public var name: Name
    public var warmupSteps: Int?
    /// wsd: fraction of the steps spent decaying at the end (default 0.1).
    public var decayFraction: Float?
    /// wsd: linear or exponential (default exponential).
    public var decay: LearningRateSchedule.Decay?
    /// cosine/wsd: the last rate as a fraction of the base rate (cosine default 0, wsd 0.1).
    public var finalFraction: Float?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, warmupSteps = "warmup_steps", decayFraction = "decay_fraction", decay
        case finalFraction = "final_fraction"
    }

    public static let constant = ScheduleSpec(name: .constant)
    public init(name: Name) { self.name = name }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeEnum(Name.self, forKey: .name, decoder: decoder)
        warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps)
        decayFraction = try c.decodeIfPresent(Float.self, forKey: .decayFraction)
        if c.contains(.decay) {
            decay = try c.decodeEnum(LearningRateSchedule.Decay.self, forKey: .decay, decoder: decoder)
        }
        finalFraction = try c.decodeIfPresent(Float.self, forKey: .finalFraction)

        if name == .constant {
            for key in CodingKeys.allCases where key != .name && c.contains(key) {
                throw decoder.problem(key, "does not apply to the constant schedule.")
            }
        }
        if name == .cosine {
            for key in [CodingKeys.decayFraction, .decay] where c.contains(key) {
                throw decoder.problem(key, "applies to wsd only.")
            }
        }
        if let warmupSteps, warmupSteps < 0 { throw decoder.problem(CodingKeys.warmupSteps, "must be >= 0, got \(warmupSteps).") }
        if let decayFraction, !(decayFraction > 0 && decayFraction <= 1) {
            throw decoder.problem(CodingKeys.decayFraction, "must lie in (0, 1], got \(decayFraction).")
        }
        if let finalFraction, !(0...1).contains(finalFraction) {
            throw decoder.problem(CodingKeys.finalFraction, "must lie in [0, 1], got \(finalFraction).")
        }
        if resolved.decay == .exponential, resolved.finalFraction == 0 {
            throw decoder.problem(CodingKeys.finalFraction, "must be > 0 for exponential decay.")
        }
    }

    public var resolved: ScheduleSpec {
        var r = self
        switch name {
        case .constant: break
        case .cosine:
            r.warmupSteps = warmupSteps ?? 0
            r.finalFraction = finalFraction ?? 0
        case .wsd:
            r.warmupSteps = warmupSteps ?? 0
            r.decayFraction = decayFraction ?? 0.1
            r.decay = decay ?? .exponential
            r.finalFraction = finalFraction ?? 0.1
        }
        return r
    }

    /// The schedule over `totalSteps` optimizer steps starting from `baseRate`; throws when
    /// the warm-up does not fit.
    public func makeSchedule(baseRate: Float, totalSteps: Int) throws -> LearningRateSchedule {
        let r = resolved
        if let warmup = r.warmupSteps, warmup >= totalSteps {
            throw SpecProblem(keyPath: "lr_schedule.warmup_steps",
                              problem: "\(warmup) warm-up steps do not fit in a phase of \(totalSteps) steps.")
        }
        switch name {
        case .constant:
            return LearningRateSchedule(baseRate: baseRate, totalSteps: totalSteps)
        case .cosine:
            return LearningRateSchedule(baseRate: baseRate, totalSteps: totalSteps,
                                        shape: .cosine(warmupSteps: r.warmupSteps!, finalFraction: r.finalFraction!))
        case .wsd:
            return LearningRateSchedule(baseRate: baseRate, totalSteps: totalSteps,
                                        shape: .warmupStableDecay(warmupSteps: r.warmupSteps!, decayFraction: r.decayFraction!,
                                                                  decay: r.decay!, finalFraction: r.finalFraction!))
        }
    }
}
