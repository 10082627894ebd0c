import TopiaryNN
import TopiaryTensor

/// An optimizer is per-parameter state plus one update rule, applied to every parameter of a
/// store in one flat, masked sweep.
///
/// Mask contract (the invariant pruning relies on): after `step`, wherever the mask is 0 the
/// weight, its gradient and every moment of the optimizer state are exactly 0.0, so no
/// pruned weight can come back, however many steps follow.
public protocol Optimizer: AnyObject {
    var store: ParameterStore { get }
    /// Applies one update with the given learning rate to every parameter.
    func step(learningRate: Float)
    /// Named state buffers (same flat layout as the store), for checkpoints and tests.
    var stateBuffers: [String: Tensor] { get }
    /// Number of steps taken (Adam's bias correction depends on it).
    var stepCount: Int { get }
    /// Sets the step counter when state is restored from a checkpoint.
    func restoreStepCount(_ count: Int)
}

extension Optimizer {
    /// Zeroes every state buffer where the mask is 0: called when pruning shrinks the masks.
    public func applyMasks() {
        for buffer in stateBuffers.values { multiply(buffer, store.masks, into: buffer) }
    }
}

/// How optimizer sweeps split over cores. A sweep of at least `threshold` floats is split
/// into `maximumParts` (the update is memory-bound: a second core roughly doubles its
/// bandwidth; below the threshold the hand-off costs more than it saves).
public enum OptimizerSweep {
    nonisolated(unsafe) public static var maximumParts = 2
    public static let threshold = 1 << 16

    static func parts(_ count: Int) -> Int { count >= threshold ? maximumParts : 1 }
}
