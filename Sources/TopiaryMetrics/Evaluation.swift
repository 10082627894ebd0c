import TopiaryData
import TopiaryInference
import TopiaryNN
import TopiaryTensor

/// Accuracy and mean loss of a classifier on a labelled set.
public struct Evaluation: Sendable, Equatable, Codable {
    public let accuracy: Double
    public let loss: Double
    public let count: Int

    /// Runs the model over `dataset` in batches of `batchSize` (dataset order).
    public static func measure(_ model: Sequential, on dataset: LabeledDataset, batchSize: Int = 1000) -> Evaluation {
        measure(on: dataset, batchSize: batchSize) { model.forward($0) }
    }

    /// The same for a model prepared for inference (an engine's accuracy, e.g. int8).
    public static func measure(_ model: InferenceModel, on dataset: LabeledDataset, batchSize: Int = 1000) -> Evaluation {
        measure(on: dataset, batchSize: batchSize) { model.predict($0) }
    }

    /// `logits` maps a batch of inputs (B, features) to logits (B, classes).
    static func measure(on dataset: LabeledDataset, batchSize: Int, logits: (Tensor) -> Tensor) -> Evaluation {
        precondition(dataset.count > 0, "cannot evaluate on an empty data set")
        var lossSum = 0.0
        var correct = 0
        var start = 0
        while start < dataset.count {
            let n = min(batchSize, dataset.count - start)
            let result = SoftmaxCrossEntropy.evaluate(logits: logits(dataset.features.rowSlice(start, count: n)), labels: dataset.labels[start..<(start + n)])
            lossSum += result.lossSum
            correct += result.correct
            start += n
        }
        return Evaluation(accuracy: Double(correct) / Double(dataset.count),
                          loss: lossSum / Double(dataset.count), count: dataset.count)
    }
}
