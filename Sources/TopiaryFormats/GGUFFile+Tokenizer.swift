import TopiaryData

extension ByteLevelBPE {
    /// The tokenizer a GGUF file carries: byte-level BPE (tokenizer.ggml.model gpt2) with
    /// SmolLM's pre-tokenizer (tokenizer.ggml.pre smollm), from tokenizer.ggml.tokens and
    /// tokenizer.ggml.merges. Other pre-tokenizers (llama3, qwen2, …) split text differently
    /// and are refused rather than tokenized wrongly.
    public init(gguf file: GGUFFile, path: String) throws {
        guard file.value("tokenizer.ggml.model") == .string("gpt2") else {
            throw GGUFError(path: path, problem: "has tokenizer.ggml.model \(file.value("tokenizer.ggml.model").map { "\($0)" } ?? "missing"); Topiary reads byte-level BPE (gpt2)")
        }
        guard file.value("tokenizer.ggml.pre") == .string("smollm") else {
            throw GGUFError(path: path, problem: "has tokenizer.ggml.pre \(file.value("tokenizer.ggml.pre").map { "\($0)" } ?? "missing"); Topiary's pre-tokenizer is SmolLM's (smollm)")
        }
        func strings(_ key: String) throws -> [String] {
            guard case .array(let items) = file.value(key) else { throw GGUFError(path: path, problem: "has no \(key) list") }
            return try items.map { item in
                guard case .string(let text) = item else { throw GGUFError(path: path, problem: "has \(key) entries that are not strings") }
                return text
            }
        }
        do {
            try self.init(tokens: try strings("tokenizer.ggml.tokens"), merges: try strings("tokenizer.ggml.merges"))
        } catch let error as DataError {
            throw GGUFError(path: path, problem: "has a tokenizer Topiary cannot use: \(error.localizedDescription)")
        }
    }
}
