import CTopiaryKernels
import Foundation
import TopiaryTensor

/// Mean softmax cross-entropy over a batch of logits (B, C) with integer labels in 0..<C.
/// The gradient with respect to the logits is (softmax(z) − onehot(y)) / B.
public final class SoftmaxCrossEntropy {
    private var gradient = ActivationBuffer()
    private var rowLosses = ActivationBuffer()
    public init() {}

    /// Mean loss over the batch, and dLoss/dLogits (B, C), valid until the next call. Rows are
    /// split over cores (a language model's B·T rows of V logits); their losses are summed in
    /// row order, so the result does not depend on the split.
    public func lossAndGradient(logits: Tensor, labels: [Int32]) -> (loss: Float, gradient: Tensor) {
        let (b, c) = (logits.rows, logits.columns)
        require(labels.count == b, "\(b) logit rows but \(labels.count) labels")
        if let bad = labels.first(where: { $0 < 0 || Int($0) >= c }) { require(false, "label \(bad) outside 0..<\(c)") }
        let dz = gradient.rows(b, columns: c)
        let losses = rowLosses.tensor([b])
        let (z, g, rowLoss, scale) = (UnsafePointer(logits.pointer), dz.pointer, losses.pointer, 1 / Float(b))
        labels.withUnsafeBufferPointer { labels in
            let labels = labels.baseAddress!
            // Parts of at least 32 K logits: a classifier's 128 × 10 is not worth a second thread.
            splitOverCores(b, minimumPerPart: max(1, 32_768 / max(c, 1)), alignment: 1) { range in
                let offset = range.lowerBound * c
                topiary_softmax_cross_entropy_rows(range.count, c, z + offset, labels + range.lowerBound, scale, g + offset,
                                                   rowLoss + range.lowerBound)
            }
        }
        var lossSum = 0.0
        for r in 0..<b { lossSum += Double(rowLoss[r]) }
        return (Float(lossSum / Double(b)), dz)
    }

    /// The plain loop the kernel is tested against: mean loss, and the gradient into `dz`.
    static func referenceLossAndGradient(logits: Tensor, labels: [Int32], into dz: Tensor) -> Float {
        let (b, c) = (logits.rows, logits.columns)
        var lossSum = 0.0
        let scale = 1 / Float(b)
        for r in 0..<b {
            let z = logits.pointer + r * c, g = dz.pointer + r * c, label = Int(labels[r])
            var maxLogit = z[0]
            for j in 1..<c { maxLogit = max(maxLogit, z[j]) }
            var sum: Float = 0
            for j in 0..<c { sum += exp(z[j] - maxLogit) }
            let logSumExp = maxLogit + log(sum)
            lossSum += Double(logSumExp - z[label])
            for j in 0..<c { g[j] = exp(z[j] - logSumExp) * scale }
            g[label] -= scale
        }
        return Float(lossSum / Double(b))
    }

    /// Summed loss and the number of rows whose arg-max equals the label (ties: first index).
    public static func evaluate(logits: Tensor, labels: ArraySlice<Int32>) -> (lossSum: Double, correct: Int) {
        let (b, c) = (logits.rows, logits.columns)
        require(labels.count == b, "\(b) logit rows but \(labels.count) labels")
        var lossSum = 0.0
        var correct = 0
        for (r, label) in zip(0..<b, labels) {
            let z = logits.pointer + r * c
            lossSum += Double(logSumExp(z, c) - z[Int(label)])
            var best = 0
            for j in 1..<c where z[j] > z[best] { best = j }
            if best == Int(label) { correct += 1 }
        }
        return (lossSum, correct)
    }

    /// log Σ exp(z_j), computed stably around the largest logit.
    @inline(__always)
    static func logSumExp(_ z: UnsafeMutablePointer<Float>, _ c: Int) -> Float {
        topiary_log_sum_exp(c, z)
    }
}
