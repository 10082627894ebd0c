import TopiaryTensor

/// A model made of layers applied in order (residual blocks inside), with all their
/// parameters in one `ParameterStore`: the MLP, LeNet-5, a 1-D CNN, or any `layers:` list.
public final class Sequential: Model, @unchecked Sendable {
    public let chain: LayerChain
    public let store: ParameterStore
    public let inputShape: [Int]
    public let outputShape: [Int]
    public let prunableMatrices: [PrunableMatrix]

    /// Plans every layer for `inputShape` (a shape that does not fit is `ModelError.shape`
    /// naming the layer), allocates the store, binds the layers to it and initialises them
    /// from `generator` in layer order, as PyTorch would — unless `initialize` is false (a
    /// model whose every weight a file will overwrite; its values are then zeros).
    public init(inputShape: [Int], layers: [any Layer], generator: inout SeededGenerator, initialize: Bool = true) throws {
        chain = LayerChain(layers)
        let plan = try chain.plan(inputShape: inputShape)
        var layout = ParameterStore.Layout()
        for declaration in plan.parameters {
            let split = declaration.name.lastIndex(of: ".")!
            layout.add(layer: String(declaration.name[..<split]), name: String(declaration.name[declaration.name.index(after: split)...]),
                       role: declaration.role, shape: declaration.shape)
        }
        store = ParameterStore(layout)
        chain.bind(store.parameters)
        if initialize { chain.initialize(using: &generator) }
        self.inputShape = inputShape
        outputShape = plan.outputShape
        prunableMatrices = chain.prunableMatrices
    }

    public var layers: [any Layer] { chain.layers }
    /// Every layer, containers and their children included, depth first.
    public var allLayers: [any Layer] { chain.allLayers }

    /// Inputs (B, …) whose samples hold the model's input elements in any shape of the same
    /// count ((B, 28, 28) for an MLP of 784 inputs) are read as (B, inputShape…).
    public func forward(_ input: Tensor) -> Tensor {
        require(input.rank >= 1 && input.sampleCount == inputCount,
                "the model expects inputs (B, \(inputShape.map(String.init).joined(separator: ", "))), got \(input.shape)")
        return chain.forward(input.reshaped([input.shape[0]] + inputShape))
    }

    /// The input gradient of the first layer is never formed (nothing consumes it).
    public func backward(_ outputGradient: Tensor) {
        _ = chain.backward(outputGradient, needsInputGradient: false)
    }

    public func setTraining(_ training: Bool) { chain.setTraining(training) }

    /// The Linear layers, in order (for MLP-specific tools).
    public var linearLayers: [Linear] { allLayers.compactMap { $0 as? Linear } }

    /// The generators of stochastic layers (dropout), for checkpoints.
    public var randomState: [[UInt64]] {
        get { allLayers.compactMap { ($0 as? Dropout)?.generator.stateArray } }
        set {
            for (layer, state) in zip(allLayers.compactMap { $0 as? Dropout }, newValue) { layer.generator = SeededGenerator(stateArray: state) }
        }
    }

    /// A one-line description a builder gives (a Llama's shape) instead of the layer list.
    public var summary: String?

    public var architectureDescription: String {
        if let summary { return summary }
        let kinds = allLayers.filter { !($0 is LayerChain) }
        if kinds.allSatisfy({ $0 is Linear || $0 is ActivationLayer }) {
            return ([inputShape.reduce(1, *)] + linearLayers.map(\.outFeatures)).map(String.init).joined(separator: "-")
        }
        return layers.map(Sequential.describe).joined(separator: " ")
    }

    static func describe(_ layer: any Layer) -> String {
        switch layer {
        case let l as Linear: return "fc(\(l.outFeatures))"
        case let c as Convolution: return "conv\(c.spatialDimensions)d(\(c.outChannels),\(c.kernel.map(String.init).joined(separator: "x")))"
        case let a as ActivationLayer: return a.activation.rawValue
        case let p as Pooling: return "\(p.kind == .max ? "max" : "avg")pool\(p.kernel)"
        case is GlobalAveragePooling: return "gap"
        case is Flatten: return "flatten"
        case is BatchNorm: return "bn"
        case let d as Dropout: return "dropout(\(d.probability))"
        case is LayerNorm: return "ln"
        case is Embedding: return "embedding"
        case let r as Residual: return "res[" + r.body.layers.map(describe).joined(separator: " ") + "]"
        default: return String(describing: type(of: layer))
        }
    }
}

extension SeededGenerator {
    public var stateArray: [UInt64] { [state.0, state.1, state.2, state.3] }
    public init(stateArray s: [UInt64]) { self.init(state: (s[0], s[1], s[2], s[3])) }
}

extension Sequential {
    /// A multilayer perceptron: Linear+ReLU for each hidden size, then a Linear to `outputs`.
    /// Layers are named fc1, relu1, fc2, … Initialised as PyTorch does (U(±1/√fan_in)).
    public static func multilayerPerceptron(inputFeatures: Int, hiddenSizes: [Int], outputs: Int,
                                            generator: inout SeededGenerator) -> Sequential {
        require(inputFeatures > 0 && outputs > 0 && hiddenSizes.allSatisfy { $0 > 0 },
                "layer sizes must be > 0, got \(inputFeatures), \(hiddenSizes), \(outputs)")
        return try! Sequential(inputShape: [inputFeatures], layers: mlpLayers(inputFeatures: inputFeatures, hiddenSizes: hiddenSizes, outputs: outputs),
                               generator: &generator)
    }

    /// fc1, relu1, fc2, relu2, …, fc(n+1).
    public static func mlpLayers(inputFeatures: Int, hiddenSizes: [Int], outputs: Int) -> [any Layer] {
        let sizes = [inputFeatures] + hiddenSizes + [outputs]
        var layers: [any Layer] = []
        for index in 0..<(sizes.count - 1) {
            layers.append(Linear(name: "fc\(index + 1)", inFeatures: sizes[index], outFeatures: sizes[index + 1]))
            if index < sizes.count - 2 { layers.append(ActivationLayer(name: "relu\(index + 1)", .relu)) }
        }
        return layers
    }
}
