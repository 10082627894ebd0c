import Foundation
import Testing
@testable import TopiaryNN
@testable import TopiaryTensor

/// The Llama pieces: RMSNorm, rotary embeddings, grouped-query attention and SwiGLU against
/// plain Double loops and finite differences, and a whole tiny Llama's gradients.
extension AllTests {
@Suite struct LlamaTests {
    /// Rotary embedding of one head vector at position p, written out (HF's rotate_half).
    func naiveRotate(_ v: [Double], position p: Int, theta: Double) -> [Double] {
        let hs = v.count, half = hs / 2
        var out = v
        for i in 0..<half {
            let angle = Double(p) * pow(theta, -Double(2 * i) / Double(hs))
            out[i] = v[i] * cos(angle) - v[i + half] * sin(angle)
            out[i + half] = v[i + half] * cos(angle) + v[i] * sin(angle)
        }
        return out
    }

    /// The attention layer's output for one sample, in Double from its own weights.
    func naiveAttention(_ layer: GroupedQueryAttention, input x: [Double], positions T: Int) -> [Double] {
        let (C, NH, NKV, hs) = (layer.channels, layer.heads, layer.keyValueHeads, layer.headSize)
        func project(_ linear: Linear) -> [[Double]] {
            let w = linear.weight.value.toArray().map(Double.init)
            return (0..<T).map { t in (0..<linear.outFeatures).map { o in (0..<C).reduce(0.0) { $0 + w[o * C + $1] * x[t * C + $1] } } }
        }
        let q = project(layer.query), k = project(layer.key), v = project(layer.value)
        var mixed = [[Double]](repeating: [Double](repeating: 0, count: NH * hs), count: T)
        for h in 0..<NH {
            let kvh = h / (NH / NKV)
            for t in 0..<T {
                let qt = naiveRotate(Array(q[t][(h * hs)..<((h + 1) * hs)]), position: t, theta: Double(layer.rotary.theta))
                var scores = (0...t).map { s -> Double in
                    let ks = naiveRotate(Array(k[s][(kvh * hs)..<((kvh + 1) * hs)]), position: s, theta: Double(layer.rotary.theta))
                    return zip(qt, ks).reduce(0.0) { $0 + $1.0 * $1.1 } / Double(hs).squareRoot()
                }
                let top = scores.max()!
                scores = scores.map { exp($0 - top) }
                let total = scores.reduce(0, +)
                for i in 0..<hs { mixed[t][h * hs + i] = (0...t).reduce(0.0) { $0 + scores[$1] / total * v[$1][kvh * hs + i] } }
            }
        }
        let w = layer.output.weight.value.toArray().map(Double.init)
        return (0..<T).flatMap { t in (0..<C).map { o in (0..<(NH * hs)).reduce(0.0) { $0 + w[o * NH * hs + $1] * mixed[t][$1] } } }
    }

