import Foundation
import TopiaryTensor

/// A LoRA adapter as Hugging Face PEFT saves it (`save_pretrained` of a PeftModel):
///
///     adapter_config.json         {"peft_type": "LORA", "r", "lora_alpha", "target_modules", …}
///     adapter_model.safetensors   base_model.model.<module>.lora_A.weight  (r, in[, kh, kw])
///                                 base_model.model.<module>.lora_B.weight  (out, r[, 1, 1])
///
/// Topiary's adapters are plain LoRA (scale alpha / r): rsLoRA, DoRA and GPT-2's transposed
/// Conv1D layout (`fan_in_fan_out`) change the arithmetic and are refused by name.
/// `topiary_delta` records whether B·A is applied through the base's mask ("masked": merge
/// as W + s·(B·A ⊙ M), which PEFT itself does not know) or not.
public struct PEFTAdapterFolder: Sendable, Equatable {
    public var rank: Int
    public var alpha: Double
    /// "masked" or "unmasked" (Topiary's key; PEFT ignores it).
    public var delta: String
    public var baseModel: String
    /// Module name → (A, B) as stored.
    public var factors: [String: Factors]

    public struct Factors: Sendable, Equatable {
        public var a: Tensor
        public var b: Tensor
        public init(a: Tensor, b: Tensor) {
            self.a = a
            self.b = b
        }
        public static func == (l: Factors, r: Factors) -> Bool {
            l.a.shape == r.a.shape && l.b.shape == r.b.shape && l.a.toArray() == r.a.toArray() && l.b.toArray() == r.b.toArray()
        }
    }

    public init(rank: Int, alpha: Double, delta: String, baseModel: String, factors: [String: Factors]) {
        self.rank = rank
        self.alpha = alpha
        self.delta = delta
        self.baseModel = baseModel
        self.factors = factors
    }

    static let prefix = "base_model.model."

    /// Writes adapter_config.json and adapter_model.safetensors (F32) into `folder`, whole or not at all.
    public func write(to folder: String) throws {
        let modules = factors.keys.sorted()
        let config: [String: Any] = [
            "peft_type": "LORA", "r": rank, "lora_alpha": alpha, "lora_dropout": 0.0, "target_modules": modules,
            "bias": "none", "fan_in_fan_out": false, "use_rslora": false, "use_dora": false, "inference_mode": true,
            "init_lora_weights": true, "modules_to_save": NSNull(), "base_model_name_or_path": baseModel,
            "task_type": NSNull(), "topiary_delta": delta,
        ]
        var tensors: [(name: String, tensor: Tensor)] = []
        for module in modules {
            tensors.append((Self.prefix + module + ".lora_A.weight", factors[module]!.a))
            tensors.append((Self.prefix + module + ".lora_B.weight", factors[module]!.b))
        }
        try ExportFolder.write([
            "adapter_config.json": try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]),
            "adapter_model.safetensors": SafetensorsFile.encode(tensors, dtype: .f32, metadata: ["format": "pt"]),
        ], to: folder)
    }

    /// Reads a PEFT LoRA folder; anything Topiary cannot apply is a `PEFTAdapterError` naming the file.
    public static func read(folder: String) throws -> PEFTAdapterFolder {
        func fail(_ file: String, _ problem: String) -> PEFTAdapterError { PEFTAdapterError(path: folder + "/" + file, problem: problem) }
        let configFile = "adapter_config.json"
        guard let data = FileManager.default.contents(atPath: folder + "/" + configFile) else {
            throw fail(configFile, "is missing; a PEFT adapter folder holds adapter_config.json and adapter_model.safetensors")
        }
        guard let config = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { throw fail(configFile, "is not a JSON object") }
        guard config["peft_type"] as? String == "LORA" else {
            throw fail(configFile, "has peft_type \(config["peft_type"].map { "\($0)" } ?? "missing"); Topiary reads LoRA adapters (LORA)")
        }
        for key in ["use_rslora", "use_dora", "fan_in_fan_out"] {
            if let number = config[key] as? NSNumber, HuggingFaceLlamaFolder.isJSONBoolean(number), number.boolValue {
                throw fail(configFile, "sets \(key); Topiary's adapters are plain LoRA (W + alpha/r · B·A, weights stored out × in)")
            }
        }
        guard let r = config["r"] as? NSNumber, !HuggingFaceLlamaFolder.isJSONBoolean(r), let rank = Int32(exactly: r.doubleValue), rank > 0 else {
            throw fail(configFile, "has r \(config["r"].map { "\($0)" } ?? "missing"), not a positive integer")
        }
        guard let alpha = config["lora_alpha"] as? NSNumber, !HuggingFaceLlamaFolder.isJSONBoolean(alpha), alpha.doubleValue > 0,
              alpha.doubleValue.isFinite else {
            throw fail(configFile, "has lora_alpha \(config["lora_alpha"].map { "\($0)" } ?? "missing"), not a positive number")
        }
        let delta = config["topiary_delta"] as? String ?? "unmasked"
        guard ["masked", "unmasked"].contains(delta) else { throw fail(configFile, "has topiary_delta \(delta), neither masked nor unmasked") }
        let weightsFile = "adapter_model.safetensors"
        let file: SafetensorsFile
        do {
            file = try SafetensorsFile.read(path: folder + "/" + weightsFile)
        } catch let error as SafetensorsError {
            throw fail(weightsFile, "cannot be read: \(error.errorDescription ?? "\(error)")")
        }
        var a: [String: Tensor] = [:], b: [String: Tensor] = [:]
        for entry in file.entries {
            let name = entry.name
            guard name.hasPrefix(prefix), name.hasSuffix(".lora_A.weight") || name.hasSuffix(".lora_B.weight") else {
                throw fail(weightsFile, "holds \(name), not base_model.model.<module>.lora_A.weight or lora_B.weight")
            }
            let module = String(name.dropFirst(prefix.count).dropLast(".lora_A.weight".count))
            let tensor = file.tensor(name)!
            let isA = name.hasSuffix(".lora_A.weight")
            // A: (r, in, kernel…); B: (out, r, 1…).
            let rankAxis = isA ? 0 : 1
            guard tensor.shape.count >= 2, tensor.shape[rankAxis] == Int(rank), isA || tensor.shape.dropFirst(2).allSatisfy({ $0 == 1 }) else {
                throw fail(weightsFile, "has \(name) of shape \(tensor.shape); with r \(rank), lora_A is (r, in…) and lora_B (out, r, 1…)")
            }
            if isA { a[module] = tensor } else { b[module] = tensor }
        }
        guard !a.isEmpty, Set(a.keys) == Set(b.keys) else {
            let odd = Set(a.keys).symmetricDifference(b.keys).sorted().first ?? "(none)"
            throw fail(weightsFile, a.isEmpty ? "holds no LoRA factors" : "has module \(odd) with only one of lora_A and lora_B")
        }
        return PEFTAdapterFolder(rank: Int(rank), alpha: alpha.doubleValue, delta: delta,
                                 baseModel: config["base_model_name_or_path"] as? String ?? "",
                                 factors: a.keys.reduce(into: [:]) { $0[$1] = Factors(a: a[$1]!, b: b[$1]!) })
    }
}

public struct PEFTAdapterError: LocalizedError, Equatable {
    public let path: String
    public let problem: String
    public var errorDescription: String? { "\(path) \(problem)." }
}
