import Foundation
import TopiaryNN
import TopiaryTensor

/// How much two scorers agree on one layer: the Spearman rank correlation of their scores over
/// the weights still alive, and the Jaccard overlap of the weights each would keep when the
/// layer keeps `keep` of them (top scores, ties by position).
public struct ScoreAgreement: Codable, Sendable, Equatable {
    public let layer: String
    public let scorerA: String
    public let scorerB: String
    public let spearman: Double
    public let jaccard: Double

    enum CodingKeys: String, CodingKey { case layer, scorerA = "scorer_a", scorerB = "scorer_b", spearman, jaccard }

    public init(layer: String, scorerA: String, scorerB: String, a: [Float], b: [Float], keep: Int) {
        require(a.count == b.count, "score vectors differ in length")
        self.layer = layer
        self.scorerA = scorerA
        self.scorerB = scorerB
        spearman = ScoreAgreement.spearman(a, b)
        jaccard = ScoreAgreement.jaccard(a, b, keep: keep)
    }

    /// Average ranks (ties share the mean of their positions), 1-based.
    static func ranks(_ values: [Float]) -> [Double] {
        let order = values.indices.sorted { values[$0] < values[$1] }
        var ranks = [Double](repeating: 0, count: values.count)
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count && values[order[end + 1]] == values[order[start]] { end += 1 }
            let rank = Double(start + end) / 2 + 1
            for k in start...end { ranks[order[k]] = rank }
            start = end + 1
        }
        return ranks
    }

    /// Pearson correlation of the ranks (0 when either side is constant).
    public static func spearman(_ a: [Float], _ b: [Float]) -> Double {
        let (ra, rb) = (ranks(a), ranks(b))
        let n = Double(a.count)
        guard n > 1 else { return 0 }
        let (ma, mb) = (ra.reduce(0, +) / n, rb.reduce(0, +) / n)
        var (cov, va, vb) = (0.0, 0.0, 0.0)
        for i in a.indices {
            cov += (ra[i] - ma) * (rb[i] - mb)
            va += (ra[i] - ma) * (ra[i] - ma)
            vb += (rb[i] - mb) * (rb[i] - mb)
        }
        return va > 0 && vb > 0 ? cov / (va * vb).squareRoot() : 0
    }

    /// |keep(a) ∩ keep(b)| / |keep(a) ∪ keep(b)| for the top-`keep` indices of each.
    public static func jaccard(_ a: [Float], _ b: [Float], keep: Int) -> Double {
        func top(_ s: [Float]) -> Set<Int> { Set(s.indices.sorted { (s[$0], -$0) > (s[$1], -$1) }.prefix(keep)) }
        let (ka, kb) = (top(a), top(b))
        let union = ka.union(kb).count
        return union == 0 ? 1 : Double(ka.intersection(kb).count) / Double(union)
    }
}
