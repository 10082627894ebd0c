import Foundation
import TopiaryData
import TopiaryMetrics
import TopiaryNN
import TopiaryOptim
import TopiaryRun
import TopiarySparsity
import TopiarySpec
import TopiaryTensor
import TopiaryTraining

/// Throughput figures `topiary bench` prints. Release builds only; never run as tests.
public enum Benchmarks {
    /// sgemm throughput in GFLOP/s for C (m, n) = A (m, k) · B (k, n), best of `repetitions`
    /// timed calls after a warm-up (best-of filters out other work on a shared machine).
    public static func sgemmGFLOPS(m: Int, n: Int, k: Int, repetitions: Int = 10) -> Double {
        let a = Tensor(zeros: [m, k]), b = Tensor(zeros: [k, n]), c = Tensor(zeros: [m, n])
        var generator = SeededGenerator(seed: 1)
        for i in 0..<a.count { a[i] = generator.nextFloat(in: -1, 1) }
        for i in 0..<b.count { b[i] = generator.nextFloat(in: -1, 1) }
        let stats = LatencyHarness.measure(warmup: 2, repetitions: repetitions) { matmul(a, b, into: c) }
        return 2 * Double(m) * Double(n) * Double(k) / (stats.minMicroseconds * 1e3)
    }

    /// The three GEMMs of one W1 training step's first layer, batch 128: forward X·Wᵀ,
    /// weight gradient dYᵀ·X (the input gradient of layer 1 is never formed). GFLOP/s over all.
    public static func w1LayerGFLOPS(repetitions: Int = 50) -> Double {
        let x = Tensor(zeros: [128, 784]), w = Tensor(zeros: [300, 784]), y = Tensor(zeros: [128, 300])
        let dw = Tensor(zeros: [300, 784])
        var generator = SeededGenerator(seed: 2)
        for t in [x, w, y] { for i in 0..<t.count { t[i] = generator.nextFloat(in: -1, 1) } }
        let stats = LatencyHarness.measure(warmup: 5, repetitions: repetitions) {
            matmul(x, w, transposeB: true, into: y)
            matmul(y, transposeA: true, x, into: dw)
        }
        return 2 * 2 * 128.0 * 300 * 784 / (stats.minMicroseconds * 1e3)
    }

    /// Microseconds (best of many) of one Adam step over an MLP's parameters (W1's 266,610 by
    /// default) with a 90 % mask, the sweep split into `parts`.
    public static func adamStepMicroseconds(parts: Int, hiddenSizes: [Int] = [300, 100]) -> Double {
        var generator = SeededGenerator(seed: 3, stream: "init")
        let model = Sequential.multilayerPerceptron(inputFeatures: 784, hiddenSizes: hiddenSizes, outputs: 10,
                                                    generator: &generator)
        for matrix in model.prunableMatrices {
            for i in 0..<matrix.count where generator.nextUnitFloat() < 0.9 { matrix.parameter.mask[i] = 0 }
        }
        model.store.applyMasks()
        let adam = Adam(store: model.store)
        let saved = OptimizerSweep.maximumParts
        OptimizerSweep.maximumParts = parts
        defer { OptimizerSweep.maximumParts = saved }
        return LatencyHarness.measure(warmup: 20, repetitions: 500) { adam.step(learningRate: 1e-3) }.minMicroseconds
    }

    public struct EpochFigures: Sendable {
        public var denseEpochSeconds: [Double]
        public var maskedEpochSeconds: [Double]
        public var maskedSparsity: Double
        public var trainRows: Int
        public var denseTestAccuracy: Double
        public var maskedTestAccuracy: Double
    }

    /// Training epochs of `model` on the full training set (as the PyTorch references time
    /// them): Adam lr 1e-3, batch 128, `epochs` dense epochs; then global magnitude pruning
    /// of every prunable matrix to `sparsity` and `epochs` masked epochs with Adam lr 5e-4.
    public static func trainingEpochs(_ model: any Model, train: Dataset, test: Dataset, epochs: Int, sparsity: Double,
                              progress: ((String) -> Void)? = nil) throws -> EpochFigures {
        let task = ClassificationTask()
        var shuffle = SeededGenerator(seed: 0, stream: "shuffle")
        let batches = BatchIterator(dataset: train, batchSize: 128)
        func runEpochs(_ learningRate: Float, _ label: String) throws -> [Double] {
            let trainer = Trainer(model: model, task: task, optimizer: Adam(store: model.store),
                                  schedule: LearningRateSchedule(baseRate: learningRate, totalSteps: epochs * batches.batchesPerEpoch),
                                  batches: batches)
            return try (1...epochs).map { epoch in
                let seconds = try trainer.runEpoch(generator: &shuffle).seconds
                progress?("\(label) epoch \(epoch)/\(epochs): \(String(format: "%.3f", seconds)) s")
                return seconds
            }
        }
        let dense = try runEpochs(1e-3, "dense")
        let denseAccuracy = Evaluation.measure(model, task: task, on: test)["accuracy"]!
        var context = ScoringContext(model: model, task: task, calibration: batches, calibrationBatches: 1, generator: SeededGenerator(seed: 0))
        let targets = model.prunableMatrices
        try UnstructuredPruner(scope: .global).prune(targets, scores: try MagnitudeScorer().scores(for: targets, context: &context),
                                                     to: sparsity)
        let masked = try runEpochs(5e-4, "masked")
        return EpochFigures(denseEpochSeconds: dense, maskedEpochSeconds: masked,
                            maskedSparsity: SparsityAccounting(targets).sparsity, trainRows: train.count,
                            denseTestAccuracy: denseAccuracy, maskedTestAccuracy: Evaluation.measure(model, task: task, on: test)["accuracy"]!)
    }

    /// Workload W1 (LeNet-300-100 on Fashion-MNIST) or W2 (LeNet-5), seed 0.
    public static func workloadEpochs(_ workload: String, dataDirectory: String, epochs: Int, sparsity: Double,
                                      progress: ((String) -> Void)? = nil) throws -> EpochFigures {
        let (train, test) = try FashionMNIST.load(directory: dataDirectory)
        var initGenerator = SeededGenerator(seed: 0, stream: "init")
        let spec = workload == "w2" ? ModelSpec(architecture: "lenet5") : ModelSpec(architecture: "mlp", hiddenSizes: [300, 100])
        let model = try ModelFactory.make(spec, dataShape: train.inputShape, outputs: 10, generator: &initGenerator)
        return try trainingEpochs(model, train: train.reshapingInputs(model.inputShape), test: test.reshapingInputs(model.inputShape),
                          epochs: epochs, sparsity: sparsity, progress: progress)
    }
}
