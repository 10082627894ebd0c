import Foundation
import Testing
import TopiaryInference
@testable import TopiaryNN
import TopiaryOptim
@testable import TopiarySpec
import TopiaryTensor

/// µP: at the base width it is the standard model; its rules are set where MaximalUpdate says;
/// inference folds its multipliers; and the coordinate check — every layer's activation size
/// stays flat across widths after some Adam steps under µP, and grows under the standard
/// parametrization.
extension AllTests {
@Suite struct MaximalUpdateTests {
    func gpt(width: Int, heads: Int = 2, mup: Int?, seed: UInt64 = 1) throws -> Sequential {
        var g = SeededGenerator(seed: seed)
        return try Sequential.gpt(GPTConfiguration(vocabulary: 32, context: 8, layers: 2, heads: heads, channels: width,
                                                   maximalUpdate: mup.map { MaximalUpdate(baseWidth: $0) }), generator: &g)
    }

    func mlp(width: Int, mup: Int?, seed: UInt64 = 2) throws -> Sequential {
        var g = SeededGenerator(seed: seed)
        if let mup {
            return try Sequential.maximalUpdateMLP(inputFeatures: 20, hiddenSizes: [width, width], outputs: 5,
                                                   parametrization: MaximalUpdate(baseWidth: mup), generator: &g)
        }
        return Sequential.multilayerPerceptron(inputFeatures: 20, hiddenSizes: [width, width], outputs: 5, generator: &g)
    }

    @Test func atTheBaseWidthMuPIsTheStandardModel() throws {
        var g = SeededGenerator(seed: 3)
        let tokens = Tensor(shape: [2, 8], values: (0..<16).map { _ in Float(g.nextInt(below: 32)) })
        #expect(try gpt(width: 16, mup: 16).forward(tokens).toArray() == gpt(width: 16, mup: nil).forward(tokens).toArray())
        let x = randomTensor([3, 20], &g)
        #expect(try mlp(width: 16, mup: 16).forward(x).toArray() == mlp(width: 16, mup: nil).forward(x).toArray())
    }

    @Test func hiddenWeightsLearnAtOneOverM() throws {
        let model = try gpt(width: 64, mup: 16)
        for parameter in model.parameters {
            let hidden = parameter.name.hasPrefix("blocks.") && parameter.isMatrix
            #expect(parameter.learningRateScale == (hidden ? 0.25 : 1), "\(parameter.name)")
        }
        let net = try mlp(width: 64, mup: 16)
        #expect(net.parameters.map(\.learningRateScale) == [1, 1, 0.25, 1, 1, 1])   // fc1.w, fc1.b, fc2.w, fc2.b, fc3.w, fc3.b
        // Hidden GPT matrices start with std ∝ 1/√fan-in: 0.02/√4 for qkv at m = 4.
        let qkv = try #require(model.parameter(named: "blocks.0.attn.qkv.weight")).value.toArray()
        let std = (qkv.map { Double($0 * $0) }.reduce(0, +) / Double(qkv.count)).squareRoot()
        #expect(abs(std - 0.01) < 0.001)
    }

    /// Inference folds the output multiplier (into ln_f, into the last matrix) and the
    /// attention scale (into the queries), and computes what training's forward computes.
    @Test func inferenceFoldsTheMultipliers() throws {
        var g = SeededGenerator(seed: 4)
        let model = try gpt(width: 32, mup: 8)
        let tokens = Tensor(shape: [2, 8], values: (0..<16).map { _ in Float(g.nextInt(below: 32)) })
        model.setTraining(false)
        let expected = model.forward(tokens).copy()
        for engine in [InferenceEngine.dense, .csr] {
            let prepared = try #require(InferenceModel.build(model, engine: engine, threads: 1))
            #expect(maxRelativeError(prepared.predict(tokens), expected) < 1e-4, "\(engine)")
        }
        let program = try #require(InferenceProgram(model))
        #expect(!program.steps.contains { if case .scale = $0 { return true } else { return false } })
        let net = try mlp(width: 32, mup: 8)
        let x = randomTensor([3, 20], &g)
        #expect(maxRelativeError(try #require(InferenceModel.build(net, engine: .dense, threads: 1)).predict(x), net.forward(x).copy()) < 1e-5)
    }

    @Test func scaleLayerAndMuPAttentionBackward() throws {
        let gradients = GradientCheckTests()
        try gradients.check([Linear(name: "fc", inFeatures: 4, outFeatures: 3), Scale(name: "s", factor: 0.25)], inputShape: [4], seed: 5)
        try gradients.check([CausalSelfAttention(name: "attn", channels: 8, heads: 2, scoreScale: 0.125)], inputShape: [4, 8], batch: 2, seed: 6)
    }

