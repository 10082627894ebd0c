import Foundation
import Testing
@testable import TopiaryData
@testable import TopiaryInference
@testable import TopiaryNN
@testable import TopiaryRun
@testable import TopiarySparsity
@testable import TopiarySpec
@testable import TopiaryStudy
@testable import TopiaryTensor

/// Scorers, structured pruning, sensitivity and score agreement on convolutional networks:
/// everything written against prunable matrices works on a convolution's (out × in·k²) view.
extension AllTests {
@Suite struct CNNPruningTests {
    /// conv1 (1→3, 3×3, pad 1) · ReLU · flatten · Linear: a convolution whose fan-in inputs
    /// (im2col rows) are easy to write out by hand.
    func tinyCNN(seed: UInt64) throws -> (Sequential, Dataset) {
        var g = SeededGenerator(seed: seed)
        let model = try Sequential(inputShape: [1, 6, 6], layers: [
            Convolution.conv2d("conv1", 1, 3, kernel: 3, padding: 1), ActivationLayer(name: "relu1", .relu),
            Flatten(name: "flatten"), Linear(name: "fc", inFeatures: 3 * 36, outFeatures: 4)], generator: &g)
        let data = Dataset(inputs: randomTensor([24, 1, 6, 6], &g), labels: (0..<24).map { Int32($0 % 4) }, classCount: 4)
        return (model, data)
    }

    func context(_ model: any Model, _ data: Dataset, batches: Int) -> ScoringContext {
        ScoringContext(model: model, task: ClassificationTask(), calibration: BatchIterator(dataset: data, batchSize: 8),
                       calibrationBatches: batches, generator: SeededGenerator(seed: 9))
    }

    /// Wanda on a convolution: |w[o, j]| · ‖column j of the unrolled inputs‖, the norm over
    /// every sample and every output position (Sun et al. treat each position as a token).
    @Test func wandaOnAConvolutionUsesTheUnrolledInputs() throws {
        let (model, data) = try tinyCNN(seed: 401)
        var context = context(model, data, batches: 2)
        let conv = model.prunableMatrices[0]
        #expect(conv.rows == 3 && conv.fanIn == 9 && conv.positions == 36)
        let scores = try WandaScorer().scores(for: [conv], context: &context)
        let shape = UnrollShape(channels: 1, height: 6, width: 6, kernelHeight: 3, kernelWidth: 3,
                                strideHeight: 1, strideWidth: 1, padHeight: 1, padWidth: 1)
        var squares = [Double](repeating: 0, count: 9)
        for sample in 0..<16 {
            let image = Array(data.inputs.toArray()[(sample * 36)..<(sample * 36 + 36)])
            let columns = NaiveUnroll.im2col(image, shape)   // (9, 36)
            for j in 0..<9 { for p in 0..<36 { squares[j] += Double(columns[j * 36 + p] * columns[j * 36 + p]) } }
        }
        for o in 0..<3 {
            for j in 0..<9 {
                let expected = abs(Double(conv.parameter.value[o * 9 + j])) * squares[j].squareRoot()
                #expect(abs(Double(scores[0][o * 9 + j]) - expected) <= 1e-5 * max(1, expected), "[\(o), \(j)]")
            }
        }
    }

    /// Every registered scorer scores every convolution and Linear of a CNN with BatchNorm and
    /// pooling: one finite score per weight, in the (rows × fan-in) layout.
    @Test func everyScorerScoresConvolutions() throws {
        var g = SeededGenerator(seed: 402)
        let model = try Sequential(inputShape: [2, 8, 8], layers: [
            Convolution.conv2d("conv1", 2, 4, kernel: 3, padding: 1), BatchNorm(name: "bn1", features: 4), ActivationLayer(name: "relu1", .relu),
            Pooling(name: "pool1", kind: .max, spatialDimensions: 2, kernel: 2), Convolution.conv2d("conv2", 4, 6, kernel: 3),
            ActivationLayer(name: "relu2", .relu), Flatten(name: "flatten"), Linear(name: "fc", inFeatures: 24, outFeatures: 3)], generator: &g)
        let data = Dataset(inputs: randomTensor([16, 2, 8, 8], &g), labels: (0..<16).map { Int32($0 % 3) }, classCount: 3)
        let targets = model.prunableMatrices
        #expect(targets.map(\.name) == ["conv1.weight", "conv2.weight", "fc.weight"])
        #expect(targets.map(\.fanIn) == [2 * 9, 4 * 9, 24])
        for name in ScorerRegistry.names {
            let scorer = try #require(ScorerRegistry.make(name))
            var context = context(model, data, batches: 2)
            if name == "movement" { context.movement = targets.map { randomTensor([$0.rows, $0.fanIn], &g) } }
            let before = model.store.values.copy()
            let scores = try scorer.scores(for: targets, context: &context)
            #expect(scores.map(\.shape) == targets.map { [$0.rows, $0.fanIn] }, "\(name)")
            #expect(scores.allSatisfy { $0.toArray().allSatisfy(\.isFinite) }, "\(name)")
            #expect(model.store.values.toArray() == before.toArray(), "\(name) changed the model it scored")
        }
    }

