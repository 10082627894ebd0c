import TopiaryData
import TopiaryInference
import TopiaryNN
import TopiaryTensor

/// A model's metrics on a data set, as its task defines them (loss first; accuracy, RMSE, …).
public enum Evaluation {
    /// Runs the model over `dataset` in batches of `batchSize` (dataset order), in evaluation
    /// mode (BatchNorm on running statistics, no dropout).
    public static func measure(_ model: any Model, task: any Task, on dataset: Dataset, batchSize: Int = 1000) -> [String: Double] {
        model.setTraining(false)
        defer { model.setTraining(true) }
        return measure(task: task, on: dataset, batchSize: batchSize) { model.forward($0) }
    }

    /// The same for a model prepared for inference (an engine's metrics, e.g. int8).
    public static func measure(_ model: InferenceModel, task: any Task, on dataset: Dataset, batchSize: Int = 1000) -> [String: Double] {
        measure(task: task, on: dataset, batchSize: batchSize) { model.predict($0) }
    }

    /// The task's metrics of outputs computed elsewhere (an exported model's), (N, outputShape…)
    /// against the N rows of `targets`.
    public static func measure(outputs: Tensor, targets: Tensor, task: any Task) -> [String: Double] {
        var sums = MetricSums()
        task.accumulate(output: outputs, targets: targets, into: &sums)
        return task.finish(sums)
    }

    /// `outputs` maps a batch of inputs (B, inputShape…) to outputs (B, outputShape…).
    static func measure(task: any Task, on dataset: Dataset, batchSize: Int, outputs: (Tensor) -> Tensor) -> [String: Double] {
        precondition(dataset.count > 0, "cannot evaluate on an empty data set")
        var sums = MetricSums()
        var start = 0
        while start < dataset.count {
            let n = min(batchSize, dataset.count - start)
            task.accumulate(output: outputs(dataset.inputs.rowSlice(start, count: n)), targets: dataset.targets.rowSlice(start, count: n), into: &sums)
            start += n
        }
        return task.finish(sums)
    }
}