    /// Mean |activation| of each top-level layer's output on `x` after `steps` Adam steps at
    /// `learningRate` on a fixed batch (the coordinate check of Yang et al.). A readout and
    /// µP's multiplier count as one layer: the output next to a `Scale` that another layer
    /// consumes is left out (the MLP's unscaled logits, the GPT's scaled ln_f).
    func coordinateSizes(_ model: Sequential, task: any Task, x: Tensor, targets: Tensor, steps: Int, learningRate: Float) -> [Double] {
        let adam = Adam(store: model.store)
        for _ in 0..<steps {
            model.store.zeroGrads()
            let output = model.forward(x)
            model.backward(task.lossAndGradient(output: output, targets: targets).gradient)
            adam.step(learningRate: learningRate)
        }
        var sizes: [Double] = []
        var h = x
        let layers = model.layers
        for (index, layer) in layers.enumerated() {
            h = layer.forward(h).copy()
            let beforeScale = index + 1 < layers.count && layers[index + 1] is Scale
            let innerScale = layer is Scale && index + 1 < layers.count
            if !beforeScale && !innerScale { sizes.append(h.toArray().map { Double(abs($0)) }.reduce(0, +) / Double(h.count)) }
        }
        return sizes
    }

    /// Largest |log₂(size at 8× the base width / size at the base width)| over the layers.
    func largestGrowth(_ build: (Int) throws -> Sequential, task: any Task, base: Int, x: Tensor, targets: Tensor, learningRate: Float) throws -> Double {
        let narrow = coordinateSizes(try build(base), task: task, x: x, targets: targets, steps: 5, learningRate: learningRate)
        let wide = coordinateSizes(try build(8 * base), task: task, x: x, targets: targets, steps: 5, learningRate: learningRate)
        if ProcessInfo.processInfo.environment["TOPIARY_COORD_DEBUG"] != nil { print("narrow", narrow, "\nwide  ", wide) }
        return zip(narrow, wide).map { abs(log2($1 / $0)) }.max()!
    }

    @Test func coordinateCheckMLP() throws {
        var g = SeededGenerator(seed: 7)
        let x = randomTensor([16, 20], &g)
        let targets = Tensor(shape: [16], values: (0..<16).map { Float($0 % 5) })
        let mup = try largestGrowth({ try mlp(width: $0, mup: 32) }, task: ClassificationTask(), base: 32, x: x, targets: targets, learningRate: 0.02)
        let standard = try largestGrowth({ try mlp(width: $0, mup: nil) }, task: ClassificationTask(), base: 32, x: x, targets: targets, learningRate: 0.02)
        #expect(mup < 1, "µP: a layer's activations changed by 2^\(mup) from width 32 to 256")
        #expect(standard > 1.5, "standard: the largest change was only 2^\(standard)")
    }

    @Test func coordinateCheckGPT() throws {
        var g = SeededGenerator(seed: 8)
        let x = Tensor(shape: [4, 8], values: (0..<32).map { _ in Float(g.nextInt(below: 32)) })
        let targets = Tensor(shape: [4, 8], values: (0..<32).map { _ in Float(g.nextInt(below: 32)) })
        let mup = try largestGrowth({ try gpt(width: $0, mup: 16) }, task: LanguageModelTask(), base: 16, x: x, targets: targets, learningRate: 0.01)
        let standard = try largestGrowth({ try gpt(width: $0, mup: nil) }, task: LanguageModelTask(), base: 16, x: x, targets: targets, learningRate: 0.01)
        #expect(mup < 1, "µP: a layer's activations changed by 2^\(mup) from width 16 to 128")
        #expect(standard > 1.5, "standard: the largest change was only 2^\(standard)")
    }

    @Test func specKeysAreChecked() throws {
        let base = try String(contentsOfFile: packageRoot + "/experiments/tinygpt-pretrain.yaml", encoding: .utf8)
        #expect(throws: (any Error).self) { try ExperimentSpec.decode(yaml: base.replacingOccurrences(of: "  n_embd:", with: "  parametrization: mup\n  n_embd:")) }
        let ok = try ExperimentSpec.decode(yaml: base.replacingOccurrences(of: "  n_embd:", with: "  parametrization: mup\n  base_width: 64\n  n_embd:"))
        #expect(throws: (any Error).self) {
            try ExperimentSpec.decode(yaml: validSpecYAML.replacingOccurrences(of: "  hidden_sizes: [32, 16]", with: "  hidden_sizes: []\n  parametrization: mup\n  base_width: 8"))
        }
        #expect(ok.model.gptConfiguration?.maximalUpdate == MaximalUpdate(baseWidth: 64))
    }
}
}
