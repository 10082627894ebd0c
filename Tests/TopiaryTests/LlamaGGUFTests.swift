import Foundation
import Testing
@testable import TopiaryFormats
@testable import TopiaryInference
@testable import TopiaryNN
@testable import TopiaryRun
@testable import TopiaryTensor

/// SmolLM2-135M-Instruct loaded from its GGUF into Topiary's Llama: the configuration from
/// metadata, the names mapped, q and k rows un-permuted, and the logits of four prompts
/// against an independent NumPy forward (Tests/Fixtures/make_llama_golden.py wrote
/// llama_golden.json; it keeps llama.cpp's permuted layout and adjacent-pair rope).
extension AllTests {
@Suite struct LlamaGGUFTests {
    struct Golden: Decodable {
        struct Prompt: Decodable {
            struct Position: Decodable {
                let logsumexp: Double
                let top_ids: [Int]
                let top_logits: [Double]
                let probe_logits: [Double]
            }
            let text: String
            let ids: [Int]
            let positions: [Position]
        }
        let probe_ids: [Int]
        let prompts: [Prompt]
    }

    @Test func smolLM2LogitsMatchAnIndependentNumPyForward() throws {
        let path = try TestData.smolLM2()
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: packageRoot + "/Tests/Fixtures/llama_golden.json")))
        let file = try GGUFFile.read(path: path)
        let longest = golden.prompts.map(\.ids.count).max()!
        let configuration = try LlamaConfiguration(gguf: file, path: path, context: longest)
        #expect(configuration == LlamaConfiguration(vocabulary: 49_152, context: longest, layers: 30, heads: 9, keyValueHeads: 3, channels: 576,
                                                    intermediate: 1536, ropeTheta: 100_000, normEpsilon: 1e-5, tiedHead: true))
        var generator = SeededGenerator(seed: 1)
        let model = try Sequential.llama(configuration, generator: &generator, initialize: false)
        #expect(model.store.parameterCount == 134_515_008)
        try CheckpointLayout.restoreParameters(model.store, from: try file.llamaTensors(configuration: configuration, path: path), path: path)
        // Prompts padded at the end with token 0: causal attention keeps earlier positions exact.
        let input = Tensor(zeros: [golden.prompts.count, longest])
        for (row, prompt) in golden.prompts.enumerated() { for (t, id) in prompt.ids.enumerated() { input[row * longest + t] = Float(id) } }
        let V = configuration.vocabulary
        var worst = 0.0
        /// `logit(row, t, v)`: prompt row's logit of token v at position t, against the fixture.
        func check(_ source: String, _ logit: (Int, Int, Int) -> Float) {
            for (row, prompt) in golden.prompts.enumerated() {
                for (t, expected) in prompt.positions.enumerated() {
                    let values = (0..<V).map { Double(logit(row, t, $0)) }
                    let top = values.max()!
                    let logsumexp = top + log(values.reduce(0) { $0 + exp($1 - top) })
                    worst = max(worst, abs(logsumexp - expected.logsumexp))
                    #expect(abs(logsumexp - expected.logsumexp) < 2e-3, "\(source): \(prompt.text) position \(t): logsumexp")
                    #expect(values.indices.max { values[$0] < values[$1] } == expected.top_ids[0], "\(source): \(prompt.text) position \(t): greedy token")
                    for (id, value) in zip(expected.top_ids + golden.probe_ids, expected.top_logits + expected.probe_logits) {
                        worst = max(worst, abs(values[id] - value))
                        #expect(abs(values[id] - value) < 2e-3, "\(source): \(prompt.text) position \(t): logit of token \(id)")
                    }
                }
            }
        }
        let logits = model.forward(input)
        check("training forward") { logits[(($0 * longest) + $1) * V + $2] }
        // The inference engine on whole windows, and fed through its KV cache 3 positions and
        // then one at a time (rotary positions, grouped heads and the cache all in play).
        let inference = try #require(InferenceModel.build(model, engine: .dense, threads: 2))
        let window = inference.predict(input).copy()
        check("dense engine") { window[(($0 * longest) + $1) * V + $2] }
        inference.startGeneration(batch: golden.prompts.count)
        var pieces: [Tensor] = []
        var start = 0
        for piece in [3] + Array(repeating: 1, count: longest - 3) {
            let columns = Tensor(shape: [golden.prompts.count, piece],
                                 values: (0..<golden.prompts.count).flatMap { b in (0..<piece).map { input[b * longest + start + $0] } })
            pieces.append(inference.extend(columns).copy())
            start += piece
        }
        check("KV cache") { row, t, v in
            let (piece, offset) = t < 3 ? (0, t) : (t - 2, 0)
            let width = t < 3 ? 3 : 1
            return pieces[piece][(row * width + offset) * V + v]
        }
        print("SmolLM2 logits: largest difference from the NumPy float64 forward \(worst)")
    }

    @Test func namesMapBothWaysAndRotaryPermutationInverts() {
        for gguf in ["token_embd.weight", "output_norm.weight", "output.weight", "blk.0.attn_q.weight", "blk.29.ffn_down.weight", "blk.7.ffn_norm.weight"] {
            let hf = LlamaTensorNames.huggingFace(gguf: gguf)
            #expect(hf != nil && LlamaTensorNames.gguf(huggingFace: hf!) == gguf, "\(gguf)")
        }
        #expect(LlamaTensorNames.huggingFace(gguf: "blk.3.attn_q.weight") == "model.layers.3.self_attn.q_proj.weight")
        for odd in ["rope_freqs.weight", "blk.x.attn_q.weight", "blk.-1.attn_q.weight", "blk.2.attn_qq.weight", "blk.2"] {
            #expect(LlamaTensorNames.huggingFace(gguf: odd) == nil, "\(odd)")
        }
        // Two heads of size 4, one column holding the row index: GGUF row 2j + a is HF row a·2 + j.
        let rows = Tensor(shape: [8, 1], values: (0..<8).map(Float.init))
        let permuted = LlamaTensorNames.permuteRotaryRows(rows, heads: 2)
        #expect(permuted.toArray() == [0, 2, 1, 3, 4, 6, 5, 7])
        #expect(LlamaTensorNames.unpermuteRotaryRows(permuted, heads: 2).toArray() == rows.toArray())
    }

    @Test func refusesGGUFsThatAreNotLlamaModels() throws {
        func file(_ metadata: [(key: String, value: GGUFFile.Value)], tensors: [(name: String, tensor: Tensor)]) throws -> GGUFFile {
            try GGUFFile(data: GGUFFile.encode(metadata: metadata, tensors: tensors, type: .f32), path: "m.gguf")
        }
        let embedding = [(name: "token_embd.weight", tensor: Tensor(zeros: [10, 8]))]
        let base: [(key: String, value: GGUFFile.Value)] = [("general.architecture", .string("llama")), ("llama.block_count", .uint32(1)),
            ("llama.attention.head_count", .uint32(2)), ("llama.embedding_length", .uint32(8)), ("llama.feed_forward_length", .uint32(16))]
        #expect(try LlamaConfiguration(gguf: try file(base, tensors: embedding), path: "m.gguf", context: 4).keyValueHeads == 2)
        let cases: [([(key: String, value: GGUFFile.Value)], String)] = [
            ([("general.architecture", .string("gpt2"))] + base.dropFirst(), "general.architecture"),
            (base.filter { $0.key != "llama.block_count" }, "llama.block_count"),
            (base + [("llama.attention.head_count_kv", .uint32(3))], "key/value heads"),
            (base + [("llama.rope.dimension_count", .uint32(2))], "rope.dimension_count"),
            (base + [("llama.rope.freq_base", .string("x"))], "freq_base"),
        ]
        for (metadata, mentions) in cases {
            do {
                _ = try LlamaConfiguration(gguf: try file(metadata, tensors: embedding), path: "m.gguf", context: 4)
                Issue.record("accepted \(mentions)")
            } catch let error as GGUFError {
                #expect(error.problem.contains(mentions), "\(error.problem)")
            }
        }
        let extra = try file(base, tensors: embedding + [(name: "rope_freqs.weight", tensor: Tensor(zeros: [2]))])
        let configuration = try LlamaConfiguration(gguf: extra, path: "m.gguf", context: 4)
        #expect(throws: GGUFError.self) { try extra.llamaTensors(configuration: configuration, path: "m.gguf") }
    }

    /// A pruned Llama written as a llama.cpp GGUF (SmolLM2's tokenizer metadata, llama.cpp
    /// names, q/k rows permuted): read back into Topiary it gives identical logits in F32; Q8_0
    /// keeps every pruned weight 0; the gguf package reads its layout and values.
    @Test func prunedLlamaRoundTripsThroughALlamaCppGGUF() throws {
        let sourcePath = try TestData.smolLM2()
        let source = try GGUFFile.read(path: sourcePath)
        var g = SeededGenerator(seed: 950)
        let configuration = LlamaConfiguration(vocabulary: 64, context: 6, layers: 2, heads: 4, keyValueHeads: 2, channels: 16,
                                               intermediate: 32, ropeTheta: 1000, normEpsilon: 1e-5, tiedHead: true)
        let model = try Sequential.llama(configuration, generator: &g)
        for matrix in model.prunableMatrices {
            for i in 0..<matrix.count where g.nextInt(below: 2) == 0 { matrix.parameter.value[i] = 0; matrix.parameter.mask[i] = 0 }
        }
        let pruned = model.prunableMatrices.reduce(0) { $0 + $1.count - $1.aliveCount }
        let parameters = model.parameters.map { (name: $0.name, tensor: $0.value.copy()) }
        let tokens = Tensor(shape: [2, 6], values: (0..<12).map { _ in Float(g.nextInt(below: 64)) })
        let expected = model.forward(tokens).toArray()
        let folder = temporaryDirectory("llama-gguf")
        for type in [GGUFFile.TensorType.f32, .q8_0] {
            let data = try LlamaGGUFExport.encode(parameters: parameters, configuration: configuration, source: source, type: type, name: "test")
            let path = folder + "/model-\(type.name).gguf"
            try data.write(to: URL(fileURLWithPath: path))
            let back = try GGUFFile.read(path: path)
            #expect(back.value("tokenizer.ggml.pre") == .string("smollm") && back.tensorInfo("output.weight") == nil)
            #expect(back.tensorInfo("blk.0.attn_norm.weight")?.type == .f32 && back.tensorInfo("blk.1.ffn_down.weight")?.type == type)
            let reloaded = try Sequential.llama(try LlamaConfiguration(gguf: back, path: path, context: 6), generator: &g, initialize: false)
            try CheckpointLayout.restoreParameters(reloaded.store, from: try back.llamaTensors(configuration: configuration, path: path), path: path)
            let zeros = reloaded.prunableMatrices.reduce(0) { total, matrix in total + (0..<matrix.count).filter { matrix.parameter.value[$0] == 0 }.count }
            #expect(zeros >= pruned, "\(type.name): \(zeros) zeros for \(pruned) pruned weights")
            if type == .f32 { #expect(reloaded.forward(tokens).toArray() == expected) }
        }
        let script = """
        import sys, gguf
        r = gguf.GGUFReader(sys.argv[1])
        print(r.fields["general.architecture"].contents(), len(r.tensors), len(r.fields["tokenizer.ggml.tokens"].contents()))
        t = [t for t in r.tensors if t.name == "blk.1.attn_k.weight"][0]
        print(" ".join(repr(float(v)) for v in gguf.quants.dequantize(t.data, t.tensor_type).reshape(-1)))
        """
        try script.write(toFile: folder + "/read.py", atomically: true, encoding: .utf8)
        let read = try ChildProcess.run(try TestData.venvPython(), [folder + "/read.py", folder + "/model-F32.gguf"], timeout: 300)
        #expect(read.status == 0, "\(read.stderr)")
        let lines = read.stdout.split(separator: "\n")
        #expect(lines.first == "llama 20 49152")   // embedding, final norm, 2 blocks × 9
        let permuted = LlamaTensorNames.permuteRotaryRows(model.parameter(named: "model.layers.1.self_attn.k_proj.weight")!.value, heads: 2)
        #expect(lines.count == 2 && lines[1].split(separator: " ").map { Float(String($0))! } == permuted.toArray())
    }
}
}
