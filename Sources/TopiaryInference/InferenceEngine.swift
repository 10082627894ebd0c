/// How a layer's weights are stored and multiplied at inference time.
public enum InferenceEngine: String, CaseIterable, Codable, Sendable {
    /// BLAS on the masked Float32 weights: the baseline every toolkit measures.
    case dense
    /// Compressed sparse rows: gathers at batch 1, batch-streaming SpMM above.
    case csr
    /// Sliced ELLPACK with 32-column windows: permutes instead of gathers at batch 1; larger
    /// batches run sample by sample.
    case sell
    /// N:M-packed values (N kept of every M along the input), when every pruned layer's
    /// mask is N:M.
    case nm
    /// Dense BLAS on the compacted model: dead neurons and unused inputs removed.
    case compact
    /// Per-row symmetric int8 weights, dense storage.
    case int8
    /// int8 weights in CSR.
    case int8CSR = "int8_csr"

    /// Whether outputs equal the float model's up to rounding (int8 engines quantize).
    public var isExact: Bool { self != .int8 && self != .int8CSR }
    /// Engines whose choice is per layer (compact transforms the whole model).
    public var isPerLayer: Bool { self != .compact }
    /// Whether the engine has a features-major batch kernel (sell and nm run sample by sample,
    /// so above batch 1 they cannot sit beside csr in one model).
    public var hasBatchKernel: Bool { self != .sell && self != .nm }
}
