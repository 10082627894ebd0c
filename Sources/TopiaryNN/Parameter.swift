import TopiaryTensor

/// What a parameter is: a learned weight or bias (PyTorch's `weight`/`bias`, including a
/// norm's gain and shift), or a buffer the layer updates itself (BatchNorm's running
/// statistics), which no optimizer touches.
public enum ParameterRole: String, Codable, Sendable {
    case weight, bias, buffer
}

/// Whether a parameter takes part in training, and how fast: a shared box, so freezing a
/// parameter (a LoRA base, say) is seen by the layer and the optimizer alike.
public final class ParameterFlags: @unchecked Sendable {
    public var trainable: Bool
    /// Multiplies the learning rate Adam(W) uses for this parameter: µP sets base_width/width
    /// on hidden matrices (`MaximalUpdate`); 1 otherwise.
    public var learningRateScale: Float = 1
    /// The layer computes this parameter's gradient although no optimizer steps it: a weight
    /// that adapters reparametrize (W = W₀ + s·BA) needs ∂L/∂W for the chain rule to B and A.
    public var gradientForReparametrization = false
    init(trainable: Bool) { self.trainable = trainable }
}

/// One named tensor of a model: its value, its gradient and its pruning mask, all views into
/// the model's `ParameterStore`, so an optimizer can sweep every parameter in one flat loop.
///
/// Names are PyTorch's (`conv1.weight`, `blocks.0.attn.qkv.bias`): `layerName` is the owning
/// module's path, the name adds the tensor's own (`weight`, `bias`, `running_mean`).
///
/// Mask entries are exactly 1.0 (alive) or 0.0 (pruned). Invariant kept by pruning and by the
/// optimizers: where `mask` is 0, `value`, `grad` and any optimizer moment are exactly 0.0.
/// A frozen parameter (`trainable` false) gets no optimizer step, and no gradient unless
/// adapters reparametrize it.
public struct Parameter: @unchecked Sendable {
    public let name: String
    /// Name of the layer that owns this parameter ("fc1", "blocks.0.attn").
    public let layerName: String
    public let role: ParameterRole
    public let value: Tensor
    public let grad: Tensor
    public let mask: Tensor
    /// Offset of element 0 in the store's flat buffers, in elements.
    public let offset: Int
    public let flags: ParameterFlags

    public var shape: [Int] { value.shape }
    public var count: Int { value.count }
    public var aliveCount: Int { countNonzeros(mask) }
    public var trainable: Bool { flags.trainable }
    /// Whether backward accumulates into `grad`: trainable, or reparametrized by adapters.
    public var needsGradient: Bool { flags.trainable || flags.gradientForReparametrization }
    public var learningRateScale: Float { flags.learningRateScale }
    /// A weight of two or more dimensions (a matrix, a convolution kernel, an embedding
    /// table): what GPT-2 training applies weight decay to, unlike biases and norm gains.
    public var isMatrix: Bool { role == .weight && shape.count >= 2 }
}
