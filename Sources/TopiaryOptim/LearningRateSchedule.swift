import Foundation
import TopiaryTensor

/// A learning rate as a plain function of the optimizer step t ∈ 0..<totalSteps.
public struct LearningRateSchedule: Sendable, Equatable, Codable {
    public enum Shape: Sendable, Equatable, Codable {
        case constant
        /// Linear warm-up, then half a cosine from the base rate down to base·finalFraction.
        case cosine(warmupSteps: Int, finalFraction: Float)
        /// Warmup-Stable-Decay (MiniCPM): linear warm-up, a constant plateau, then a decay over
        /// the last `decayFraction` of the steps down to base·finalFraction. Because the decay
        /// happens only at the end, a plateau checkpoint can be reused for a longer run.
        case warmupStableDecay(warmupSteps: Int, decayFraction: Float, decay: Decay, finalFraction: Float)
    }

    public enum Decay: String, Sendable, Equatable, Codable, CaseIterable {
        /// rate falls linearly from base to base·finalFraction.
        case linear
        /// rate falls geometrically: base·finalFraction^(progress).
        case exponential
    }

    public let baseRate: Float
    public let totalSteps: Int
    public let shape: Shape

    public init(baseRate: Float, totalSteps: Int, shape: Shape = .constant) {
        require(baseRate > 0, "learning rate must be > 0, but got \(baseRate)")
        require(totalSteps > 0, "steps must be > 0, but got \(totalSteps)")
        switch shape {
        case .constant: break
        case .cosine(let warmup, let final):
            require(warmup >= 0 && warmup < totalSteps, "warm-up steps must lie in [0, \(totalSteps)), but got \(warmup)")
            require(final >= 0 && final <= 1, "final fraction must lie in [0, 1], but got \(final)")
        case .warmupStableDecay(let warmup, let decayFraction, let decay, let final):
            require(warmup >= 0 && warmup < totalSteps, "warm-up steps must lie in [0, \(totalSteps)), but got \(warmup)")
            require(decayFraction > 0 && decayFraction <= 1, "decay fraction must lie in (0, 1], but got \(decayFraction)")
            require(final >= 0 && final <= 1, "final fraction must lie in [0, 1], but got \(final)")
            require(decay == .linear || final > 0, "exponential decay needs a final fraction > 0")
        }
        self.baseRate = baseRate
        self.totalSteps = totalSteps
        self.shape = shape
    }

    /// A WSD schedule's plateau: the steps after warm-up and before decay, at the base rate
    /// (nil for other shapes). A checkpoint taken after step k − 1 of them can seed a decay branch.
    public var plateau: Range<Int>? {
        guard case .warmupStableDecay(let warmup, let decayFraction, _, _) = shape else { return nil }
        let decaySteps = max(Int((Float(totalSteps) * decayFraction).rounded()), 1)
        return warmup..<max(totalSteps - decaySteps, warmup)
    }

    /// The rate for optimizer step `step` (0-based). Steps past the end keep the last rate.
    public func callAsFunction(_ step: Int) -> Float {
        require(step >= 0, "step must be >= 0, but got \(step)")
        let t = min(step, totalSteps - 1)
        switch shape {
        case .constant:
            return baseRate
        case .cosine(let warmup, let final):
            if t < warmup { return baseRate * Float(t + 1) / Float(warmup) }
            let span = max(totalSteps - warmup - 1, 1)
            let progress = Double(t - warmup) / Double(span)
            let cosine = 0.5 * (1 + cos(Double.pi * progress))
            return baseRate * (final + (1 - final) * Float(cosine))
        case .warmupStableDecay(let warmup, _, let decay, let final):
            if t < warmup { return baseRate * Float(t + 1) / Float(warmup) }
            let decayStart = plateau!.upperBound
            if t < decayStart { return baseRate }
            let progress = Float(t - decayStart + 1) / Float(totalSteps - decayStart)
            switch decay {
            case .linear: return baseRate * (1 - (1 - final) * progress)
            case .exponential: return baseRate * pow(final, progress)
            }
        }
    }
}
