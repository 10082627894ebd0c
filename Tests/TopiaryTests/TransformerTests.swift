import Foundation
import Testing
@testable import TopiaryNN
@testable import TopiaryTensor

/// The GPT-2 pieces: causal attention against attention written out in Double, its backward
/// and a whole tiny GPT's against finite differences, GPT-2's structure and initialisation,
/// and the language-modelling task's metrics.
extension AllTests {
@Suite struct TransformerTests {
    /// softmax(q·k/√hs) over s ≤ t, per head, in Double: the algorithmic reference.
    func naiveAttention(_ qkv: [Float], batch: Int, positions: Int, channels: Int, heads: Int) -> [Double] {
        let hs = channels / heads
        var out = [Double](repeating: 0, count: batch * positions * channels)
        func at(_ b: Int, _ t: Int, _ part: Int, _ h: Int, _ i: Int) -> Double {
            Double(qkv[(b * positions + t) * 3 * channels + part * channels + h * hs + i])
        }
        for b in 0..<batch { for h in 0..<heads { for t in 0..<positions {
            let scores = (0...t).map { s in (0..<hs).reduce(0.0) { $0 + at(b, t, 0, h, $1) * at(b, s, 1, h, $1) } / Double(hs).squareRoot() }
            let top = scores.max()!
            let weights = scores.map { exp($0 - top) }
            let total = weights.reduce(0, +)
            for i in 0..<hs {
                out[(b * positions + t) * channels + h * hs + i] = (0...t).reduce(0.0) { $0 + weights[$1] / total * at(b, $1, 2, h, i) }
            }
        } } }
        return out
    }

