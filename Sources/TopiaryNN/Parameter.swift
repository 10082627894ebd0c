import TopiaryTensor

/// What a parameter is for; pruning policy decides from it (weights prunable, biases not).
public enum ParameterRole: String, Codable, Sendable {
    case weight, bias
}

/// One trainable tensor: its value, its gradient and its pruning mask, all views into the
/// model's `ParameterStore`, so an optimizer can sweep every parameter in one flat loop.
///
/// Mask entries are exactly 1.0 (alive) or 0.0 (pruned). Invariant kept by pruning and by the
/// optimizers: where `mask` is 0, `value`, `grad` and any optimizer moment are exactly 0.0.
public struct Parameter: Sendable {
    public let name: String
    /// Name of the layer that owns this parameter ("fc1").
    public let layerName: String
    public let role: ParameterRole
    public let value: Tensor
    public let grad: Tensor
    public let mask: Tensor
    /// Offset of element 0 in the store's flat buffers, in elements.
    public let offset: Int

    public var shape: [Int] { value.shape }
    public var count: Int { value.count }
    public var aliveCount: Int { countNonzeros(mask) }
}
