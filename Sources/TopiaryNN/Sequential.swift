import TopiaryTensor

/// Layers applied in order, with all their parameters in one `ParameterStore`.
public final class Sequential: @unchecked Sendable {
    public let layers: [any Layer]
    public let store: ParameterStore
    public let inputFeatures: Int
    public let outputFeatures: Int

    public init(inputFeatures: Int, layers: [any Layer], store: ParameterStore) {
        var features = inputFeatures
        for layer in layers { features = layer.outputFeatures(inputFeatures: features) }
        let owned = Set(layers.flatMap { $0.parameters.map(\.offset) })
        require(owned == Set(store.parameters.map(\.offset)),
                     "every parameter in the store must belong to exactly one layer")
        self.inputFeatures = inputFeatures
        self.outputFeatures = features
        self.layers = layers
        self.store = store
    }

    /// Logits (B, outputs) for inputs (B, inputFeatures); valid until the next forward.
    public func forward(_ input: Tensor) -> Tensor {
        var x = input
        for layer in layers { x = layer.forward(x) }
        return x
    }

    /// Backpropagates dLoss/dLogits through every layer, accumulating parameter gradients.
    /// The input gradient of the first layer is never formed (nothing consumes it).
    public func backward(_ outputGradient: Tensor) {
        var gradient = outputGradient
        for (index, layer) in layers.enumerated().reversed() {
            guard let next = layer.backward(gradient, needsInputGradient: index > 0) else { break }
            gradient = next
        }
    }

    public var parameters: [Parameter] { store.parameters }
    /// The Linear layers, in order.
    public var linearLayers: [Linear] { layers.compactMap { $0 as? Linear } }
    /// The Linear layers whose weight is one of `parameters` (scorers install hooks on them).
    public func linearLayers(owning parameters: [Parameter]) -> [Linear] {
        linearLayers.filter { layer in parameters.contains { $0.offset == layer.weight.offset } }
    }
    /// The weights pruning may touch before any exclusion (biases are never pruned).
    public var weightParameters: [Parameter] { store.parameters.filter { $0.role == .weight } }

    /// e.g. "784-300-100-10 (Linear+ReLU)".
    public var architectureDescription: String {
        var sizes = [inputFeatures]
        sizes += linearLayers.map(\.outFeatures)
        return sizes.map(String.init).joined(separator: "-")
    }
}

extension Sequential {
    /// A multilayer perceptron: Linear+ReLU for each hidden size, then a Linear to `outputs`.
    /// Layers are named fc1, relu1, fc2, … Initialised as PyTorch does (U(±1/√fan_in)).
    public static func multilayerPerceptron(inputFeatures: Int, hiddenSizes: [Int], outputs: Int,
                                            generator: inout SeededGenerator) -> Sequential {
        require(inputFeatures > 0 && outputs > 0 && hiddenSizes.allSatisfy { $0 > 0 },
                     "layer sizes must be > 0, got \(inputFeatures), \(hiddenSizes), \(outputs)")
        let sizes = [inputFeatures] + hiddenSizes + [outputs]
        var layout = ParameterStore.Layout()
        var declared: [(weight: Int, bias: Int)] = []
        for index in 0..<(sizes.count - 1) {
            declared.append(Linear.declare("fc\(index + 1)", in: sizes[index], out: sizes[index + 1],
                                           layout: &layout))
        }
        let store = ParameterStore(layout)
        var layers: [any Layer] = []
        for (index, ids) in declared.enumerated() {
            let linear = Linear(name: "fc\(index + 1)", weight: store.parameters[ids.weight],
                                bias: store.parameters[ids.bias])
            linear.initialize(using: &generator)
            layers.append(linear)
            if index < declared.count - 1 { layers.append(ReLU(name: "relu\(index + 1)")) }
        }
        return Sequential(inputFeatures: inputFeatures, layers: layers, store: store)
    }
}
