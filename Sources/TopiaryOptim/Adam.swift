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
    public private(set) var stepCount = 0

    public init(store: ParameterStore, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                weightDecay: WeightDecay = .none) {
        require((0..<1).contains(beta1) && (0..<1).contains(beta2),
                     "Adam betas must lie in [0, 1), but got \(beta1), \(beta2)")
        require(epsilon > 0, "Adam epsilon must be > 0, but got \(epsilon)")
        self.store = store
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        ranges = store.trainableRanges
        firstMoment = Tensor(zeros: [store.trainableFlatCount])
        secondMoment = Tensor(zeros: [store.trainableFlatCount])
    }

    public var stateBuffers: [String: Tensor] { ["adam.m": firstMoment, "adam.v": secondMoment] }

    /// Restores the step counter from a checkpoint (moments are restored through `stateBuffers`).
    public func restoreStepCount(_ count: Int) { stepCount = count }

    public func step(learningRate: Float) {
        stepCount += 1
        let c = AdamConstants(self, learningRate: learningRate).kernelConstants
        let (w, g, k, m, v) = (store.values, store.grads, store.masks, firstMoment, secondMoment)
        sweep { flat, compact, count in
            topiary_adam_sweep(count, w.pointer + flat, g.pointer + flat, k.pointer + flat, m.pointer + compact, v.pointer + compact, c)
        }
    }

    /// The same update, one element at a time in plain scalar code: the reference `step` is
    /// tested against.
    public func referenceStep(learningRate: Float) {
        stepCount += 1
        let c = AdamConstants(self, learningRate: learningRate)
        forEachTrainableIndex { i, j in
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

struct AdamConstants: Sendable {
    let beta1, beta2, epsilon, stepSize, inverseRootCorrection2, coupledDecay, decoupledShrink: Float

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

    var kernelConstants: topiary_adam_constants {
        topiary_adam_constants(beta1: beta1, beta2: beta2, epsilon: epsilon, step_size: stepSize,
                               inverse_root_correction2: inverseRootCorrection2, coupled_decay: coupledDecay,
                               decoupled_shrink: decoupledShrink)
    }
}

