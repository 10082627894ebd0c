import Foundation
import TopiaryNN
import TopiaryTensor

extension LlamaConfiguration {
    /// The configuration of a GGUF of architecture `llama` (`llama.*` metadata; the
    /// vocabulary from the token embedding; an untied head when `output.weight` is present),
    /// for windows of `context` tokens.
    public init(gguf file: GGUFFile, path: String, context: Int) throws {
        guard file.value("general.architecture") == .string("llama") else {
            throw GGUFError(path: path, problem: "has general.architecture \(file.value("general.architecture").map { "\($0)" } ?? "missing"); Topiary builds Llama-family models (llama)")
        }
        func integer(_ key: String) throws -> Int {
            guard let value = file.value(key)?.integer, value > 0 else { throw GGUFError(path: path, problem: "has no positive integer \(key)") }
            return value
        }
        func real(_ key: String, default fallback: Float) throws -> Float {
            switch file.value(key) {
            case nil: return fallback
            case .float32(let value)?: return value
            case .float64(let value)?: return Float(value)
            case let other?: throw GGUFError(path: path, problem: "has \(key) = \(other), not a float")
            }
        }
        guard let embedding = file.tensorInfo("token_embd.weight"), embedding.shape.count == 2 else {
            throw GGUFError(path: path, problem: "has no 2-D token_embd.weight")
        }
        let heads = try integer("llama.attention.head_count")
        self.init(vocabulary: embedding.shape[0], context: context, layers: try integer("llama.block_count"), heads: heads,
                  keyValueHeads: file.value("llama.attention.head_count_kv") == nil ? heads : try integer("llama.attention.head_count_kv"),
                  channels: try integer("llama.embedding_length"), intermediate: try integer("llama.feed_forward_length"),
                  ropeTheta: try real("llama.rope.freq_base", default: 10_000),
                  normEpsilon: try real("llama.attention.layer_norm_rms_epsilon", default: 1e-5),
                  tiedHead: file.tensorInfo("output.weight") == nil)
        if let problem { throw GGUFError(path: path, problem: "describes a Llama model Topiary cannot build: \(problem)") }
        if let rope = file.value("llama.rope.dimension_count")?.integer, rope != headSize {
            throw GGUFError(path: path, problem: "rotates \(rope) of \(headSize) dimensions per head (llama.rope.dimension_count); Topiary rotates whole heads")
        }
    }
}

extension GGUFFile {
    /// Every tensor of a llama GGUF under its Hugging Face name, dequantized to Float32, with
    /// q and k rows back in HF order. A tensor outside the Llama layout is an error naming it.
    public func llamaTensors(configuration: LlamaConfiguration, path: String) throws -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        for info in tensors {
            guard let name = LlamaTensorNames.huggingFace(gguf: info.name) else {
                throw GGUFError(path: path, problem: "holds tensor \(info.name), which is not part of a Llama model (rope_freqs and other extras are not supported)")
            }
            var value = tensor(info.name)!
            if let heads = LlamaTensorNames.rotaryHeads(huggingFace: name, configuration: configuration) {
                guard value.rank == 2, value.shape[0] % (2 * heads) == 0 else {
                    throw GGUFError(path: path, problem: "has \(info.name) of shape \(value.shape), which does not split into \(heads) rotary heads")
                }
                value = LlamaTensorNames.unpermuteRotaryRows(value, heads: heads)
            }
            result[name] = value
        }
        return result
    }
}
