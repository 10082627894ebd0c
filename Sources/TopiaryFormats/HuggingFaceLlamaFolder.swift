import Foundation
import TopiaryData
import TopiaryNN
import TopiaryTensor

/// A Hugging Face Llama model folder, as `save_pretrained` writes it and the Hub serves it:
///
///     config.json                        LlamaConfig: sizes, rope_theta, rms_norm_eps, tying
///     model.safetensors                  weights under HF names (model.layers.N.self_attn.q_proj.weight, …)
///       or model.safetensors.index.json  {"weight_map": {name: shard file}} and the shards
///     tokenizer.json                     the `tokenizers` library's byte-level BPE
///
/// HF names are Topiary's Llama parameter names, and HF keeps q and k rows in the half-split
/// rotary layout Topiary uses, so tensors load as they are (no llama.cpp permutation).
/// Anything Topiary's Llama does not compute — another model_type, biases, rope scaling, an
/// activation other than SiLU, a tokenizer with another pre-tokenizer — is refused by name.
public struct HuggingFaceLlamaFolder {
    public let path: String

    public init(path: String) { self.path = path }

    /// Whether `path` is a folder holding a config.json.
    public static func isModelFolder(_ path: String) -> Bool {
        var isFolder: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue
            && FileManager.default.fileExists(atPath: path + "/config.json")
    }

    /// JSONSerialization hands back true/false as NSNumber too; on Linux (no CFBoolean type id)
    /// the boxed type code tells them apart: "c" (char) is what it gives booleans, numbers get "q"/"i"/"d".
    /// A Float as the Double of its shortest decimal form: 1e-05, not 9.999999747378752e-06.
    static func shortestDouble(_ value: Float) -> Double { Double("\(value)")! }

    static func isJSONBoolean(_ number: NSNumber) -> Bool {
        String(cString: number.objCType) == "c"
    }

    private func fail(_ file: String, _ problem: String) -> HuggingFaceFolderError {
        HuggingFaceFolderError(path: path + "/" + file, problem: problem)
    }

