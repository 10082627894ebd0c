import Foundation
import Testing
@testable import TopiaryData
@testable import TopiaryFormats
@testable import TopiaryNN
@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySpec
@testable import TopiaryTensor

/// Hugging Face Llama folders (config.json, model.safetensors or shards, tokenizer.json):
/// written and read back to the same model and tokenizer, refused by name when they describe
/// something Topiary's Llama does not compute, and used by runs through `model.init_from`.
extension AllTests {
@Suite struct HuggingFaceFolderTests {
    static let configuration = LlamaConfiguration(vocabulary: 49_152, context: 6, layers: 2, heads: 4, keyValueHeads: 2, channels: 8,
                                                  intermediate: 12, ropeTheta: 1000, normEpsilon: 1e-5, tiedHead: false)

    /// A tiny untied Llama over SmolLM2's vocabulary with random weights, some pruned.
    func tinyModel(seed: UInt64) throws -> Sequential {
        var g = SeededGenerator(seed: seed)
        let model = try Sequential.llama(Self.configuration, generator: &g)
        for parameter in model.parameters where parameter.shape.count == 1 {
            for i in 0..<parameter.count { parameter.value[i] += g.nextFloat(in: -0.3, 0.3) }
        }
        for matrix in model.prunableMatrices {
            for i in 0..<matrix.count where g.nextInt(below: 3) == 0 { matrix.parameter.value[i] = 0; matrix.parameter.mask[i] = 0 }
        }
        return model
    }

