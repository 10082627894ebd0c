import CTopiaryKernels
import TopiaryNN
import TopiaryTensor

/// SGD with optional momentum (PyTorch's form), Nesterov, and coupled weight decay:
///
///     g ← (g + λw)·k,  b ← (μb + g)·k,  w ← (w − η·(nesterov ? g + μb : b))·k
/// With μ = 0 there is no momentum buffer and w ← (w − ηg)·k.
public final class SGD: Optimizer {
    public let store: ParameterStore
    public let momentum: Float
    public let nesterov: Bool
    public let weightDecay: Float
    public let momentumBuffer: Tensor
    public let ranges: [(flat: Range<Int>, compactStart: Int)]
    public private(set) var stepCount = 0

    public init(store: ParameterStore, momentum: Float = 0, nesterov: Bool = false, weightDecay: Float = 0) {
        require(momentum >= 0 && momentum < 1, "SGD momentum must lie in [0, 1), but got \(momentum)")
        require(weightDecay >= 0, "weight decay must be >= 0, but got \(weightDecay)")
        require(!nesterov || momentum > 0, "Nesterov momentum needs momentum > 0")
        self.store = store
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        ranges = store.trainableRanges
        momentumBuffer = Tensor(zeros: [momentum > 0 ? store.trainableFlatCount : 0])
    }

    public var stateBuffers: [String: Tensor] { momentum > 0 ? ["sgd.momentum": momentumBuffer] : [:] }

    public func restoreStepCount(_ count: Int) { stepCount = count }

    public func step(learningRate: Float) {
        stepCount += 1
        let (w, g, k, b) = (store.values, store.grads, store.masks, momentumBuffer)
        let (mu, lambda, nesterov) = (momentum, weightDecay, Int32(nesterov ? 1 : 0))
        sweep { flat, compact, count in
            topiary_sgd_sweep(count, w.pointer + flat, g.pointer + flat, k.pointer + flat,
                              mu > 0 ? b.pointer + compact : nil, learningRate, mu, lambda, nesterov)
        }
    }

    /// Scalar, single-threaded reference of `step` for the tests.
    public func referenceStep(learningRate: Float) {
        stepCount += 1
        forEachTrainableIndex { i, j in
            let k = store.masks[i]
            let grad = (store.grads[i] + weightDecay * store.values[i]) * k
            var direction = grad
            if momentum > 0 {
                momentumBuffer[j] = (momentum * momentumBuffer[j] + grad) * k
                direction = nesterov ? grad + momentum * momentumBuffer[j] : momentumBuffer[j]
            }
            store.values[i] = (store.values[i] - learningRate * direction) * k
            store.grads[i] = grad
        }
    }
}
