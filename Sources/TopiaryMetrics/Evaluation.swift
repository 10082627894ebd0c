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

    /// Outputs (N, outputShape…) of `model` for all N rows of `inputs`, in batches.
    public static func outputs(_ model: InferenceModel, inputs: Tensor, inputShape: [Int], batchSize: Int = 1000) -> Tensor {
        let rows = inputs.shape[0]
        var result: Tensor?
        var start = 0
        while start < rows {
            let n = min(batchSize, rows - start)
            let batch = model.predict(inputs.rowSlice(start, count: n).reshaped([n] + inputShape))
            if result == nil { result = Tensor(zeros: [rows] + batch.shape.dropFirst()) }
            (result!.pointer + start * (batch.count / n)).update(from: batch.pointer, count: batch.count)
            start += n
        }
        return result ?? Tensor(zeros: [0])
    }

    /// Fraction of rows whose largest output is at the same index in `a` and `b`, each
    /// (rows × width); rows of one output count as agreeing within 1e-4 (relative to max(1, |b|)).
    public static func agreement(_ a: Tensor, _ b: Tensor, width: Int) -> Double {
        let rows = a.count / width
        guard rows > 0 else { return 1 }
        var same = 0
        for r in 0..<rows {
            let x = a.pointer + r * width, y = b.pointer + r * width
            if width == 1 {
                if abs(x[0] - y[0]) <= 1e-4 * max(1, abs(y[0])) { same += 1 }
                continue
            }
            var (ix, iy) = (0, 0)
            for j in 1..<width {
                if x[j] > x[ix] { ix = j }
                if y[j] > y[iy] { iy = j }
            }
            if ix == iy { same += 1 }
        }
        return Double(same) / Double(rows)
    }

    /// Largest |a − b| over all entries.
    public static func maxAbsDifference(_ a: Tensor, _ b: Tensor) -> Double {
        precondition(a.count == b.count, "\(a.count) outputs against \(b.count)")
        var worst: Float = 0
        for i in 0..<a.count { worst = max(worst, abs(a[i] - b[i])) }
        return Double(worst)
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
