import Foundation
import Testing
@testable import TopiaryNN
@testable import TopiaryOptim
@testable import TopiaryTensor

/// A tiny GPT-2 against PyTorch (Tests/Fixtures/make_gpt_reference.py wrote
/// gpt_reference.json): the same parameters, loaded by name, give the same logits, loss and
/// gradients, and three AdamW steps — global-norm clipping at 1, decay 0.1 on matrices only,
/// betas (0.9, 0.99) — as ../shared/reference/torch_tiny_gpt.py trains, end at the same weights.
extension AllTests {
@Suite struct GPTReferenceTests {
    struct Reference: Decodable {
        let vocabulary, context, layers, heads, channels: Int
        let inputs: [[Float]]
        let targets: [[Float]]
        let initial: [String: [Float]]
        let logits: [Float]
        let loss: Float
        let gradients: [String: [Float]]
        let stepLosses: [Float]
        let gradientNorms: [Float]
        let afterSteps: [String: [Float]]
        enum CodingKeys: String, CodingKey {
            case vocabulary, context, layers, heads, channels, inputs, targets, initial, logits, loss, gradients
            case stepLosses = "step_losses", gradientNorms = "gradient_norms", afterSteps = "after_steps"
        }
    }

    let reference: Reference = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: packageRoot + "/Tests/Fixtures/gpt_reference.json"))
        return try! JSONDecoder().decode(Reference.self, from: data)
    }()

    /// Largest |a − b| relative to the largest |b| of the tensor.
    func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        let scale = max(b.map { Double(abs($0)) }.max() ?? 0, 1e-12)
        return zip(a, b).map { Double(abs($0 - $1)) }.max()! / scale
    }

    func loadedModel() throws -> Sequential {
        let r = reference
        var g = SeededGenerator(seed: 0)
        let model = try Sequential.gpt(GPTConfiguration(vocabulary: r.vocabulary, context: r.context, layers: r.layers,
                                                        heads: r.heads, channels: r.channels), generator: &g)
        #expect(Set(model.parameters.map(\.name)) == Set(r.initial.keys))
        for parameter in model.parameters {
            let values = try #require(r.initial[parameter.name])
            #expect(values.count == parameter.count, "\(parameter.name)")
            for i in 0..<parameter.count { parameter.value[i] = values[i] }
        }
        return model
    }

    func batch(_ k: Int) -> (Tensor, Tensor) {
        let (b, t) = (reference.inputs[k].count / reference.context, reference.context)
        return (Tensor(shape: [b, t], values: reference.inputs[k]), Tensor(shape: [b, t], values: reference.targets[k]))
    }

    @Test func logitsLossAndEveryGradientMatchPyTorch() throws {
        let model = try loadedModel()
        let task = LanguageModelTask()
        let (x, y) = batch(0)
        model.store.zeroGrads()
        let logits = model.forward(x)
        #expect(relativeError(logits.toArray(), reference.logits) < 1e-5)
        let (loss, gradient) = task.lossAndGradient(output: logits, targets: y)
        #expect(abs(loss - reference.loss) < 1e-5)
        model.backward(gradient)
        for parameter in model.parameters {
            let expected = try #require(reference.gradients[parameter.name])
            #expect(relativeError(parameter.grad.toArray(), expected) < 1e-4, "\(parameter.name)")
        }
    }

    @Test func clippedAdamWStepsMatchPyTorch() throws {
        let model = try loadedModel()
        let task = LanguageModelTask()
        let adam = Adam(store: model.store, beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: .decoupled(0.1), decays: \.isMatrix)
        for step in 0..<3 {
            let (x, y) = batch(step + 1)
            model.store.zeroGrads()
            let (loss, gradient) = task.lossAndGradient(output: model.forward(x), targets: y)
            model.backward(gradient)
            let norm = model.store.clipGradientNorm(to: 1)
            #expect(abs(loss - reference.stepLosses[step]) < 1e-4, "step \(step) loss")
            #expect(abs(norm - reference.gradientNorms[step]) / reference.gradientNorms[step] < 1e-4, "step \(step) norm")
            adam.step(learningRate: 3e-3)
        }
        let channels = reference.channels
        for parameter in model.parameters {
            var expected = try #require(reference.afterSteps[parameter.name])
            var actual = parameter.value.toArray()
            if parameter.name.hasSuffix("attn.qkv.bias") {
                // The key bias has no true gradient (a shift of every key leaves each softmax
                // unchanged), so both frameworks step it by Adam-normalised rounding noise:
                // it may move by at most the learning rate per step, in any direction.
                let keys = channels..<(2 * channels)
                for i in keys { #expect(abs(actual[i] - expected[i]) <= 3 * 3e-3 + 1e-6, "\(parameter.name)[\(i)]") }
                expected.removeSubrange(keys)
                actual.removeSubrange(keys)
            }
            #expect(relativeError(actual, expected) < 1e-4, "\(parameter.name) after steps")
        }
    }
}
}
