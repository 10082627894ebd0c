import Foundation
import Testing
@testable import TopiaryData
@testable import TopiaryNN
@testable import TopiaryOptim
@testable import TopiarySparsity
@testable import TopiaryTensor

/// PyTorch's run of the same small MLP on the same real rows (Tests/Fixtures/
/// make_torch_reference.py wrote it): Topiary must reproduce the loss and every gradient of
/// the first batch, the losses of 8 Adam steps, the masks of a global magnitude prune to
/// 75 %, and 8 masked Adam steps with the final weights — as llm.c checks against PyTorch.
struct TorchReference: Decodable {
    let rows: Int
    let batchSize: Int
    let hiddenSizes: [Int]
    let initial: [String: [Float]]
    let firstBatchLoss: Float
    let firstBatchGradients: [String: [Float]]
    let denseLosses: [Float]
    let denseWeights: [String: [Float]]
    let masks: [String: [Float]]
    let maskedLosses: [Float]
    let maskedWeights: [String: [Float]]

    enum CodingKeys: String, CodingKey {
        case rows, batchSize = "batch_size", hiddenSizes = "hidden_sizes", initial
        case firstBatchLoss = "first_batch_loss", firstBatchGradients = "first_batch_gradients"
        case denseLosses = "dense_losses", denseWeights = "dense_weights", masks
        case maskedLosses = "masked_losses", maskedWeights = "masked_weights"
    }

    static let loaded: TorchReference = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: packageRoot + "/Tests/Fixtures/torch_reference.json"))
        return try! JSONDecoder().decode(TorchReference.self, from: data)
    }()
}

extension AllTests {
@Suite struct ReferenceFrameworkTests {
    let reference = TorchReference.loaded

    func setUp() throws -> (Sequential, Dataset) {
        var g = SeededGenerator(seed: 0)
        let model = Sequential.multilayerPerceptron(inputFeatures: 784, hiddenSizes: reference.hiddenSizes, outputs: 10, generator: &g)
        for parameter in model.parameters {
            let values = try #require(reference.initial[parameter.name])
            #expect(values.count == parameter.count)
            for (i, v) in values.enumerated() { parameter.value[i] = v }
        }
        let (train, _) = try FashionMNIST.load(directory: FashionMNISTSlice.directory)
        return (model, train.subset(Array(0..<reference.rows)))
    }

    func expectClose(_ actual: Tensor, _ expected: [Float], tolerance: Float, _ label: String) {
        #expect(actual.count == expected.count)
        var worst: Float = 0, at = 0
        for i in 0..<actual.count {
            let error = abs(actual[i] - expected[i]) / max(1e-3, abs(expected[i]))
            if error > worst { (worst, at) = (error, i) }
        }
        #expect(worst < tolerance, "\(label): worst relative error \(worst) at \(at): \(actual[at]) vs \(expected[at])")
    }

    /// Adam steps over batches 0, 1, 2, 3, 0, … in order; returns each step's loss.
    func adamSteps(_ model: Sequential, _ rows: Dataset, steps: Int, learningRate: Float) -> [Float] {
        let adam = Adam(store: model.store)
        let loss = SoftmaxCrossEntropy()
        let b = reference.batchSize
        return (0..<steps).map { step in
            let start = (step * b) % rows.count
            model.store.zeroGrads()
            let (value, gradient) = loss.lossAndGradient(logits: model.forward(rows.inputs.rowSlice(start, count: b)),
                                                         labels: Array(rows.labels[start..<(start + b)]))
            model.backward(gradient)
            adam.step(learningRate: learningRate)
            return value
        }
    }

    @Test func firstBatchLossAndGradientsMatchPyTorch() throws {
        let (model, rows) = try setUp()
        let b = reference.batchSize
        let (value, gradient) = SoftmaxCrossEntropy().lossAndGradient(logits: model.forward(rows.inputs.rowSlice(0, count: b)),
                                                                       labels: Array(rows.labels[0..<b]))
        #expect(abs(value - reference.firstBatchLoss) < 1e-5)
        model.store.zeroGrads()
        model.backward(gradient)
        for parameter in model.parameters {
            expectClose(parameter.grad, reference.firstBatchGradients[parameter.name]!, tolerance: 1e-3, parameter.name)
        }
    }

    @Test func adamPruneAndMaskedRetrainingMatchPyTorch() throws {
        let (model, rows) = try setUp()
        let dense = adamSteps(model, rows, steps: reference.denseLosses.count, learningRate: 1e-3)
        for (ours, theirs) in zip(dense, reference.denseLosses) { #expect(abs(ours - theirs) < 1e-4, "dense \(ours) vs \(theirs)") }
        for parameter in model.parameters {
            expectClose(parameter.value, reference.denseWeights[parameter.name]!, tolerance: 1e-3, "dense " + parameter.name)
        }

        let targets = model.prunableMatrices
        var context = ScoringContext(model: model, task: ClassificationTask(), calibration: BatchIterator(dataset: rows, batchSize: 16),
                                     calibrationBatches: 1, generator: SeededGenerator(seed: 0))
        try UnstructuredPruner(scope: .global).prune(targets, scores: try MagnitudeScorer().scores(for: targets, context: &context),
                                                     to: 0.75)
        for parameter in targets { #expect(parameter.mask.toArray() == reference.masks[parameter.name]!, "\(parameter.name)") }

        let masked = adamSteps(model, rows, steps: reference.maskedLosses.count, learningRate: 5e-4)
        for (ours, theirs) in zip(masked, reference.maskedLosses) { #expect(abs(ours - theirs) < 1e-4, "masked \(ours) vs \(theirs)") }
        for parameter in model.parameters {
            expectClose(parameter.value, reference.maskedWeights[parameter.name]!, tolerance: 1e-3, "masked " + parameter.name)
        }
    }
}
}
