import TopiaryTensor

/// A differentiable layer. Each op is a forward/backward pair over flat buffers (llm.c style):
/// `forward` caches what `backward` needs; `backward` accumulates (`+=`) into parameter
/// gradients and returns the gradient with respect to its input.
///
/// Activations are rank 2, (B, features). Layers own their output buffers, sized for the
/// largest batch seen, and return views of the first B rows: a returned tensor is valid until
/// the layer's next call.
public protocol Layer: AnyObject {
    var name: String { get }
    /// Parameters owned by this layer, as views into the model's store.
    var parameters: [Parameter] { get }
    /// Output features for `inputFeatures` input features.
    func outputFeatures(inputFeatures: Int) -> Int
    func forward(_ input: Tensor) -> Tensor
    /// - Parameter needsInputGradient: false for the first layer, whose input gradient nobody
    ///   uses; skipping it saves a (B, in) x (in, out) GEMM per step.
    func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor?
}

/// A buffer of (rows, columns) floats that grows to the largest batch seen and hands out views.
public struct ActivationBuffer {
    private var storage: Tensor?
    public init() {}

    public mutating func rows(_ rows: Int, columns: Int) -> Tensor {
        if let storage, storage.columns == columns, storage.rows >= rows { return storage.leadingRows(rows) }
        let fresh = Tensor(zeros: [rows, columns])
        storage = fresh
        return fresh
    }
}
