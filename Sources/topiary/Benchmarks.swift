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
        let targets = try pruneByMagnitude(model, task: task, calibration: batches, to: sparsity)
        let masked = try runEpochs(5e-4, "masked")
        return EpochFigures(denseEpochSeconds: dense, maskedEpochSeconds: masked,
                            maskedSparsity: SparsityAccounting(targets).sparsity, trainRows: train.count,
                            denseTestAccuracy: denseAccuracy, maskedTestAccuracy: Evaluation.measure(model, task: task, on: test)["accuracy"]!)
    }

    /// Global magnitude pruning of every prunable matrix to `sparsity`; returns the matrices.
    @discardableResult
    static func pruneByMagnitude(_ model: any Model, task: any Task, calibration: BatchIterator, to sparsity: Double) throws -> [PrunableMatrix] {
        var context = ScoringContext(model: model, task: task, calibration: calibration, calibrationBatches: 1, generator: SeededGenerator(seed: 0))
        let targets = model.prunableMatrices
        try UnstructuredPruner(scope: .global).prune(targets, scores: try MagnitudeScorer().scores(for: targets, context: &context), to: sparsity)
        return targets
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

    public struct StepFigures {
        /// Seconds per optimizer step (forward, loss, backward, clipping, AdamW), dense and
        /// after 50 % global magnitude pruning; and the dense step's parts.
        public var dense: [Double], masked: [Double]
        public var forward: Double, backward: Double, update: Double
    }

    /// Workload W3's training step (../shared/reference/torch_tiny_gpt.py): the 0.84 M GPT,
    /// batch 16 windows of 128 bytes of the Jargon File, AdamW (decay on matrices, clip 1).
    public static func w3Steps(steps: Int, progress: ((String) -> Void)? = nil) throws -> StepFigures {
        var initGenerator = SeededGenerator(seed: 0, stream: "init")
        let model = try Sequential.gpt(.w3, generator: &initGenerator)
        let corpus = try TextCorpus.load("jargon")
        var windows = SeededGenerator(seed: 0, stream: "windows")
        let data = TextWindows.random(corpus.split(trainFraction: 0.9).train, count: 16 * (steps + 3), length: 128, generator: &windows)
        let task = LanguageModelTask()
        var parts = (forward: [Double](), backward: [Double](), update: [Double]())
        func run(_ label: String) -> [Double] {
            let adam = Adam(store: model.store, beta2: 0.99, weightDecay: .decoupled(0.1), decays: \.isMatrix)
            var seconds: [Double] = []
            for step in 0..<(steps + 3) {
                let rows = data.inputs.rowSlice(step * 16, count: 16), targets = data.targets.rowSlice(step * 16, count: 16)
                let t0 = monotonicNanoseconds()
                model.store.zeroGrads()
                let (_, gradient) = task.lossAndGradient(output: model.forward(rows), targets: targets)
                let t1 = monotonicNanoseconds()
                model.backward(gradient)
                let t2 = monotonicNanoseconds()
                model.store.clipGradientNorm(to: 1)
                adam.step(learningRate: 3e-4)
                let t3 = monotonicNanoseconds()
                guard step >= 3 else { continue }   // warm-up: buffers sized, caches filled
                seconds.append(Double(t3 - t0) / 1e9)
                if label == "dense" {
                    parts.forward.append(Double(t1 - t0) / 1e9)
                    parts.backward.append(Double(t2 - t1) / 1e9)
                    parts.update.append(Double(t3 - t2) / 1e9)
                }
            }
            progress?(String(format: "W3 %@ steps: median %.4f s", label, median(seconds)))
            return seconds
        }
        let dense = run("dense")
        try pruneByMagnitude(model, task: task, calibration: BatchIterator(dataset: data, batchSize: 16), to: 0.5)
        let masked = run("masked")
        return StepFigures(dense: dense, masked: masked, forward: median(parts.forward), backward: median(parts.backward), update: median(parts.update))
    }

    /// Where a W3 step's time goes: each layer kind of the GPT alone at the step's shapes
    /// (16 × 128 positions, width 128), forward and backward, median of `repetitions` calls,
    /// times how often a step runs it. Their sum beside the whole step shows the overhead
    /// between layers.
    public static func w3Parts(repetitions: Int) throws -> [(name: String, count: Int, forward: Double, backward: Double)] {
        let c = GPTConfiguration.w3
        var g = SeededGenerator(seed: 0, stream: "parts")
        let x = Tensor(zeros: [16, c.context, c.channels]), wide = Tensor(zeros: [16, c.context, 4 * c.channels])
        g.fillNormal(x)
        g.fillNormal(wide)
        func time(_ layer: any Layer, input: Tensor, inputShape: [Int]) throws -> (Double, Double) {
            _ = try Sequential(inputShape: inputShape, layers: [layer], generator: &g)
            var forward: [Double] = [], backward: [Double] = []
            for round in 0..<(repetitions + 2) {
                let t0 = monotonicNanoseconds()
                let y = layer.forward(input)
                let t1 = monotonicNanoseconds()
                _ = layer.backward(y, needsInputGradient: true)
                let t2 = monotonicNanoseconds()
                if round >= 2 { forward.append(Double(t1 - t0) / 1e9); backward.append(Double(t2 - t1) / 1e9) }
            }
            return (median(forward), median(backward))
        }
        let shape = [c.context, c.channels]
        var rows: [(name: String, count: Int, forward: Double, backward: Double)] = []
        func add(_ name: String, _ count: Int, _ layer: any Layer, _ input: Tensor, _ inputShape: [Int]) throws {
            let (f, b) = try time(layer, input: input, inputShape: inputShape)
            rows.append((name, count, f, b))
        }
        try add("attention (qkv, heads, proj)", c.layers, CausalSelfAttention(name: "attn", channels: c.channels, heads: c.heads), x, shape)
        try add("  of which qkv Linear", c.layers, Linear(name: "qkv", inFeatures: c.channels, outFeatures: 3 * c.channels), x, shape)
        try add("  of which proj Linear", c.layers, Linear(name: "proj", inFeatures: c.channels, outFeatures: c.channels), x, shape)
        try add("mlp.fc Linear", c.layers, Linear(name: "fc", inFeatures: c.channels, outFeatures: 4 * c.channels), x, shape)
        try add("GELU", c.layers, ActivationLayer(name: "gelu", .gelu), wide, [c.context, 4 * c.channels])
        try add("mlp.proj Linear", c.layers, Linear(name: "proj", inFeatures: 4 * c.channels, outFeatures: c.channels), wide, [c.context, 4 * c.channels])
        try add("LayerNorm", 2 * c.layers + 1, LayerNorm(name: "ln", features: c.channels), x, shape)
        let tokens = Embedding(name: "wte", count: c.vocabulary, features: c.channels)
        _ = try Sequential(inputShape: [1], layers: [tokens], generator: &g)
        try add("tied head (logits)", 1, TiedEmbeddingHead(name: "head", tiedTo: tokens), x, shape)
        return rows
    }
}
