import Foundation
import Testing
@testable import TopiaryData
@testable import TopiaryNN
@testable import TopiaryOptim
@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySparsity
@testable import TopiarySpec
@testable import TopiaryStudy
@testable import TopiaryTensor
@testable import TopiaryTraining

extension AllTests {
@Suite struct InvariantTests {
    /// Masked retraining through the real trainer on real data: after prune stages and
    /// hundreds of Adam steps, every pruned weight is exactly 0, its moments are 0, masks
    /// only shrank, and realised sparsity equals the target.
    @Test func maskedRetrainingKeepsPrunedWeightsAtZeroAndHitsTarget() throws {
        let (train, _) = try FashionMNIST.load(directory: FashionMNISTSlice.directory)
        var g = SeededGenerator(seed: 61)
        let model = Sequential.multilayerPerceptron(inputFeatures: 784, hiddenSizes: [64, 32], outputs: 10, generator: &g)
        let targets = model.prunableMatrices
        let batches = BatchIterator(dataset: train, batchSize: 32)
        var previousMasks = targets.map { $0.mask.toArray() }
        for sparsity in [0.5, 0.9, 0.97] {
            var context = ScoringContext(model: model, task: ClassificationTask(), calibration: batches, calibrationBatches: 2, generator: g)
            try UnstructuredPruner(scope: .global).prune(targets, scores: try TaylorScorer().scores(for: targets, context: &context),
                                                         to: sparsity)
            let adam = Adam(store: model.store, weightDecay: .decoupled(0.01))
            let trainer = Trainer(model: model, task: ClassificationTask(), optimizer: adam,
                                  schedule: LearningRateSchedule(baseRate: 1e-3, totalSteps: 2 * batches.batchesPerEpoch),
                                  batches: batches)
            for _ in 0..<2 { _ = try trainer.runEpoch(generator: &g) }  // 150 steps per stage
            #expect(SparsityAccounting(targets).matches(target: sparsity, scope: .global))
            for (t, parameter) in targets.enumerated() {
                for i in 0..<parameter.count where parameter.mask[i] == 0 {
                    #expect(parameter.value[i] == 0)
                    #expect(adam.firstMoment[parameter.offset + i] == 0 && adam.secondMoment[parameter.offset + i] == 0)
                }
                for i in 0..<parameter.count where previousMasks[t][i] == 0 { #expect(parameter.mask[i] == 0) }
            }
            previousMasks = targets.map { $0.mask.toArray() }
        }
        // Biases are never pruned.
        #expect(model.parameters.filter { $0.role == .bias }.allSatisfy { $0.aliveCount == $0.count })
    }

    /// The same on a GPT, through clipped AdamW with decay on matrices: unstructured Wanda
    /// stages, then whole heads and neurons; pruned weights and their moments stay exactly 0,
    /// masks only shrink, realised sparsity is the target.
    @Test func maskedRetrainingOfAGPTKeepsPrunedWeightsAtZero() throws {
        let jargon = try TextCorpus.load("jargon").bytes[0..<200_000]
        var g = SeededGenerator(seed: 62)
        let model = try Sequential.gpt(GPTConfiguration(context: 16, layers: 2, heads: 4, channels: 16), generator: &g)
        let windows = TextWindows.random(jargon, count: 256, length: 16, generator: &g)
        let batches = BatchIterator(dataset: windows, batchSize: 16)
        let targets = model.prunableMatrices
        var previousMasks = targets.map { $0.mask.toArray() }
        let selections: [(any MaskSelection, any ImportanceScorer, Double)] = [
            (UnstructuredSelection(scope: .perRow), WandaScorer(), 0.5), (UnstructuredSelection(scope: .perRow), WandaScorer(), 0.75),
            (ChannelSelection { model.channelCoupling(of: $0) }, MagnitudeScorer(), 0.5)]
        for (selection, scorer, sparsity) in selections {
            var context = ScoringContext(model: model, task: LanguageModelTask(), calibration: batches, calibrationBatches: 2, generator: g)
            try selection.select(targets, scores: try scorer.scores(for: targets, context: &context), to: sparsity)
            #expect(selection.miss(targets, target: sparsity) == nil)
            let adam = Adam(store: model.store, beta2: 0.99, weightDecay: .decoupled(0.1), decays: { $0.isMatrix })
            let trainer = Trainer(model: model, task: LanguageModelTask(), optimizer: adam,
                                  schedule: LearningRateSchedule(baseRate: 3e-3, totalSteps: 2 * batches.batchesPerEpoch), batches: batches)
            trainer.gradientClip = 1
            for _ in 0..<2 { _ = try trainer.runEpoch(generator: &g) }   // 32 steps per stage
            for (t, matrix) in targets.enumerated() {
                for i in 0..<matrix.count where matrix.parameter.mask[i] == 0 {
                    #expect(matrix.parameter.value[i] == 0)
                    #expect(adam.firstMoment[matrix.parameter.offset + i] == 0 && adam.secondMoment[matrix.parameter.offset + i] == 0)
                }
                for i in 0..<matrix.count where previousMasks[t][i] == 0 { #expect(matrix.parameter.mask[i] == 0) }
            }
            previousMasks = targets.map { $0.mask.toArray() }
        }
    }

    /// A report file is either complete or absent: writes go through a renamed temp file.
    @Test func atomicWritesLeaveNoPartialFiles() throws {
        let directory = temporaryDirectory("atomic")
        let path = directory + "/report.json"
        try AtomicFile.write("first", to: path)
        try AtomicFile.write("second, longer", to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "second, longer")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["report.json"])
        let missing = directory + "/no/such/folder/report.json"
        #expect(throws: ReportError.self) { try AtomicFile.write("x", to: missing) }
        #expect(!FileManager.default.fileExists(atPath: missing))
    }

    /// A stage that misses its target fails the run loudly, and report.json says so.
    @Test func missedTargetIsAnError() {
        let accounting = SparsityAccounting.Layer(name: "fc1", total: 1000, alive: 400)
        let summary = SparsityAccountingProbe.make([accounting])
        #expect(!summary.matches(target: 0.5, scope: .global))
        #expect(summary.matches(target: 0.6, scope: .global))
        #expect(summary.matches(target: 0.6004, scope: .global))   // within half a weight
        #expect(!summary.matches(target: 0.6006, scope: .global))
    }
}
}

/// Builds accounting values directly (the public initialiser reads masks).
enum SparsityAccountingProbe {
    static func make(_ layers: [SparsityAccounting.Layer]) -> SparsityAccounting { SparsityAccounting(layers: layers) }
}
