import Foundation
import TopiaryTensor

/// Next-token prediction: logits (B, T, V) against the token ids (B, T) that follow each
/// position; the loss is the mean cross-entropy per token (nats). Metrics: the loss,
/// perplexity exp(loss), and bits per byte: the summed cross-entropy in bits over the UTF-8
/// bytes the target tokens stand for (loss/ln 2 when tokens are bytes). All lower is better;
/// the loss decides, its changes stated relative.
public final class LanguageModelTask: Task {
    public let kind = "language_model"
    private let loss = SoftmaxCrossEntropy()
    private var labels: [Int32] = []
    /// Bytes of text per token id (a BPE vocabulary's); nil: every token is one byte.
    private let tokenByteCounts: [Int]?

    public init(tokenByteCounts: [Int]? = nil) {
        self.tokenByteCounts = tokenByteCounts
    }

    public static let loss = MetricDefinition(name: "loss", meaning: "mean cross-entropy per token (nats)", higherIsBetter: false, change: .relative)
    public static let perplexity = MetricDefinition(name: "perplexity", meaning: "exp(mean cross-entropy per token)",
                                                    higherIsBetter: false, change: .relative)
    public static let bitsPerByte = MetricDefinition(name: "bits_per_byte", meaning: "cross-entropy in bits per byte of target text (loss / ln 2 for byte tokens)",
                                                     higherIsBetter: false, change: .relative)

    public var metrics: [MetricDefinition] { [Self.loss, Self.perplexity, Self.bitsPerByte] }
    public var decidingMetric: MetricDefinition { Self.loss }

    /// Targets (T) of token ids give outputs (T, V).
    public func outputShape(targetShape: [Int], classCount: Int?) -> [Int] { targetShape + [classCount ?? 256] }

    public func lossAndGradient(output: Tensor, targets: Tensor) -> (loss: Float, gradient: Tensor) {
        labels.refill(classIndicesOf: targets)
        let result = loss.lossAndGradient(logits: tokenRows(output), labels: labels)
        return (result.loss, result.gradient.reshaped(output.shape))
    }

    public func accumulate(output: Tensor, targets: Tensor, into sums: inout MetricSums) {
        labels.refill(classIndicesOf: targets)
        let result = SoftmaxCrossEntropy.evaluate(logits: tokenRows(output), labels: labels[...])
        sums.add("loss", result.lossSum)
        sums.add("bytes", Double(tokenByteCounts.map { counts in labels.reduce(0) { $0 + counts[Int($1)] } } ?? labels.count))
        sums.count += labels.count
    }

    public func finish(_ sums: MetricSums) -> [String: Double] {
        let mean = (sums.sums["loss"] ?? 0) / Double(max(sums.count, 1))
        let bytes = sums.sums["bytes"] ?? Double(sums.count)
        return ["loss": mean, "perplexity": exp(mean), "bits_per_byte": (sums.sums["loss"] ?? 0) / max(bytes, 1) / log(2)]
    }

    /// (B·T, V): one row of logits per predicted token.
    private func tokenRows(_ output: Tensor) -> Tensor {
        let vocabulary = output.shape.last!
        return output.reshaped([output.count / vocabulary, vocabulary])
    }
}