    private func json(_ file: String) throws -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: path + "/" + file) else {
            throw fail(file, "is missing; a Hugging Face model folder holds config.json, model.safetensors (or its index) and tokenizer.json")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data), let dictionary = object as? [String: Any] else {
            throw fail(file, "is not a JSON object")
        }
        return dictionary
    }

    /// The model's shape from config.json, windows of `context` positions.
    public func configuration(context: Int) throws -> LlamaConfiguration {
        let config = try json("config.json")
        // Sizes past these are not a model this machine could hold (and would overflow counts).
        let limits = ["vocab_size": 1 << 22, "hidden_size": 1 << 16, "intermediate_size": 1 << 18, "num_hidden_layers": 1 << 10,
                      "num_attention_heads": 1 << 10, "num_key_value_heads": 1 << 10, "head_dim": 1 << 12]
        func integer(_ key: String, default fallback: Int? = nil) throws -> Int {
            guard let value = config[key] else {
                if let fallback { return fallback }
                throw fail("config.json", "has no \(key)")
            }
            // Through Double: NSNumber's intValue of 1e300 is unspecified.
            guard let number = value as? NSNumber, !Self.isJSONBoolean(number), let integer = Int32(exactly: number.doubleValue), integer > 0 else {
                throw fail("config.json", "has \(key) \(value), not a positive integer below 2³¹")
            }
            if let limit = limits[key], Int(integer) > limit {
                throw fail("config.json", "has \(key) \(integer), above the \(limit) Topiary accepts")
            }
            return Int(integer)
        }
        func real(_ key: String, default fallback: Double) throws -> Double {
            guard let value = config[key], !(value is NSNull) else { return fallback }
            guard let number = value as? NSNumber, !Self.isJSONBoolean(number), Float(number.doubleValue).isFinite, number.doubleValue > 0 else {
                throw fail("config.json", "has \(key) \(value), not a positive number within Float32's range")
            }
            return number.doubleValue
        }
        func flag(_ key: String, default fallback: Bool) throws -> Bool {
            guard let value = config[key] else { return fallback }
            guard let number = value as? NSNumber, Self.isJSONBoolean(number) else {
                throw fail("config.json", "has \(key) \(value), not true or false")
            }
            return number.boolValue
        }
        guard config["model_type"] as? String == "llama" else {
            throw fail("config.json", "has model_type \(config["model_type"].map { "\($0)" } ?? "missing"); Topiary reads Llama models (model_type llama: SmolLM, TinyLlama)")
        }
        if let scaling = config["rope_scaling"], !(scaling is NSNull) {
            throw fail("config.json", "asks for rope_scaling \(scaling); Topiary's rotary embeddings are unscaled")
        }
        if let activation = config["hidden_act"], activation as? String != "silu" {
            throw fail("config.json", "has hidden_act \(activation); Topiary's Llama MLP is SwiGLU (silu)")
        }
        for key in ["attention_bias", "mlp_bias"] where try flag(key, default: false) {
            throw fail("config.json", "sets \(key); Topiary's Llama projections have no biases")
        }
        let heads = try integer("num_attention_heads"), channels = try integer("hidden_size")
        if config["head_dim"] != nil, try integer("head_dim") * heads != channels {
            throw fail("config.json", "has head_dim \(config["head_dim"]!) × \(heads) heads ≠ hidden_size \(channels); Topiary's heads split the width evenly")
        }
        let configuration = LlamaConfiguration(
            vocabulary: try integer("vocab_size"), context: context, layers: try integer("num_hidden_layers"), heads: heads,
            keyValueHeads: try integer("num_key_value_heads", default: heads), channels: channels,
            intermediate: try integer("intermediate_size"), ropeTheta: Float(try real("rope_theta", default: 10_000)),
            normEpsilon: Float(try real("rms_norm_eps", default: 1e-6)), tiedHead: try flag("tie_word_embeddings", default: false))
        if let problem = configuration.problem { throw fail("config.json", "describes no model Topiary can build: \(problem)") }
        return configuration
    }

    /// Every tensor under its HF name, dequantized to Float32: from model.safetensors, or from
    /// the shards model.safetensors.index.json lists.
    public func tensors() throws -> [String: Tensor] {
        let single = path + "/model.safetensors"
        var files: [String]
        if FileManager.default.fileExists(atPath: single) {
            files = ["model.safetensors"]
        } else {
            let index = try json("model.safetensors.index.json")
            guard let map = index["weight_map"] as? [String: String], !map.isEmpty else {
                throw fail("model.safetensors.index.json", "has no weight_map of tensor names to shard files")
            }
            files = Set(map.values).sorted()
            if let odd = files.first(where: { $0.contains("/") || $0.hasPrefix(".") }) {
                throw fail("model.safetensors.index.json", "names shard \(odd) outside the folder")
            }
        }
        var result: [String: Tensor] = [:]
        for file in files {
            let shard = try SafetensorsFile.read(path: path + "/" + file)
            for entry in shard.entries {
                guard result[entry.name] == nil else { throw fail(file, "repeats tensor \(entry.name) of another shard") }
                result[entry.name] = shard.tensor(entry.name)!
            }
        }
        return result
    }

    /// The tokenizer from tokenizer.json: byte-level BPE with SmolLM's pre-tokenizer (digits
    /// one by one, then GPT-2's split); others split text differently and are refused.
    public func tokenizer() throws -> ByteLevelBPE {
        let document = try json("tokenizer.json")
        guard let model = document["model"] as? [String: Any], model["type"] as? String == "BPE",
              let vocabulary = model["vocab"] as? [String: Any], let merges = model["merges"] as? [Any] else {
            throw fail("tokenizer.json", "holds no BPE model (model.type BPE with vocab and merges)")
        }
        guard HuggingFaceLlamaFolder.isSmolLMPreTokenizer(document["pre_tokenizer"]) else {
            throw fail("tokenizer.json", "has another pre-tokenizer than SmolLM's (Digits with individual_digits, then ByteLevel); Topiary would split its text wrongly")
        }
        var byID: [Int: String] = [:]
        for (token, id) in vocabulary {
            guard let number = id as? NSNumber, let id = Int32(exactly: number.doubleValue), id >= 0 else { throw fail("tokenizer.json", "gives token \(token) the id \(id)") }
            byID[Int(id)] = token
        }
        for added in (document["added_tokens"] as? [[String: Any]]) ?? [] {
            if let id = (added["id"] as? NSNumber).flatMap({ Int32(exactly: $0.doubleValue) }).map(Int.init), id >= 0, let content = added["content"] as? String, byID[id] == nil { byID[id] = content }
        }
        guard let largest = byID.keys.max(), byID.count == largest + 1 else {
            throw fail("tokenizer.json", "has token ids with gaps (\(byID.count) tokens, largest id \(byID.keys.max() ?? -1))")
        }
        let pairs = try merges.map { merge -> String in
            if let text = merge as? String { return text }
            if let pair = merge as? [String], pair.count == 2 { return pair[0] + " " + pair[1] }
            throw fail("tokenizer.json", "has merge \(merge), neither \"a b\" nor [a, b]")
        }
        do {
            return try ByteLevelBPE(tokens: (0...largest).map { byID[$0]! }, merges: pairs)
        } catch let error as DataError {
            throw fail("tokenizer.json", "has a tokenizer Topiary cannot use: \(error.localizedDescription)")
        }
    }

    /// max_position_embeddings of config.json.
    public var trainedContext: Int? {
        ((try? json("config.json"))?["max_position_embeddings"] as? NSNumber).flatMap { Int32(exactly: $0.doubleValue) }.map(Int.init)
    }

    /// Whether config.json marks the weights as Topiary's pruned export, whose zeros are the
    /// masks (HF keeps unknown config keys as attributes).
    public var zerosArePruned: Bool { (try? json("config.json"))?[HuggingFaceLlamaFolder.zerosArePrunedKey] as? Bool == true }
    public static let zerosArePrunedKey = "topiary_zeros_are_pruned"

    static func isSmolLMPreTokenizer(_ value: Any?) -> Bool {
        guard let sequence = value as? [String: Any], sequence["type"] as? String == "Sequence",
              let steps = sequence["pretokenizers"] as? [[String: Any]], steps.count == 2 else { return false }
        let digits = steps[0], byteLevel = steps[1]
        return digits["type"] as? String == "Digits" && digits["individual_digits"] as? Bool == true
            && byteLevel["type"] as? String == "ByteLevel" && byteLevel["add_prefix_space"] as? Bool != true
            && byteLevel["use_regex"] as? Bool != false
    }

    /// Writes a folder HF's `from_pretrained` and Topiary's `init_from` read: config.json of
    /// `configuration` (its trained context as max_position_embeddings), model.safetensors of
    /// `tensors` (HF names) as `dtype`, and tokenizer.json of `tokenizer` when given. Returns
    /// the files' names and bytes.
    public static func write(to folder: String, configuration c: LlamaConfiguration, trainedContext: Int,
                             tensors: [(name: String, tensor: Tensor)], dtype: SafetensorsFile.DType,
                             tokenizer: ByteLevelBPE?, metadata: [String: String]) throws -> [String: Int] {
        let config: [String: Any] = [
            zerosArePrunedKey: true,
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": c.vocabulary, "hidden_size": c.channels,
            "intermediate_size": c.intermediate, "num_hidden_layers": c.layers, "num_attention_heads": c.heads,
            "num_key_value_heads": c.keyValueHeads, "head_dim": c.headSize, "hidden_act": "silu",
            "max_position_embeddings": trainedContext, "rms_norm_eps": Self.shortestDouble(c.normEpsilon), "rope_theta": Self.shortestDouble(c.ropeTheta),
            "rope_scaling": NSNull(), "tie_word_embeddings": c.tiedHead, "attention_bias": false, "mlp_bias": false,
            "torch_dtype": ["F32": "float32", "F16": "float16", "BF16": "bfloat16"][dtype.rawValue]!,
        ]
        var files: [String: Data] = [
            "config.json": try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]),
            "model.safetensors": SafetensorsFile.encode(tensors, dtype: dtype, metadata: metadata.merging(["format": "pt"]) { a, _ in a }),
        ]
        if let tokenizer {
            let document: [String: Any] = [
                "version": "1.0", "added_tokens": [Any](), "normalizer": NSNull(),
                "pre_tokenizer": ["type": "Sequence", "pretokenizers": [
                    ["type": "Digits", "individual_digits": true],
                    ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true]]],
                "post_processor": NSNull(), "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
                "model": ["type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                          "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false,
                          "vocab": Dictionary(tokenizer.tokens.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { a, _ in a }),
                          "merges": tokenizer.merges],
            ]
            files["tokenizer.json"] = try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])
        }
        try ExportFolder.write(files, to: folder)
        return files.mapValues(\.count)
    }
}

public struct HuggingFaceFolderError: LocalizedError, Equatable {
    public let path: String
    public let problem: String
    public var errorDescription: String? { "\(path) \(problem)." }
}