    @Test func groupedQueryAttentionMatchesTheWrittenOutReference() throws {
        var g = SeededGenerator(seed: 900)
        for (heads, kvHeads) in [(4, 2), (3, 3), (4, 1)] {
            let layer = GroupedQueryAttention(name: "attn", channels: 8, heads: heads, keyValueHeads: kvHeads, headSize: 4, ropeTheta: 100)
            let model = try Sequential(inputShape: [6, 8], layers: [layer], generator: &g)
            let x = randomTensor([2, 6, 8], &g)
            let y = model.forward(x)
            for b in 0..<2 {
                let expected = naiveAttention(layer, input: (0..<48).map { Double(x[b * 48 + $0]) }, positions: 6)
                for i in 0..<48 { #expect(abs(Double(y[b * 48 + i]) - expected[i]) < 1e-5, "heads \(heads)/\(kvHeads) [\(b), \(i)]") }
            }
        }
    }

    @Test func rotaryInverseUndoesTheRotation() {
        var rotary = RotaryEmbedding(headSize: 6, theta: 10_000)
        rotary.prepare(positions: 40)
        var g = SeededGenerator(seed: 901)
        let original = randomTensor([12], &g), v = original.copy()
        rotary.rotate(v.pointer, heads: 2, position: 37)
        let expected = naiveRotate((0..<6).map { Double(original[$0]) }, position: 37, theta: 10_000)
        for i in 0..<6 { #expect(abs(Double(v[i]) - expected[i]) < 1e-5) }
        rotary.rotate(v.pointer, heads: 2, position: 37, inverse: true)
        for i in 0..<12 { #expect(abs(v[i] - original[i]) < 1e-6) }
    }

    @Test func rmsNormMatchesItsDefinition() throws {
        var g = SeededGenerator(seed: 902)
        let norm = RMSNorm(name: "norm", features: 5, epsilon: 1e-6)
        let model = try Sequential(inputShape: [5], layers: [norm], generator: &g)
        for i in 0..<5 { norm.weight.value[i] = Float(i + 1) / 2 }
        let x = randomTensor([3, 5], &g)
        let y = model.forward(x)
        for r in 0..<3 {
            let row = (0..<5).map { Double(x[r * 5 + $0]) }
            let rms = (row.map { $0 * $0 }.reduce(0, +) / 5 + 1e-6).squareRoot()
            for i in 0..<5 { #expect(abs(Double(y[r * 5 + i]) - row[i] / rms * Double(i + 1) / 2) < 1e-5) }
        }
    }

    @Test func layersBackward() throws {
        let gradients = GradientCheckTests()
        try gradients.check([RMSNorm(name: "norm", features: 6)], inputShape: [3, 6], batch: 2, seed: 910)
        try gradients.check([GatedMLP(name: "mlp", channels: 4, intermediate: 6)], inputShape: [3, 4], batch: 2, seed: 911)
        try gradients.check([GroupedQueryAttention(name: "attn", channels: 8, heads: 4, keyValueHeads: 2, ropeTheta: 50)],
                            inputShape: [5, 8], batch: 2, seed: 912)
        try gradients.check([GroupedQueryAttention(name: "attn", channels: 6, heads: 3, keyValueHeads: 1, headSize: 4)],
                            inputShape: [4, 6], batch: 3, seed: 913)
    }

    /// The whole model from token ids, tied and untied heads: every parameter's gradient.
    @Test func tinyLlamaBackward() throws {
        for tied in [true, false] {
            var g = SeededGenerator(seed: 920)
            let configuration = LlamaConfiguration(vocabulary: 13, context: 5, layers: 2, heads: 4, keyValueHeads: 2, channels: 8,
                                                   intermediate: 12, ropeTheta: 100, tiedHead: tied)
            let model = try Sequential.llama(configuration, generator: &g)
            #expect(model.store.parameterCount == configuration.parameterCount)
            let x = Tensor(shape: [2, 5], values: (0..<10).map { _ in Float(g.nextInt(below: 13)) })
            let r = randomTensor([2, 5, 13], &g)
            // Embedding rows of RMS ~0.6 (not 0.02): RMSNorm divides by it, and finite
            // differences of ε = 0.01 on a tiny row would measure curvature, not slope.
            for parameter in model.parameters {
                let spread: Float = parameter.name == "model.embed_tokens.weight" ? 1 : 0.3
                for i in 0..<parameter.count { parameter.value[i] += g.nextFloat(in: -spread, spread) }
            }
            GradientCheckTests().checkParameterGradients(of: model, input: x, probe: r)
        }
    }

    @Test func llamaHasHuggingFacesNamesAndPrunesOnlyBlockProjections() throws {
        var g = SeededGenerator(seed: 930)
        let configuration = LlamaConfiguration(vocabulary: 17, context: 4, layers: 2, heads: 2, keyValueHeads: 1, channels: 8, intermediate: 16,
                                               tiedHead: false)
        let model = try Sequential.llama(configuration, generator: &g)
        let names = Set(model.parameters.map(\.name))
        for name in ["model.embed_tokens.weight", "model.layers.1.input_layernorm.weight", "model.layers.0.self_attn.k_proj.weight",
                     "model.layers.1.mlp.down_proj.weight", "model.layers.0.post_attention_layernorm.weight", "model.norm.weight", "lm_head.weight"] {
            #expect(names.contains(name), "\(name)")
        }
        #expect(model.prunableMatrices.map(\.layerName).prefix(7) == ["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj",
            "model.layers.0.self_attn.v_proj", "model.layers.0.self_attn.o_proj", "model.layers.0.mlp.gate_proj", "model.layers.0.mlp.up_proj",
            "model.layers.0.mlp.down_proj"])
        #expect(model.prunableMatrices.count == 14)
        #expect(model.calibrationBlocks.map(\.count) == [7, 7])
        #expect(model.parameter(named: "model.layers.0.self_attn.k_proj.weight")!.shape == [4, 8])
        let bad = LlamaConfiguration(vocabulary: 5, context: 4, layers: 1, heads: 3, keyValueHeads: 2, channels: 6, intermediate: 4)
        #expect(throws: ModelError.self) { try Sequential.llama(bad, generator: &g) }
    }
}
}