    /// Channel pruning of a CNN with BatchNorm: a removed filter takes its BatchNorm entries
    /// and the next convolution's input channels with it, and the compacted network (BatchNorm
    /// folded, really smaller) computes what the masked one computes.
    @Test func channelPrunedCNNCompactsToTheSameFunction() throws {
        var g = SeededGenerator(seed: 403)
        let model = try Sequential(inputShape: [2, 10, 10], layers: [
            Convolution.conv2d("conv1", 2, 6, kernel: 3, padding: 1), BatchNorm(name: "bn1", features: 6), ActivationLayer(name: "relu1", .relu),
            Pooling(name: "pool1", kind: .max, spatialDimensions: 2, kernel: 2), Convolution.conv2d("conv2", 6, 8, kernel: 3),
            BatchNorm(name: "bn2", features: 8), ActivationLayer(name: "relu2", .relu), Flatten(name: "flatten"),
            Linear(name: "fc", inFeatures: 8 * 9, outFeatures: 3)], generator: &g)
        settleBatchNormStatistics(model, &g)
        let targets = model.prunableMatrices
        try ChannelPruner().prune(targets, scores: targets.map { randomTensor($0.shape, &g) },
                                  couplings: targets.map(model.channelCoupling), to: 0.5)
        model.store.applyMasks()
        let bn1 = try #require(model.layers.compactMap { $0 as? BatchNorm }.first)
        for row in 0..<6 where !ChannelPruner.isAlive(targets[0], row: row) {
            #expect(bn1.weight.value[row] == 0 && bn1.bias.value[row] == 0, "bn1[\(row)] survives its filter")
            for o in 0..<8 { for k in 0..<9 { #expect(targets[1].mask[o * 54 + row * 9 + k] == 0) } }
        }
        #expect((0..<6).filter { ChannelPruner.isAlive(targets[0], row: $0) }.count == 3)
        #expect((0..<8).filter { ChannelPruner.isAlive(targets[1], row: $0) }.count == 4)
        let compact = try #require(InferenceModel.build(model, engine: .compact, threads: 1))
        let dense = try #require(InferenceModel.build(model, engine: .dense, threads: 1))
        #expect(compact.bytes < dense.bytes / 2)
        for batch in [1, 5] {
            let x = randomTensor([batch, 2, 10, 10], &g)
            #expect(maxRelativeError(compact.predict(x), model.forward(x).copy()) < 1e-5, "batch \(batch)")
        }
    }

    var leNetSpecEdit: (String) -> String {
        { $0.replacingOccurrences(of: "  architecture: mlp\n  hidden_sizes: [32, 16]",
                                  with: "  architecture: lenet5\n  channels: [4, 8]\n  hidden_widths: [32, 16]") }
    }

    /// Sensitivity analysis prunes each convolution and Linear of LeNet-5 alone.
    @Test func sensitivityCoversConvolutions() throws {
        var options = RunOptions()
        options.runDirectory = temporaryDirectory("cnnsens") + "/unused"
        let spec = try sliceSpec(leNetSpecEdit)
        #expect(spec.model.architecture == "lenet5")
        let result = try SensitivityAnalysis.run(spec: spec, grid: [0.1, 0.95], options: options)
        #expect(Set(result.points.map(\.layer)) == ["conv1", "conv2", "fc1", "fc2", "fc3"])
        #expect(result.layerSizes["conv1"] == 4 * 25 && result.layerSizes["conv2"] == 8 * 4 * 25)
        // 95 % of the first convolution's 100 weights gone hurts more than 10 %.
        let conv1 = result.points.filter { $0.layer == "conv1" }.sorted { $0.sparsity < $1.sparsity }
        #expect(conv1[1].worsening > conv1[0].worsening)
        #expect(result.points.allSatisfy { $0.validation.isFinite && $0.test.isFinite })
    }

    /// Score agreement between scorers, per convolution and Linear of LeNet-5.
    @Test func scoreAgreementCoversConvolutions() throws {
        let spec = try sliceSpec {
            // Small latency batches: this test is about scores (debug-build engines are slow).
            leNetSpecEdit($0).replacingOccurrences(of: "scorer: magnitude", with: "scorer: magnitude\n  compare_scorers: [magnitude, wanda, random]")
                .replacingOccurrences(of: "latency_batch_sizes: [1, 100]", with: "latency_batch_sizes: [1, 4]")
        }
        let (_, report) = try runSlice(spec)
        let agreements = report.stages[1].scoreAgreement
        #expect(agreements.count == 5 * 3)   // layers × pairs
        #expect(Set(agreements.map(\.layer)) == ["conv1", "conv2", "fc1", "fc2", "fc3"])
        for agreement in agreements { #expect(agreement.spearman >= -1 && agreement.spearman <= 1 && (0...1).contains(agreement.jaccard)) }
        // Wanda weighs magnitude by input norms: related, not the same ranking.
        let conv2 = try #require(agreements.first { $0.layer == "conv2" && $0.scorerA == "magnitude" && $0.scorerB == "wanda" })
        #expect(conv2.spearman > 0.3 && conv2.spearman < 0.9999)
        let random = try #require(agreements.first { $0.layer == "conv2" && $0.scorerB == "random" && $0.scorerA == "magnitude" })
        #expect(abs(random.spearman) < 0.3)
    }
}
}
