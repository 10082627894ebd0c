import TopiaryNN
import TopiaryTensor

/// A model as inference sees it: Linear layers, each optionally followed by ReLU.
public struct LinearStack: Sendable {
    public struct Layer: Sendable {
        public let name: String
        public let weight: Tensor   // (out, in), pruned entries exactly 0
        public let mask: Tensor     // (out, in), 0 or 1
        public let bias: Tensor     // (out)
        public let relu: Bool
    }

    public let layers: [Layer]
    public var inputFeatures: Int { layers[0].weight.columns }

    /// Reads a Sequential made of Linear layers with optional ReLUs between them.
    public init(_ model: Sequential) {
        var layers: [Layer] = []
        for (index, layer) in model.layers.enumerated() {
            guard let linear = layer as? Linear else {
                require(layer is ReLU, "inference supports Linear and ReLU layers, not \(type(of: layer))")
                continue
            }
            let relu = index + 1 < model.layers.count && model.layers[index + 1] is ReLU
            layers.append(Layer(name: linear.name, weight: linear.weight.value, mask: linear.weight.mask,
                                bias: linear.bias.value, relu: relu))
        }
        require(!layers.isEmpty, "the model has no Linear layer")
        self.layers = layers
    }

    init(layers: [Layer]) { self.layers = layers }
}
