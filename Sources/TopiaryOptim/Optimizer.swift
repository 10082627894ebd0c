import TopiaryNN
import TopiaryTensor

/// An optimizer is per-parameter state plus one update rule, applied to the trainable
/// parameters of a store in flat, masked sweeps (one per contiguous run of trainable
/// parameters; a single sweep when nothing is frozen). Frozen parameters are never touched and
/// have no state: moments live in a compact buffer covering `ranges` only.
///
/// Mask contract (the invariant pruning relies on): after `step`, wherever the mask is 0 the
/// weight, its gradient and every moment of the optimizer state are exactly 0.0, so no
/// pruned weight can come back, however many steps follow.
public protocol Optimizer: AnyObject {
    var store: ParameterStore { get }
    /// The store's trainable ranges when the optimizer was made (`ParameterStore.trainableRanges`).
    var ranges: [(flat: Range<Int>, compactStart: Int)] { get }
    /// Applies one update with the given learning rate to every parameter.
    func step(learningRate: Float)
    /// Named state buffers (compact: the trainable ranges back to back), for checkpoints and tests.
    var stateBuffers: [String: Tensor] { get }
    /// Number of steps taken (Adam's bias correction depends on it).
    var stepCount: Int { get }
    /// Sets the step counter when state is restored from a checkpoint.
    func restoreStepCount(_ count: Int)
}

extension Optimizer {
    /// Zeroes every state buffer where the mask is 0: called when pruning shrinks the masks.
    public func applyMasks() {
        for buffer in stateBuffers.values {
            for range in ranges {
                let state = buffer.pointer + range.compactStart, mask = store.masks.pointer + range.flat.lowerBound
                simdMap(range.flat.count, state, mask, state, { $0 * $1 }, { $0 * $1 })
            }
        }
    }

    /// Calls `body` with each part of each trainable range (flat start, compact start,
    /// count), split over cores for long ranges.
    func sweep(_ body: @Sendable (Int, Int, Int) -> Void) {
        for range in ranges {
            let count = range.flat.count
            parallelChunks(count: count, parts: OptimizerSweep.parts(count)) { part in
                body(range.flat.lowerBound + part.lowerBound, range.compactStart + part.lowerBound, part.count)
            }
        }
    }

    /// (flat index, compact index) of every trainable element, in order: for the scalar references.
    func forEachTrainableIndex(_ body: (Int, Int) -> Void) {
        for range in ranges { for (k, i) in range.flat.enumerated() { body(i, range.compactStart + k) } }
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