    @Test(arguments: [(1, 1, 4, 1), (2, 5, 8, 2), (3, 7, 12, 3), (2, 16, 16, 4)])
    func attentionMatchesTheWrittenOutSoftmax(batch: Int, positions: Int, channels: Int, heads: Int) {
        var g = SeededGenerator(seed: UInt64(500 + positions))
        let qkv = randomTensor([batch, positions, 3 * channels], &g)
        let out = Tensor(zeros: [batch, positions, channels])
        let weights = Tensor(zeros: [batch, heads, positions, positions])
        CausalSelfAttention.attend(qkv: qkv.pointer, into: out.pointer, weights: weights.pointer,
                                   batch: batch, positions: positions, channels: channels, heads: heads)
        let expected = naiveAttention(qkv.toArray(), batch: batch, positions: positions, channels: channels, heads: heads)
        for i in 0..<out.count { #expect(abs(Double(out[i]) - expected[i]) < 1e-5, "[\(i)]") }
        // Causal: position t's weights on later positions are exactly zero; each row sums to 1.
        for row in 0..<(batch * heads * positions) {
            let t = row % positions
            let values = (0..<positions).map { weights[row * positions + $0] }
            #expect(values[(t + 1)...].allSatisfy { $0 == 0 })
            #expect(abs(values.reduce(0, +) - 1) < 1e-5)
        }
    }

    /// A future token never changes an earlier position's output.
    @Test func laterTokensDoNotReachEarlierPositions() throws {
        var g = SeededGenerator(seed: 510)
        let model = try Sequential.gpt(GPTConfiguration(vocabulary: 20, context: 6, layers: 2, heads: 2, channels: 8), generator: &g)
        let tokens: [Float] = [3, 1, 4, 1, 5, 9]
        let before = model.forward(Tensor(shape: [1, 6], values: tokens)).copy()
        var changed = tokens
        changed[4] = 2
        let after = model.forward(Tensor(shape: [1, 6], values: changed))
        for i in 0..<(4 * 20) { #expect(before[i] == after[i]) }
        #expect((4 * 20..<(6 * 20)).contains { before[$0] != after[$0] })
    }

    @Test func attentionBackward() throws {
        let gradients = GradientCheckTests()
        try gradients.check([CausalSelfAttention(name: "attn", channels: 6, heads: 2)], inputShape: [5, 6], batch: 2, seed: 520)
        try gradients.check([CausalSelfAttention(name: "attn", channels: 4, heads: 1)], inputShape: [1, 4], batch: 3, seed: 521)
        try gradients.check([PositionEmbedding(name: "wpe", context: 7, features: 3)], inputShape: [5, 3], batch: 2, seed: 522)
    }

    /// The whole model: embeddings, both residual branches, the tied head (whose gradient
    /// lands in wte), from token ids.
    @Test func tinyGPTBackward() throws {
        var g = SeededGenerator(seed: 530)
        let configuration = GPTConfiguration(vocabulary: 11, context: 5, layers: 2, heads: 2, channels: 6)
        let model = try Sequential.gpt(configuration, generator: &g)
        let x = Tensor(shape: [2, 5], values: (0..<10).map { _ in Float(g.nextInt(below: 11)) })
        let r = randomTensor([2, 5, 11], &g)
        for parameter in model.parameters { for i in 0..<parameter.count { parameter.value[i] += g.nextFloat(in: -0.2, 0.2) } }
        GradientCheckTests().checkParameterGradients(of: model, input: x, probe: r)
    }

    @Test func gptHasGPT2sStructureAndInitialisation() throws {
        var g = SeededGenerator(seed: 540)
        let model = try Sequential.gpt(.w3, generator: &g)
        #expect(model.store.parameterCount == 842_496)   // the W3 reference's 0.84 M
        #expect(model.prunableMatrices.map(\.layerName).prefix(4) == ["blocks.0.attn.qkv", "blocks.0.attn.proj", "blocks.0.mlp.fc", "blocks.0.mlp.proj"])
        #expect(model.prunableMatrices.count == 16)
        let names = Set(model.parameters.map(\.name))
        for name in ["wte.weight", "wpe.weight", "blocks.3.ln_1.weight", "blocks.3.attn.qkv.bias", "blocks.0.mlp.proj.weight", "ln_f.bias"] {
            #expect(names.contains(name), "\(name)")
        }
        func deviation(_ name: String) -> Double {
            let p = model.parameters.first { $0.name == name }!
            let values = p.value.toArray().map(Double.init)
            return (values.map { $0 * $0 }.reduce(0, +) / Double(values.count)).squareRoot()
        }
        #expect(abs(deviation("wte.weight") - 0.02) < 0.001 && abs(deviation("blocks.1.mlp.fc.weight") - 0.02) < 0.001)
        #expect(abs(deviation("blocks.2.attn.proj.weight") - 0.02 / 8.0.squareRoot()) < 0.0005)
        #expect(model.parameters.first { $0.name == "blocks.0.attn.qkv.bias" }!.value.toArray().allSatisfy { $0 == 0 })
        #expect(model.parameters.first { $0.name == "ln_f.weight" }!.value.toArray().allSatisfy { $0 == 1 })
        #expect(model.outputShape == [128, 256])
    }

    /// Per-token cross-entropy; perplexity and bits per byte follow from it exactly.
    @Test func languageModelTaskMetrics() {
        let task = LanguageModelTask()
        var g = SeededGenerator(seed: 550)
        let logits = randomTensor([2, 3, 5], &g)
        let targets = Tensor(shape: [2, 3], values: [0, 4, 2, 1, 1, 3])
        var expected = 0.0
        for row in 0..<6 {
            let z = (0..<5).map { Double(logits[row * 5 + $0]) }
            let top = z.max()!
            expected += log(z.map { exp($0 - top) }.reduce(0, +)) + top - z[Int(targets[row])]
        }
        expected /= 6
        let (loss, gradient) = task.lossAndGradient(output: logits, targets: targets)
        #expect(abs(Double(loss) - expected) < 1e-5 && gradient.shape == [2, 3, 5])
        var sums = MetricSums()
        task.accumulate(output: logits, targets: targets, into: &sums)
        let metrics = task.finish(sums)
        #expect(abs(metrics["loss"]! - expected) < 1e-5 && sums.count == 6)
        #expect(abs(metrics["perplexity"]! - exp(metrics["loss"]!)) < 1e-12)
        #expect(abs(metrics["bits_per_byte"]! - metrics["loss"]! / log(2)) < 1e-12)
        #expect(!task.decidingMetric.higherIsBetter && task.outputShape(targetShape: [128], classCount: 256) == [128, 256])
    }
}
}
