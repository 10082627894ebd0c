import Foundation
import TopiaryTensor

/// Staged schedules as pure functions: the target sparsity of stage k (1-based) of n.
/// A stage prunes once, then retrains; see `GradualSchedule` for pruning inside training
/// and `AdaptivePolicy` for schedules that depend on how accuracy holds.
public enum StagedSchedule {
    /// Equal steps: s_k = final · k / n.
    public static func linear(finalSparsity: Double, stages: Int) -> [Double] {
        require(stages >= 1 && (0..<1).contains(finalSparsity), "need stages >= 1 and a final sparsity in [0, 1)")
        return (1...stages).map { finalSparsity * Double($0) / Double(stages) }
    }

    /// A constant fraction f of the weights still alive goes each stage: s_k = 1 − (1 − f)^k.
    /// With f = 0.5 this is the reference's 50 / 75 / 87.5 / 93.75 / 96.875 %.
    public static func geometric(fraction: Double, stages: Int) -> [Double] {
        require(stages >= 1 && fraction > 0 && fraction < 1, "need stages >= 1 and a fraction in (0, 1)")
        return (1...stages).map { 1 - pow(1 - fraction, Double($0)) }
    }
}

/// Gradual pruning (Zhu & Gupta 2017, "To prune, or not to prune"): inside training, every
/// Δt optimizer steps from t₀ on, the masks are updated to
///
///     s_t = s_f + (s_i − s_f) · (1 − (t − t₀)/(n·Δt))³,   t ∈ {t₀, t₀+Δt, …, t₀+n·Δt}
///
/// so sparsity rises fast at first, when many weights are redundant, and slowly near s_f.
public struct GradualSchedule: Sendable, Equatable, Codable {
    public let initialSparsity: Double
    public let finalSparsity: Double
    /// t₀: the optimizer step (counted within the pruning phase, from 0) of the first update.
    public let startStep: Int
    /// Δt: optimizer steps between mask updates.
    public let frequency: Int
    /// n: the number of Δt intervals; there are n + 1 mask updates, the last at t₀ + n·Δt.
    public let pruningSteps: Int

    public init(initialSparsity: Double, finalSparsity: Double, startStep: Int, frequency: Int, pruningSteps: Int) {
        require(initialSparsity >= 0 && initialSparsity <= finalSparsity && finalSparsity < 1,
                     "need 0 <= initial <= final < 1, got \(initialSparsity), \(finalSparsity)")
        require(startStep >= 0 && frequency >= 1 && pruningSteps >= 1,
                     "need start >= 0, frequency >= 1, pruning steps >= 1, got \(startStep), \(frequency), \(pruningSteps)")
        self.initialSparsity = initialSparsity
        self.finalSparsity = finalSparsity
        self.startStep = startStep
        self.frequency = frequency
        self.pruningSteps = pruningSteps
    }

    /// The step of the last mask update.
    public var endStep: Int { startStep + pruningSteps * frequency }

    /// s_t for any step (s_i before t₀, s_f after the end); a pure function.
    public func sparsity(atStep t: Int) -> Double {
        if t <= startStep { return initialSparsity }
        if t >= endStep { return finalSparsity }
        let progress = Double(t - startStep) / Double(pruningSteps * frequency)
        let remaining = 1 - progress
        return finalSparsity + (initialSparsity - finalSparsity) * remaining * remaining * remaining
    }

    /// The sparsity to prune to after optimizer step `t`, or nil when t is not an update step.
    public func update(atStep t: Int) -> Double? {
        guard t >= startStep, t <= endStep, (t - startStep) % frequency == 0 else { return nil }
        return sparsity(atStep: t)
    }

    /// Every (step, sparsity) update in order, for `topiary plan`.
    public var updates: [(step: Int, sparsity: Double)] {
        (0...pruningSteps).map { (startStep + $0 * frequency, sparsity(atStep: startStep + $0 * frequency)) }
    }
}

/// The search an adaptive schedule makes: each attempt prunes a fraction `step` of the
/// weights still alive; an attempt whose deciding validation metric after retraining ends
/// worse than the dense model's by more than the tolerance is rejected, the run rolls back to
/// the last accepted state and retries with half the step, until the step falls below the
/// minimum, the retries run out, or the maximum sparsity or stage count is reached.
public struct AdaptivePolicy: Sendable, Equatable, Codable {
    /// Largest allowed worsening of the deciding validation metric below dense, in that
    /// metric's change unit (`MetricDefinition.worsening`: accuracy points, or a fraction).
    public let tolerance: Double
    public let initialStep: Double
    public let minimumStep: Double
    public let maximumRetries: Int
    public let maximumSparsity: Double
    public let maximumStages: Int

    public init(tolerance: Double, initialStep: Double, minimumStep: Double, maximumRetries: Int,
                maximumSparsity: Double, maximumStages: Int) {
        require(tolerance >= 0 && initialStep > 0 && initialStep < 1 && minimumStep > 0 && minimumStep <= initialStep,
                     "adaptive policy out of range")
        require(maximumRetries >= 0 && maximumSparsity > 0 && maximumSparsity < 1 && maximumStages >= 1,
                     "adaptive limits out of range")
        self.tolerance = tolerance
        self.initialStep = initialStep
        self.minimumStep = minimumStep
        self.maximumRetries = maximumRetries
        self.maximumSparsity = maximumSparsity
        self.maximumStages = maximumStages
    }

    /// Where the search stands; checkpoints save it so a resumed run continues the same search.
    public struct State: Sendable, Equatable, Codable {
        public var acceptedSparsity: Double = 0
        public var step: Double
        public var retries = 0
        public var acceptedStages = 0
        public init(step: Double) { self.step = step }
    }

    public func initialState() -> State { State(step: initialStep) }

    /// The next target: the accepted sparsity plus `step` of what remains, capped at the
    /// maximum; nil when the search is over.
    public func nextTarget(_ state: State) -> Double? {
        guard state.acceptedStages < maximumStages, state.step >= minimumStep,
              state.retries <= maximumRetries, state.acceptedSparsity < maximumSparsity else { return nil }
        let target = min(1 - (1 - state.acceptedSparsity) * (1 - state.step), maximumSparsity)
        return target > state.acceptedSparsity ? target : nil
    }

    /// Whether an attempt that worsens the deciding metric by `worsening` (its change unit;
    /// negative: better) is within the tolerance.
    public func accepts(worsening: Double) -> Bool { worsening <= tolerance + 1e-9 }

    /// The state after an attempt at `target` was accepted or rejected.
    public func advance(_ state: State, target: Double, accepted: Bool) -> State {
        var next = state
        if accepted {
            next.acceptedSparsity = target
            next.acceptedStages += 1
        } else {
            next.step = state.step / 2
            next.retries += 1
        }
        return next
    }
}
