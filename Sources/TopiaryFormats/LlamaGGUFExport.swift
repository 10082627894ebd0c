import TopiaryNN
import TopiaryTensor
import Foundation

/// A Llama model written as a GGUF that llama.cpp loads: architecture `llama` with its
/// hyperparameters, the source file's tokenizer metadata copied as is, llama.cpp's tensor
/// names and its q/k row order. Matrices in `type` (F32, F16 or Q8_0; a pruned weight is
/// 0.0 in all three, so the file keeps the sparsity), norms always F32. No mask tensors: a
/// runtime refuses tensors it does not know, and the zeros are the mask.
public enum LlamaGGUFExport {
    /// The metadata key (true) saying every exact 0.0 in a block projection is a pruned
    /// weight: Topiary reloads such a file with those weights masked, so fine-tuning it does
    /// not grow them back.
    public static let zerosArePrunedKey = "topiary.zeros_are_pruned"

    /// - Parameters:
    ///   - parameters: the model's parameters by HF name (`Sequential.llama`'s).
    ///   - source: the GGUF the model was loaded from (its tokenizer and context length).
    public static func encode(parameters: [(name: String, tensor: Tensor)], configuration c: LlamaConfiguration, source: GGUFFile,
                              type: GGUFFile.TensorType, name: String) throws -> Data {
        var metadata: [(key: String, value: GGUFFile.Value)] = [
            ("general.architecture", .string("llama")), ("general.name", .string(name)), ("general.alignment", .uint32(32)),
            ("general.file_type", .uint32(type == .f32 ? 0 : type == .f16 ? 1 : 7)),
            ("llama.block_count", .uint32(UInt32(c.layers))),
            ("llama.context_length", .uint32(UInt32(source.value("llama.context_length")?.integer ?? c.context))),
            ("llama.embedding_length", .uint32(UInt32(c.channels))), ("llama.feed_forward_length", .uint32(UInt32(c.intermediate))),
            ("llama.attention.head_count", .uint32(UInt32(c.heads))), ("llama.attention.head_count_kv", .uint32(UInt32(c.keyValueHeads))),
            ("llama.rope.freq_base", .float32(c.ropeTheta)), ("llama.attention.layer_norm_rms_epsilon", .float32(c.normEpsilon)),
            ("llama.rope.dimension_count", .uint32(UInt32(c.headSize))), ("llama.vocab_size", .uint32(UInt32(c.vocabulary))),
        ]
        metadata += source.metadata.filter { $0.key.hasPrefix("tokenizer.") }
        metadata.append((zerosArePrunedKey, .bool(true)))
        var tensors: [(name: String, tensor: Tensor)] = []
        var keptExact: Set<String> = []
        for (hfName, tensor) in parameters {
            guard let ggufName = LlamaTensorNames.gguf(huggingFace: hfName) else {
                throw ExportError.unsupportedStep(format: "gguf", step: "tensor \(hfName)", hint: "a Llama model holds only the tensors LlamaTensorNames maps")
            }
            var value = tensor
            if let heads = LlamaTensorNames.rotaryHeads(huggingFace: hfName, configuration: c) {
                value = LlamaTensorNames.permuteRotaryRows(tensor.reshaped([tensor.shape[0], tensor.count / tensor.shape[0]]), heads: heads)
            }
            if value.rank == 1 { keptExact.insert(ggufName) }
            tensors.append((ggufName, value))
        }
        return GGUFFile.encode(metadata: metadata, tensors: tensors, type: type, exact: keptExact)
    }
}
