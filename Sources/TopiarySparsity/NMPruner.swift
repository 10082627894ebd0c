import TopiaryNN
import TopiaryTensor

/// N:M semi-structured pruning along the fan-in (a Linear's inputs; a convolution's
/// (channel, ky, kx) order): in every row, each group of M
/// consecutive columns keeps at most N weights, the N highest-scored among those still
/// alive (ties by position), as sparse tensor cores and packed kernels expect (2:4, 4:8, …).
/// A matrix whose column count is not a multiple of M has a shorter last group, which keeps
/// at most N as well. Masks only shrink.
public struct NMPruner: Sendable {
    public let n: Int
    public let m: Int

    public init(n: Int, m: Int) {
        require(n >= 1 && m >= 2 && n < m && m <= 256, "need 1 <= N < M <= 256, got \(n):\(m)")
        self.n = n
        self.m = m
    }

    /// The sparsity N:M reaches on a matrix that starts dense (columns a multiple of M).
    public var sparsity: Double { 1 - Double(n) / Double(m) }

    /// Prunes every target to N:M; returns how many weights each lost.
    @discardableResult
    public func prune(_ targets: [PrunableMatrix], scores: [Tensor]) throws -> [Int] {
        require(targets.count == scores.count, "\(targets.count) targets but \(scores.count) score tensors")
        return zip(targets, scores).map { parameter, score in
            let (rows, columns) = (parameter.rows, parameter.fanIn)
            var pruned = 0
            for i in 0..<rows {
                for start in stride(from: 0, to: columns, by: m) {
                    let group = (start..<min(start + m, columns)).map { i * columns + $0 }
                    let alive = group.filter { parameter.mask[$0] != 0 }
                    guard alive.count > n else { continue }
                    // Highest score first; earlier position first among equals.
                    let keep = Set(alive.sorted { (score[$0], -$0) > (score[$1], -$1) }.prefix(n))
                    for index in alive where !keep.contains(index) {
                        parameter.mask[index] = 0
                        parameter.value[index] = 0
                        parameter.grad[index] = 0
                        pruned += 1
                    }
                }
            }
            return pruned
        }
    }

    /// Whether every group of M in `mask` (rows, columns) has at most N nonzeros.
    public static func isValid(_ mask: Tensor, n: Int, m: Int) -> Bool { NMMatrix.isValid(mask, n: n, m: m) }
}