    @Test func aWrittenFolderReadsBackToTheSameModelAndTokenizer() throws {
        let tokenizer = try ByteLevelBPE(gguf: try GGUFFile.read(path: try TestData.smolLM2()), path: "smollm2")
        let model = try tinyModel(seed: 1)
        let tensors = model.parameters.map { (name: $0.name, tensor: $0.value.copy()) }
        let folder = temporaryDirectory("hf-folder") + "/model"
        let files = try HuggingFaceLlamaFolder.write(to: folder, configuration: Self.configuration, trainedContext: 8192, tensors: tensors,
                                                     dtype: .f32, tokenizer: tokenizer, metadata: [:])
        #expect(Set(files.keys) == ["config.json", "model.safetensors", "tokenizer.json"])
        let source = try LlamaSource.open(folder)
        #expect(try source.configuration(context: 6) == Self.configuration && source.trainedContext == 8192 && source.zerosArePruned)
        let read = try source.tensors()
        #expect(Set(read.keys) == Set(tensors.map(\.name)) && read["lm_head.weight"] != nil)
        for (name, tensor) in tensors { #expect(read[name]!.toArray() == tensor.toArray(), "\(name)") }
        var g = SeededGenerator(seed: 2)
        let reloaded = try Sequential.llama(Self.configuration, generator: &g, initialize: false)
        try CheckpointLayout.restoreParameters(reloaded.store, from: read, path: folder)
        let tokens = Tensor(shape: [2, 6], values: (0..<12).map { _ in Float(g.nextInt(below: 49_152)) })
        #expect(reloaded.forward(tokens).toArray() == model.forward(tokens).toArray())
        // The tokenizer.json tokenizer is the GGUF's: same vocabulary, merges and ids.
        let back = try source.tokenizer()
        #expect(back.tokens == tokenizer.tokens && back.merges == tokenizer.merges)
        for text in ["The hacker ethic, 1984: ünïcödé   spaces\n\ttabs", "x=3.14159; y = 'don't'"] {
            #expect(back.encode(text) == tokenizer.encode(text))
        }
        // F16 halves the weights' bytes and rounds each to binary16.
        let half = try HuggingFaceLlamaFolder.write(to: folder + "-f16", configuration: Self.configuration, trainedContext: 8192, tensors: tensors,
                                                    dtype: .f16, tokenizer: nil, metadata: [:])
        #expect(half["model.safetensors"]! < files["model.safetensors"]! / 2 + 4096 && half["tokenizer.json"] == nil)
    }

    /// A written folder computes, under Hugging Face's own conventions, what Topiary computes:
    /// an independent NumPy forward in float64 reads config.json and model.safetensors with
    /// the `safetensors` package and follows transformers' modeling_llama — rotate_half rotary
    /// embeddings (pairs i and i + head_size/2), repeat_kv grouping, RMSNorm in float,
    /// SiLU-gated MLP, lm_head or tied embeddings. Agreement checks the rotary row layout that
    /// the folder's q/k rows claim.
    @Test func aWrittenFolderComputesWhatHuggingFaceLlamaComputes() throws {
        let model = try tinyModel(seed: 5)
        // Initial q/k weights (σ 0.02) leave attention near uniform, blind to rotary layout:
        // weights of order 1 make the scores, and so the rotation, matter.
        var g = SeededGenerator(seed: 6)
        for parameter in model.parameters where parameter.name.hasSuffix("q_proj.weight") || parameter.name.hasSuffix("k_proj.weight") {
            for i in 0..<parameter.count where parameter.mask[i] != 0 { parameter.value[i] = g.nextFloat(in: -1.5, 1.5) }
        }
        let folder = temporaryDirectory("hf-numpy")
        _ = try HuggingFaceLlamaFolder.write(to: folder + "/model", configuration: Self.configuration, trainedContext: 64,
                                             tensors: model.parameters.map { (name: $0.name, tensor: $0.value.copy()) }, dtype: .f32,
                                             tokenizer: nil, metadata: [:])
        let ids = [17, 4_242, 9, 30_001, 17, 256]
        // Tests/Fixtures/check_hf_folder.py holds the forward (also run on SmolLM2's export).
        let run = try ChildProcess.run(try TestData.venvPython(), [packageRoot + "/Tests/Fixtures/check_hf_folder.py", folder + "/model", "--ids",
                                                                  ids.map(String.init).joined(separator: ",")], timeout: 300)
        #expect(run.status == 0, "\(run.stderr)")
        let reference = run.stdout.split(whereSeparator: \.isWhitespace).map { Double(String($0))! }
        let ours = model.forward(Tensor(shape: [1, ids.count], values: ids.map(Float.init))).toArray()
        #expect(reference.count == ours.count)
        let worst = zip(ours, reference).map { abs(Double($0) - $1) }.max() ?? .infinity
        #expect(worst < 1e-5, "largest logit difference \(worst)")
    }

    @Test func shardedWeightsReadThroughTheirIndex() throws {
        let model = try tinyModel(seed: 3)
        let tensors = model.parameters.map { (name: $0.name, tensor: $0.value.copy()) }
        let folder = temporaryDirectory("hf-shards")
        _ = try HuggingFaceLlamaFolder.write(to: folder, configuration: Self.configuration, trainedContext: 64, tensors: [], dtype: .f32,
                                             tokenizer: nil, metadata: [:])
        try FileManager.default.removeItem(atPath: folder + "/model.safetensors")
        let halves = [Array(tensors.prefix(tensors.count / 2)), Array(tensors.dropFirst(tensors.count / 2))]
        var map: [String: String] = [:]
        for (index, half) in halves.enumerated() {
            let file = "model-0000\(index + 1)-of-00002.safetensors"
            try SafetensorsFile.encode(half, dtype: .bf16).write(to: URL(fileURLWithPath: folder + "/" + file))
            for (name, _) in half { map[name] = file }
        }
        try JSONSerialization.data(withJSONObject: ["metadata": [:], "weight_map": map]).write(to: URL(fileURLWithPath: folder + "/model.safetensors.index.json"))
        let read = try LlamaSource.open(folder).tensors()
        #expect(read.count == tensors.count)
        for (name, tensor) in tensors {
            // BF16 keeps 8 bits of mantissa: within 2⁻⁸ relative.
            let (a, b) = (read[name]!.toArray(), tensor.toArray())
            #expect(zip(a, b).allSatisfy { abs($0 - $1) <= abs($1) / 256 }, "\(name)")
        }
        // A shard outside the folder is refused.
        try JSONSerialization.data(withJSONObject: ["weight_map": ["x": "../elsewhere.safetensors"]])
            .write(to: URL(fileURLWithPath: folder + "/model.safetensors.index.json"))
        #expect(throws: HuggingFaceFolderError.self) { try HuggingFaceLlamaFolder(path: folder).tensors() }
    }

    /// Seeded mutations of a folder's JSON files (config.json, tokenizer.json, the shard
    /// index): each is read or refused with a `HuggingFaceFolderError`, never a crash or another
    /// error. A small byte-level tokenizer keeps each parse cheap.
    @Test func mutatedJSONFilesAreReadOrRefused() throws {
        let bytes = ByteLevelBPE.byteCharacters.map { String($0) }
        let tokenizer = try ByteLevelBPE(tokens: bytes + ["Ġt", "he", "Ġthe"], merges: ["Ġ t", "h e", "Ġt he"])
        let folder = temporaryDirectory("hf-fuzz")
        _ = try HuggingFaceLlamaFolder.write(to: folder, configuration: Self.configuration, trainedContext: 64, tensors: [], dtype: .f32,
                                             tokenizer: tokenizer, metadata: [:])
        let source = HuggingFaceLlamaFolder(path: folder)
        try JSONSerialization.data(withJSONObject: ["metadata": [:], "weight_map": ["a": "model-1.safetensors", "b": "model.safetensors"]])
            .write(to: URL(fileURLWithPath: folder + "/model.safetensors.index.json"))
        let originals = try ["config.json", "tokenizer.json", "model.safetensors.index.json"].map {
            ($0, [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/" + $0))))
        }
        try FileManager.default.removeItem(atPath: folder + "/model.safetensors")
        var mutator = TextMutator(seed: 13, tokens: ["\"", "{", "}", "[", "]", ",", ":", "true", "false", "null", "0", "-1", "1.5", "1e308",
                                                     "99999999999999999999", "\"silu\"", "\"llama\"", "\\u0000", "é"],
                                  lines: ["", "{", "}", "\"rope_scaling\": {\"type\": \"linear\"},", "\"head_dim\": 3,"])
        var (read, refused) = (0, 0)
        for iteration in 0..<fuzzIterations {
            let (file, original) = originals[iteration % originals.count]
            try Data(mutator.mutate(original)).write(to: URL(fileURLWithPath: folder + "/" + file))
            do {
                switch file {
                case "config.json":
                    let configuration = try source.configuration(context: 6)
                    #expect(configuration.problem == nil)
                    _ = (source.trainedContext, source.zerosArePruned)
                case "tokenizer.json":
                    let tokens = try source.tokenizer().encode("the then 42")
                    #expect(!tokens.isEmpty)
                default:
                    _ = try source.tensors()
                }
                read += 1
            } catch is HuggingFaceFolderError {
                refused += 1
            } catch let error as SafetensorsError {
                // The shard index named a shard: its safetensors reader refuses the rest.
                #expect(file == "model.safetensors.index.json", "\(error)")
                refused += 1
            }
            try Data(original).write(to: URL(fileURLWithPath: folder + "/" + file))
        }
        #expect(read > 0 && refused > fuzzIterations / 4, "read \(read), refused \(refused)")
        print("Hugging Face folder JSON fuzz: \(read) read, \(refused) refused")
    }

    @Test func configsTopiaryCannotComputeAreRefusedByName() throws {
        let folder = temporaryDirectory("hf-config")
        let base: [String: Any] = ["model_type": "llama", "vocab_size": 64, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2,
                                   "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
                                   "tie_word_embeddings": true, "hidden_act": "silu"]
        func configuration(_ config: [String: Any]) throws -> LlamaConfiguration {
            try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder + "/config.json"))
            return try HuggingFaceLlamaFolder(path: folder).configuration(context: 4)
        }
        #expect(try configuration(base) == LlamaConfiguration(vocabulary: 64, context: 4, layers: 2, heads: 4, keyValueHeads: 2, channels: 16,
                                                             intermediate: 32, ropeTheta: 10000, normEpsilon: 1e-5, tiedHead: true))
        var defaults = base
        for key in ["num_key_value_heads", "rope_theta", "rms_norm_eps", "tie_word_embeddings"] { defaults[key] = nil }
        #expect(try configuration(defaults) == LlamaConfiguration(vocabulary: 64, context: 4, layers: 2, heads: 4, keyValueHeads: 4, channels: 16,
                                                                 intermediate: 32, ropeTheta: 10000, normEpsilon: 1e-6, tiedHead: false))
        let cases: [([String: Any?], String)] = [
            (["model_type": "qwen2"], "model_type"), (["hidden_size": nil], "hidden_size"), (["hidden_size": 16.5], "hidden_size"),
            (["hidden_size": true], "hidden_size"), (["num_hidden_layers": -1], "num_hidden_layers"),
            (["rope_scaling": ["type": "linear", "factor": 2.0]], "rope_scaling"), (["attention_bias": true], "attention_bias"),
            (["hidden_act": "gelu"], "hidden_act"), (["head_dim": 8], "head_dim"), (["num_key_value_heads": 3], "key/value heads"),
            (["rope_theta": "big"], "rope_theta"), (["vocab_size": 1e300], "vocab_size"), (["num_hidden_layers": 4_294_967_296], "num_hidden_layers"),
        ]
        for (change, mentions) in cases {
            var config = base
            for (key, value) in change { config[key] = value }
            do {
                _ = try configuration(config)
                Issue.record("accepted a config with \(mentions)")
            } catch let error as HuggingFaceFolderError {
                #expect(error.problem.contains(mentions) && error.path.hasSuffix("config.json"), "\(error.problem)")
            }
        }
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: folder + "/config.json"))
        #expect(throws: HuggingFaceFolderError.self) { try HuggingFaceLlamaFolder(path: folder).configuration(context: 4) }
        // No weights, no tokenizer: each missing file named.
        #expect(throws: HuggingFaceFolderError.self) { try HuggingFaceLlamaFolder(path: folder).tensors() }
        #expect(throws: HuggingFaceFolderError.self) { try HuggingFaceLlamaFolder(path: folder).tokenizer() }
        // A tokenizer that pre-tokenizes otherwise (Llama 3's split) is refused, not misused.
        let other: [String: Any] = ["model": ["type": "BPE", "vocab": ["a": 0, "b": 1, "ab": 2], "merges": ["a b"]],
                                    "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false]]
        try JSONSerialization.data(withJSONObject: other).write(to: URL(fileURLWithPath: folder + "/tokenizer.json"))
        #expect { try HuggingFaceLlamaFolder(path: folder).tokenizer() } throws: { ($0 as? HuggingFaceFolderError)?.problem.contains("pre-tokenizer") == true }
        var smol = other
        smol["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [["type": "Digits", "individual_digits": true], ["type": "ByteLevel", "add_prefix_space": false]]]
        try JSONSerialization.data(withJSONObject: smol).write(to: URL(fileURLWithPath: folder + "/tokenizer.json"))
        #expect(try HuggingFaceLlamaFolder(path: folder).tokenizer().encode("ab") == [2])
        smol["model"] = ["type": "BPE", "vocab": ["a": 0, "ab": 2], "merges": [["a", "b"]]]
        try JSONSerialization.data(withJSONObject: smol).write(to: URL(fileURLWithPath: folder + "/tokenizer.json"))
        #expect { try HuggingFaceLlamaFolder(path: folder).tokenizer() } throws: { ($0 as? HuggingFaceFolderError)?.problem.contains("gaps") == true }
    }

    /// A run starts from a Hugging Face folder (shape from config.json, text in its
    /// tokenizer.json's tokens, weights and masks from its safetensors), and its export as a
    /// folder starts a second run that evaluates identically with the same sparsity.
    @Test func runsStartFromAFolderAndExportOne() throws {
        let model = try tinyModel(seed: 4)
        let tokenizer = try ByteLevelBPE(gguf: try GGUFFile.read(path: try TestData.smolLM2()), path: "smollm2")
        let folder = temporaryDirectory("hf-run")
        _ = try HuggingFaceLlamaFolder.write(to: folder + "/pretrained", configuration: Self.configuration, trainedContext: 64,
                                             tensors: model.parameters.map { (name: $0.name, tensor: $0.value.copy()) }, dtype: .f32,
                                             tokenizer: tokenizer, metadata: [:])
        let text = folder + "/slice.txt"
        try Data(try TextCorpus.load("jargon").bytes[300_000..<306_000]).write(to: URL(fileURLWithPath: text))
        func yaml(_ initFrom: String) -> String {
            """
            name: hf-folder
            seed: 0
            task: language_model
            data: { dataset: text, train: \(text), train_fraction: 0.8, train_windows: 4, eval_windows: 2 }
            model: { architecture: llama, init_from: \(initFrom), block_size: 6 }
            training: { epochs: 0, batch_size: 2, optimizer: { name: adamw, learning_rate: 0.001 } }
            pruning: { scorer: magnitude, stages: [] }
            measurement: { latency_batch_sizes: [1], latency_repetitions: 1, latency_warmup: 0, generation_tokens: 3, generation_repetitions: 1, engines: [csr] }
            """
        }
        var options = RunOptions()
        options.runDirectory = folder + "/run"
        let report = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: yaml(folder + "/pretrained")), options: options).run()
        let first = report.stages[0]
        let pruned = model.prunableMatrices.reduce(0) { $0 + $1.count - $1.aliveCount }
        #expect(first.nonzeros == first.prunableWeights - pruned && first.metrics["test_loss"]!.isFinite)
        #expect(first.generation?.tokensPerSecond.keys.contains("csr") == true)
        let export = try runTopiary(["export", folder + "/run", "--stage", "0", "--format", "safetensors", "--out", folder + "/exported"])
        #expect(export.status == 0, "\(export.stderr)")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: folder + "/exported")) == ["config.json", "model.safetensors", "tokenizer.json"])
        options.runDirectory = folder + "/reloaded"
        let again = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: yaml(folder + "/exported")), options: options).run()
        #expect(again.stages[0].metrics["test_loss"] == first.metrics["test_loss"] && again.stages[0].nonzeros == first.nonzeros)
        // A GGUF export needs a source GGUF's tokenizer metadata: refused with what to do instead.
        let gguf = try runTopiary(["export", folder + "/run", "--stage", "0", "--format", "gguf", "--out", folder + "/gguf"])
        #expect(gguf.status != 0 && gguf.stderr.contains("--format safetensors"), "\(gguf.stderr)")
        // A folder that is not a model, or no file at all, is a spec error at model.init_from.
        try FileManager.default.createDirectory(atPath: folder + "/empty", withIntermediateDirectories: true)
        options.runDirectory = folder + "/never"
        for (initFrom, says) in [(folder + "/empty", "folder without config.json"), (folder + "/missing", "does not exist")] {
            do {
                _ = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: yaml(initFrom)), options: options).run()
                Issue.record("\(initFrom) was accepted as a model")
            } catch let error as SpecError {
                #expect(error.keyPath == "model.init_from" && error.problem.contains(says), "\(error)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: folder + "/never"))
    }
}
}
