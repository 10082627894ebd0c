import CTopiaryKernels
import Foundation
import TopiaryNN
import TopiaryTensor

/// Adam (Kingma & Ba) with PyTorch's update order, and AdamW's decoupled weight decay.
///
///     g ← g·k (+ λw for coupled decay)          k: mask, 0 or 1
///     m ← (β₁m + (1−β₁)g)·k,  v ← (β₂v + (1−β₂)g²)·k
///     w ← (w·(1 − ηλ_decoupled) − (η/c₁)·m / (√v/√c₂ + ε))·k,   cᵢ = 1 − βᵢᵗ
public final class Adam: Optimizer {
    public enum WeightDecay: Sendable, Equatable {
        case none
        /// Adam: λw added to the gradient (L2 regularisation).
        case coupled(Float)
        /// AdamW: w shrunk by ηλ before the Adam step.
        case decoupled(Float)
    }

    public let store: ParameterStore
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    public let weightDecay: WeightDecay
    public let firstMoment: Tensor
    public let secondMoment: Tensor
    public let ranges: [(flat: Range<Int>, compactStart: Int)]
    /// `ranges` cut where weight decay starts or stops applying or the learning-rate scale
    /// changes: (flat, compact start, decays, learning-rate scale).
    let groups: [Group]
    struct Group: Equatable {
        var flat: Range<Int>
        let compactStart: Int
        let decays: Bool
        let learningRateScale: Float
    }
    public private(set) var stepCount = 0

    /// - Parameter decays: which parameters weight decay applies to (all, as PyTorch's
    ///   default; GPT-2 training decays matrices and embeddings only: `Parameter.isMatrix`).
    public init(store: ParameterStore, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                weightDecay: WeightDecay = .none, decays: (Parameter) -> Bool = { _ in true }) {
        require((0..<1).contains(beta1) && (0..<1).contains(beta2),
                     "Adam betas must lie in [0, 1), but got \(beta1), \(beta2)")
        require(epsilon > 0, "Adam epsilon must be > 0, but got \(epsilon)")
        self.store = store
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        ranges = store.trainableRanges
        groups = Adam.groups(store: store, ranges: ranges, decays: decays)
        firstMoment = Tensor(zeros: [store.trainableFlatCount])
        secondMoment = Tensor(zeros: [store.trainableFlatCount])
    }

    public var stateBuffers: [String: Tensor] { ["adam.m": firstMoment, "adam.v": secondMoment] }

    /// Restores the step counter from a checkpoint (moments are restored through `stateBuffers`).
    public func restoreStepCount(_ count: Int) { stepCount = count }

    public func step(learningRate: Float) {
        stepCount += 1
        let (w, g, k, m, v) = (store.values, store.grads, store.masks, firstMoment, secondMoment)
        for group in groups {
            let c = constants(group, learningRate: learningRate).kernelConstants
            parallelChunks(count: group.flat.count, parts: OptimizerSweep.parts(group.flat.count)) { part in
                let (flat, compact) = (group.flat.lowerBound + part.lowerBound, group.compactStart + part.lowerBound)
                topiary_adam_sweep(part.count, w.pointer + flat, g.pointer + flat, k.pointer + flat, m.pointer + compact, v.pointer + compact, c)
            }
        }
    }

    /// The step's constants for one group: its scaled learning rate, with or without decay.
    func constants(_ group: Group, learningRate: Float) -> AdamConstants {
        let constants = AdamConstants(self, learningRate: learningRate * group.learningRateScale)
        return group.decays ? constants : constants.withoutDecay
    }

    /// The trainable ranges split at parameters where `decays` or the learning-rate scale
    /// changes, adjacent pieces of one kind merged (one group per range when every parameter
    /// decays at the same rate).
    static func groups(store: ParameterStore, ranges: [(flat: Range<Int>, compactStart: Int)],
                       decays: (Parameter) -> Bool) -> [Group] {
        let trainable = store.parameters.filter(\.trainable)
        var groups: [Group] = []
        for range in ranges {
            let inside = trainable.filter { range.flat.contains($0.offset) }
            for (index, parameter) in inside.enumerated() {
                let start = index == 0 ? range.flat.lowerBound : parameter.offset
                let end = index + 1 < inside.count ? inside[index + 1].offset : range.flat.upperBound
                let (flag, scale) = (decays(parameter), parameter.learningRateScale)
                if let last = groups.last, last.decays == flag, last.learningRateScale == scale, last.flat.upperBound == start {
                    groups[groups.count - 1].flat = last.flat.lowerBound..<end
                } else {
                    groups.append(Group(flat: start..<end, compactStart: range.compactStart + (start - range.flat.lowerBound),
                                        decays: flag, learningRateScale: scale))
                }
            }
        }
        return groups
    }

    /// The same update, one element at a time in plain scalar code: the reference `step` is
    /// tested against.
    public func referenceStep(learningRate: Float) {
        stepCount += 1
        for group in groups {
            let c = constants(group, learningRate: learningRate)
            for (offset, i) in group.flat.enumerated() {
                let j = group.compactStart + offset
                let k = store.masks[i]
                var w = store.values[i]
                let g = (store.grads[i] + c.coupledDecay * w) * k
                let m = (beta1 * firstMoment[j] + (1 - beta1) * g) * k
                let v = (beta2 * secondMoment[j] + (1 - beta2) * g * g) * k
                w = w * c.decoupledShrink - c.stepSize * m / (v.squareRoot() * c.inverseRootCorrection2 + epsilon)
                store.values[i] = w * k
                store.grads[i] = g
                firstMoment[j] = m
                secondMoment[j] = v
            }
        }
    }
}

struct AdamConstants: Sendable {
    let beta1, beta2, epsilon, stepSize, inverseRootCorrection2: Float
    var coupledDecay, decoupledShrink: Float

    init(_ adam: Adam, learningRate: Float) {
        let t = Float(adam.stepCount)
        beta1 = adam.beta1
        beta2 = adam.beta2
        epsilon = adam.epsilon
        stepSize = learningRate / (1 - pow(adam.beta1, t))
        inverseRootCorrection2 = 1 / (1 - pow(adam.beta2, t)).squareRoot()
        switch adam.weightDecay {
        case .none: (coupledDecay, decoupledShrink) = (0, 1)
        case .coupled(let lambda): (coupledDecay, decoupledShrink) = (lambda, 1)
        case .decoupled(let lambda): (coupledDecay, decoupledShrink) = (0, 1 - learningRate * lambda)
        }
    }

    /// The same step for parameters weight decay does not apply to.
    var withoutDecay: AdamConstants {
        var plain = self
        (plain.coupledDecay, plain.decoupledShrink) = (0, 1)
        return plain
    }

    var kernelConstants: topiary_adam_constants {
        topiary_adam_constants(beta1: beta1, beta2: beta2, epsilon: epsilon, step_size: stepSize,
                               inverse_root_correction2: inverseRootCorrection2, coupled_decay: coupledDecay,
                               decoupled_shrink: decoupledShrink)
    }
}

