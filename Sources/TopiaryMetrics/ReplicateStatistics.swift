import TopiaryTensor

/// Summary statistics over replicates (e.g. one figure from runs with different seeds), and
/// a percentile-bootstrap confidence interval for the difference between two groups.
public enum ReplicateStatistics {
    public static func mean(_ values: [Double]) -> Double {
        precondition(!values.isEmpty, "the mean of no values")
        return values.reduce(0, +) / Double(values.count)
    }

    /// Sample standard deviation (n − 1 in the denominator); nil for fewer than two values.
    public static func standardDeviation(_ values: [Double]) -> Double? {
        guard values.count >= 2 else { return nil }
        let m = mean(values)
        return (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - 1)).squareRoot()
    }

    /// How a difference between group B and group A is measured.
    public enum Difference: Sendable {
        /// mean(B) − mean(A), in the values' units.
        case absolute
        /// mean(B) / mean(A) − 1.
        case relative

        public func of(_ a: [Double], _ b: [Double]) -> Double {
            let (ma, mb) = (ReplicateStatistics.mean(a), ReplicateStatistics.mean(b))
            switch self {
            case .absolute: return mb - ma
            case .relative: return ma == 0 ? 0 : mb / ma - 1
            }
        }
    }

    /// Percentile bootstrap interval of `difference` between B and A at `confidence`
    /// (0.95 → the 2.5th and 97.5th percentiles of `resamples` resampled differences).
    /// Paired (`a[i]` and `b[i]` from the same replicate, e.g. the same seed): pairs are
    /// resampled together, which removes the replicate-to-replicate variation both share.
    /// Unpaired: each group is resampled on its own. Nil when a group has fewer than two
    /// values: one run says nothing about its spread.
    public static func bootstrapInterval(_ a: [Double], _ b: [Double], difference: Difference, paired: Bool,
                                         confidence: Double = 0.95, resamples: Int = 10_000,
                                         seed: UInt64 = 0) -> (low: Double, high: Double)? {
        precondition(confidence > 0 && confidence < 1 && resamples >= 1)
        guard a.count >= 2, b.count >= 2 else { return nil }
        precondition(!paired || a.count == b.count, "paired groups need equal sizes")
        var generator = SeededGenerator(seed: seed, stream: "bootstrap")
        var sampleA = [Double](repeating: 0, count: a.count), sampleB = [Double](repeating: 0, count: b.count)
        var differences: [Double] = []
        differences.reserveCapacity(resamples)
        for _ in 0..<resamples {
            if paired {
                for i in 0..<a.count {
                    let k = Int(generator.next() % UInt64(a.count))
                    sampleA[i] = a[k]
                    sampleB[i] = b[k]
                }
            } else {
                for i in 0..<a.count { sampleA[i] = a[Int(generator.next() % UInt64(a.count))] }
                for i in 0..<b.count { sampleB[i] = b[Int(generator.next() % UInt64(b.count))] }
            }
            differences.append(difference.of(sampleA, sampleB))
        }
        differences.sort()
        let tail = (1 - confidence) / 2
        return (quantile(differences, tail), quantile(differences, 1 - tail))
    }

    /// Linear interpolation between order statistics of sorted `values` (type 7, as NumPy's default).
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        let position = q * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down)), upper = min(lower + 1, sorted.count - 1)
        return sorted[lower] + (position - Double(lower)) * (sorted[upper] - sorted[lower])
    }
}
