import Foundation
import TopiaryTensor

/// Mean softmax cross-entropy over a batch of logits (B, C) with integer labels in 0..<C.
/// The gradient with respect to the logits is (softmax(z) − onehot(y)) / B.
public final class SoftmaxCrossEntropy {
    private var gradient = ActivationBuffer()
    public init() {}

    /// Mean loss over the batch, and dLoss/dLogits (B, C), valid until the next call.
    public func lossAndGradient(logits: Tensor, labels: [Int32]) -> (loss: Float, gradient: Tensor) {
        let (b, c) = (logits.rows, logits.columns)
        require(labels.count == b, "\(b) logit rows but \(labels.count) labels")
        let dz = gradient.rows(b, columns: c)
        var lossSum = 0.0
        let scale = 1 / Float(b)
        for r in 0..<b {
            let z = logits.pointer + r * c
            let g = dz.pointer + r * c
            let label = Int(labels[r])
            require(label >= 0 && label < c, "label \(label) outside 0..<\(c)")
            let logSumExp = SoftmaxCrossEntropy.logSumExp(z, c)
            lossSum += Double(logSumExp - z[label])
            for j in 0..<c { g[j] = exp(z[j] - logSumExp) * scale }  // softmax(z)_j / B
            g[label] -= scale
        }
        return (Float(lossSum / Double(b)), dz)
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
        var maxLogit = z[0]
        for j in 1..<c { maxLogit = max(maxLogit, z[j]) }
        var sum: Float = 0
        for j in 0..<c { sum += exp(z[j] - maxLogit) }
        return maxLogit + log(sum)
    }
}
