import TopiaryTensor

/// How the server combines the clients' updates, coordinate by coordinate:
///
/// - `fedAvg`: the mean weighted by each client's training rows (McMahan et al., 2017).
///   FedProx (Li et al., 2020) aggregates so too; its proximal term acts on the clients.
/// - `trimmedMean(beta)`: per coordinate, drop the ⌊β·n⌋ largest and smallest values and
///   average the rest, unweighted (Yin et al., 2018): robust to a minority of poisoned clients.
/// - `median`: per coordinate, the median (the mean of the middle two for even n).
public enum UpdateAggregation: Sendable, Equatable {
    case fedAvg
    case trimmedMean(beta: Double)
    case median

    /// The aggregate of `updates` (equal-length flat tensors), `weights` the clients' rows.
    public func aggregate(_ updates: [Tensor], weights: [Double]) -> Tensor {
        precondition(!updates.isEmpty && updates.count == weights.count, "one weight per update, at least one update")
        let n = updates.count, count = updates[0].count
        precondition(updates.allSatisfy { $0.count == count }, "updates of different lengths")
        let result = Tensor(zeros: [count])
        switch self {
        case .fedAvg:
            let total = weights.reduce(0, +)
            precondition(total > 0, "client weights must sum to > 0")
            for (update, weight) in zip(updates, weights) {
                let share = Float(weight / total)
                let (source, target) = (update.pointer, result.pointer)
                for i in 0..<count { target[i] += share * source[i] }
            }
        case .trimmedMean(let beta):
            precondition((0..<0.5).contains(beta), "trimmed-mean beta must lie in [0, 0.5), but got \(beta)")
            let trim = Int(beta * Double(n)), kept = n - 2 * trim
            var column = [Float](repeating: 0, count: n)
            for i in 0..<count {
                for c in 0..<n { column[c] = updates[c][i] }
                column.sort()
                var sum: Float = 0
                for c in trim..<(n - trim) { sum += column[c] }
                result[i] = sum / Float(kept)
            }
        case .median:
            var column = [Float](repeating: 0, count: n)
            for i in 0..<count {
                for c in 0..<n { column[c] = updates[c][i] }
                column.sort()
                result[i] = n % 2 == 1 ? column[n / 2] : (column[n / 2 - 1] + column[n / 2]) / 2
            }
        }
        return result
    }
}
