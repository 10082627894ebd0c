/// Trainable parameters that stand in for some of a model's weights: the model's weights are
/// computed from them (`materialize`), and after backward the weights' gradients flow back to
/// them (`backpropagate`). The optimizer steps `store`; the reparametrized weights are frozen
/// (no optimizer state) but keep their gradient (`ParameterFlags.gradientForReparametrization`).
/// LoRA adapters are one: W = W₀ + s·BA.
public protocol WeightReparametrization: AnyObject {
    /// The parameters an optimizer steps in place of the reparametrized weights.
    var store: ParameterStore { get }
    /// Writes the reparametrized weights of the model from the current parameters.
    func materialize()
    /// Accumulates `store`'s gradients from the model's weight gradients ∂L/∂W.
    func backpropagate()
}
