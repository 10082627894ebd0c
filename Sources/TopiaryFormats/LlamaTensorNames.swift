import TopiaryNN
import TopiaryTensor

/// How a Llama model's tensors are named in GGUF files (llama.cpp's `blk.N.attn_q.weight`)
/// and in Hugging Face checkpoints (`model.layers.N.self_attn.q_proj.weight`, Topiary's own
/// names), and the row order that differs between them.
///
/// llama.cpp's converter permutes the rows of every q and k projection so that the pairs
/// its rotary kernel turns are adjacent: within each head of hs rows, HF row a·hs/2 + j
/// (half a ∈ {0, 1}, j < hs/2) becomes GGUF row 2j + a. Reading a GGUF undoes it; writing
/// one does it, so both runtimes compute the same attention.
public enum LlamaTensorNames {
    /// Whole-model tensors: GGUF name ↔ HF name.
    static let globalNames = [("token_embd.weight", "model.embed_tokens.weight"), ("output_norm.weight", "model.norm.weight"),
                              ("output.weight", "lm_head.weight")]
    /// Per-block tensors, after `blk.N.` and `model.layers.N.`.
    static let blockNames = [("attn_norm.weight", "input_layernorm.weight"), ("attn_q.weight", "self_attn.q_proj.weight"),
                             ("attn_k.weight", "self_attn.k_proj.weight"), ("attn_v.weight", "self_attn.v_proj.weight"),
                             ("attn_output.weight", "self_attn.o_proj.weight"), ("ffn_norm.weight", "post_attention_layernorm.weight"),
                             ("ffn_gate.weight", "mlp.gate_proj.weight"), ("ffn_up.weight", "mlp.up_proj.weight"),
                             ("ffn_down.weight", "mlp.down_proj.weight")]

    /// The HF name of GGUF tensor `name`; nil for a name outside the Llama layout.
    public static func huggingFace(gguf name: String) -> String? {
        if let pair = globalNames.first(where: { $0.0 == name }) { return pair.1 }
        let parts = name.split(separator: ".", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "blk", let block = Int(parts[1]), block >= 0,
              let pair = blockNames.first(where: { $0.0 == parts[2] }) else { return nil }
        return "model.layers.\(block).\(pair.1)"
    }

    /// The GGUF name of HF tensor `name`; nil for a name outside the Llama layout.
    public static func gguf(huggingFace name: String) -> String? {
        if let pair = globalNames.first(where: { $0.1 == name }) { return pair.0 }
        let prefix = "model.layers."
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count)
        guard let dot = rest.firstIndex(of: "."), let block = Int(rest[..<dot]), block >= 0,
              let pair = blockNames.first(where: { $0.1 == rest[rest.index(after: dot)...] }) else { return nil }
        return "blk.\(block).\(pair.0)"
    }

    /// Heads whose rows a tensor's rotary permutation acts on: query heads for q, key/value
    /// heads for k, nil for any other tensor.
    public static func rotaryHeads(huggingFace name: String, configuration: LlamaConfiguration) -> Int? {
        if name.hasSuffix("self_attn.q_proj.weight") { return configuration.heads }
        if name.hasSuffix("self_attn.k_proj.weight") { return configuration.keyValueHeads }
        return nil
    }

    /// GGUF row order → HF row order of a (heads·hs, fan-in) matrix.
    public static func unpermuteRotaryRows(_ matrix: Tensor, heads: Int) -> Tensor { reorderRows(matrix, heads: heads, toGGUF: false) }
    /// HF row order → GGUF row order.
    public static func permuteRotaryRows(_ matrix: Tensor, heads: Int) -> Tensor { reorderRows(matrix, heads: heads, toGGUF: true) }

    static func reorderRows(_ matrix: Tensor, heads: Int, toGGUF: Bool) -> Tensor {
        precondition(matrix.rank == 2 && matrix.shape[0] % (2 * heads) == 0, "rotary rows \(matrix.shape) do not split into \(heads) heads of even size")
        let (rows, columns) = (matrix.shape[0], matrix.shape[1])
        let headSize = rows / heads, half = headSize / 2
        let out = Tensor(zeros: matrix.shape)
        for h in 0..<heads {
            for a in 0..<2 {
                for j in 0..<half {
                    let hfRow = h * headSize + a * half + j, ggufRow = h * headSize + 2 * j + a
                    let (from, to) = toGGUF ? (hfRow, ggufRow) : (ggufRow, hfRow)
                    (out.pointer + to * columns).update(from: matrix.pointer + from * columns, count: columns)
                }
            }
        }
        return out
    }
}
