import TopiaryTensor

/// A differentiable layer. Each op is a forward/backward pair over flat buffers (llm.c style):
/// `forward` caches what `backward` needs; `backward` accumulates (`+=`) into parameter
/// gradients and returns the gradient with respect to its input.
///
/// Activations are tensors of any rank with the batch first: (B, features) for a Linear,
/// (B, C, H, W) for a 2-D convolution, (B, C, L) for a 1-D one, (B, T, C) for a sequence —
/// PyTorch's layouts, so weights and dumps compare element for element. Layers own their
/// output buffers, sized for the largest batch seen: a returned tensor is valid until the
/// layer's next call.
///
/// A layer is made from its hyperparameters, then a model `plan`s it for an input shape (its
/// output shape and the parameters to allocate) and `bind`s it to the allocated views.
public protocol Layer: AnyObject {
    /// The module path (`conv1`, `blocks.0.attn`); containers set their children's.
    var name: String { get set }
    /// Per-sample output shape for a per-sample input shape, and the parameters to allocate;
    /// throws `ModelError.shape` naming this layer when the input does not fit.
    func plan(inputShape: [Int]) throws -> LayerPlan
    /// The store's views of the parameters `plan` declared, in the same order.
    func bind(_ parameters: [Parameter])
    /// Parameters owned by this layer (and its children), as views into the model's store.
    var parameters: [Parameter] { get }
    /// PyTorch's default initialisation for this layer type, from `generator`.
    func initialize(using generator: inout SeededGenerator)
    func forward(_ input: Tensor) -> Tensor
    /// - Parameter needsInputGradient: false for the first layer, whose input gradient nobody
    ///   uses; skipping it saves a GEMM (and an im2col's inverse) per step.
    func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor?
    /// Training (batch statistics, dropout) or evaluation behaviour.
    func setTraining(_ training: Bool)
    /// The weight matrices this layer offers to pruning (its children's included).
    var prunableMatrices: [PrunableMatrix] { get }
    /// Children, for containers; empty for a leaf.
    var children: [any Layer] { get }
}

extension Layer {
    public func setTraining(_ training: Bool) { for child in children { child.setTraining(training) } }
    public var children: [any Layer] { [] }
    public var prunableMatrices: [PrunableMatrix] { children.flatMap(\.prunableMatrices) }
    public func initialize(using generator: inout SeededGenerator) {
        for child in children { child.initialize(using: &generator) }
    }
    /// This layer and every descendant, depth first.
    public var allLayers: [any Layer] { [self] + children.flatMap(\.allLayers) }
}

/// What a layer needs for one input shape.
public struct LayerPlan: Sendable, Equatable {
    public var outputShape: [Int]
    public var parameters: [ParameterStore.Declaration]
    public init(outputShape: [Int], parameters: [ParameterStore.Declaration] = []) {
        self.outputShape = outputShape
        self.parameters = parameters
    }
}

/// A model that cannot be built as described: the layer, what it expected, what it got.
public enum ModelError: Error, Equatable, CustomStringConvertible {
    case shape(layer: String, expected: String, got: [Int])
    case invalid(layer: String, problem: String)

    public var description: String {
        switch self {
        case .shape(let layer, let expected, let got): return "layer \(layer) expects input \(expected), but gets \(got)"
        case .invalid(let layer, let problem): return "layer \(layer): \(problem)"
        }
    }
}

/// A buffer that grows to the largest activation seen and hands out views of any shape.
public struct ActivationBuffer {
    private var storage: FloatStorage?
    public init() {}

    public mutating func tensor(_ shape: [Int]) -> Tensor {
        let count = Tensor.elementCount(shape)
        if let storage, storage.count >= count { return Tensor(storage: storage, offset: 0, shape: shape) }
        let fresh = FloatStorage(count: count)
        storage = fresh
        return Tensor(storage: fresh, offset: 0, shape: shape)
    }

    /// A (rows, columns) view.
    public mutating func rows(_ rows: Int, columns: Int) -> Tensor { tensor([rows, columns]) }
}
