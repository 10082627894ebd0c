import TopiaryTensor

/// A model as inference engines run it: operations on batch-first tensors, in order. Each
/// `matrix` is where an engine plugs in a kernel (dense, CSR, SELL, N:M, int8, compacted);
/// everything else runs the same on every engine.
public indirect enum InferenceOperation: @unchecked Sendable {
    /// y = W x + b at every position: a Linear on (B, in), a convolution on (B, C, …).
    case matrix(PrunableMatrix, bias: Tensor?)
    /// Per channel (axis 1) y = x · scale + shift: a BatchNorm in evaluation form. Engines
    /// fold it into the matrix before it.
    case channelAffine(scale: [Float], shift: [Float])
    case activation(Activation)
    case maxPool(PoolGeometry)
    case averagePool(PoolGeometry)
    /// (B, C, spatial…) → (B, C).
    case globalAveragePool
    /// (B, …) → (B, product).
    case flatten
    /// body(x) + shortcut(x) (an empty shortcut is the identity).
    case residual(body: [InferenceOperation], shortcut: [InferenceOperation])
    /// Over the last axis: (x − mean)/√(var + ε) · gain + shift.
    case layerNorm(gain: Tensor, shift: Tensor, epsilon: Float)
    /// (B, T) token ids held as floats → (B, T, C): row `id` of the (V, C) table per position.
    case tokenEmbedding(table: Tensor)
    /// (B, T, C) + rows p₀ ..< p₀ + T of the (context, C) table, p₀ the positions a KV cache
    /// already holds (0 without one).
    case positionEmbedding(table: Tensor)
    /// GPT-2 causal self-attention on (B, T, C): the qkv matrix (3C × C), per head
    /// softmax(q·kᵀ/√hs) over positions ≤ t times v, then the proj matrix (C × C).
    /// `queryScale` multiplies the query rows (1 for GPT-2; µP's √hs·scoreScale, folded into
    /// the qkv copy so engines keep 1/√hs).
    case causalAttention(qkv: PrunableMatrix, qkvBias: Tensor?, proj: PrunableMatrix, projBias: Tensor?, heads: Int, queryScale: Float)
    /// Over the last axis: x / √(mean(x²) + ε) ⊙ gain (Llama's RMSNorm).
    case rmsNorm(gain: Tensor, epsilon: Float)
    /// Llama attention on (B, T, C): q (NH·hs × C), k and v (NKV·hs × C) projections, rotary
    /// embeddings on q and k at their absolute positions, query head h reading key/value head
    /// h / (NH/NKV) causally, then the output projection (C × NH·hs). `rotary` is prepared for
    /// the positions a window (and a generation's cache) holds.
    case groupedAttention(query: PrunableMatrix, key: PrunableMatrix, value: PrunableMatrix, output: PrunableMatrix,
                          heads: Int, keyValueHeads: Int, rotary: RotaryEmbedding)
    /// SwiGLU on (…, C): down(silu(gate x) ⊙ up x).
    case gatedMLP(gate: PrunableMatrix, up: PrunableMatrix, down: PrunableMatrix)
    /// y = factor · x (µP's output multiplier).
    case scale(Float)
    /// (B, T, C) → (B, T, V) logits x · Eᵀ, E the (V, C) token table the head is tied to.
    case tiedHead(table: Tensor)
}

/// A pooling window over the spatial axes (1 or 2 of them) of (B, C, spatial…).
public struct PoolGeometry: Sendable, Equatable, Codable {
    public var kernel: [Int]
    public var stride: [Int]
    public var inputSize: [Int]
    public var outputSize: [Int]
    public init(kernel: [Int], stride: [Int], inputSize: [Int], outputSize: [Int]) {
        self.kernel = kernel
        self.stride = stride
        self.inputSize = inputSize
        self.outputSize = outputSize
    }
}
