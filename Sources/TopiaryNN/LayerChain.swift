import TopiaryTensor

/// Layers applied in order, as one layer: what a model, a residual branch or a block is made
/// of. Planning passes each layer's output shape to the next; the chain's children are named
/// `<chain>.<local name>` when the chain itself has a name.
public final class LayerChain: Layer {
    public var name: String {
        didSet { renameChildren() }
    }
    public let layers: [any Layer]
    private let localNames: [String]
    /// Per-sample input shape of each layer (set by `plan`), and the chain's output shape.
    public private(set) var inputShapes: [[Int]] = []
    public private(set) var outputShape: [Int] = []
    private var parameterCounts: [Int] = []

    public init(name: String = "", _ layers: [any Layer]) {
        self.name = name
        self.layers = layers
        localNames = layers.map(\.name)
        renameChildren()
    }

    /// A convolution followed by a ReLU applies the ReLU while writing its output, and the
    /// ReLU layer passes it through: the same values and gradients, one pass fewer.
    private func fuseRectifiers() {
        for (producer, next) in zip(layers, layers.dropFirst()) {
            let fuse = producer is Convolution && (next as? ActivationLayer)?.activation == .relu
            (producer as? Convolution)?.rectifiesOutput = fuse
            (next as? ActivationLayer)?.inputIsRectified = fuse
        }
    }

    private func renameChildren() {
        for (layer, local) in zip(layers, localNames) { layer.name = name.isEmpty ? local : name + "." + local }
    }

    public var children: [any Layer] { layers }

    public func plan(inputShape: [Int]) throws -> LayerPlan {
        var shape = inputShape
        var declarations: [ParameterStore.Declaration] = []
        inputShapes = []
        parameterCounts = []
        for (layer, local) in zip(layers, localNames) {
            inputShapes.append(shape)
            let plan = try layer.plan(inputShape: shape)
            parameterCounts.append(plan.parameters.count)
            // Children declare names relative to themselves; the chain's are relative to it.
            declarations += plan.parameters.map { .init(local + "." + $0.name, $0.shape, role: $0.role) }
            shape = plan.outputShape
        }
        outputShape = shape
        fuseRectifiers()
        return LayerPlan(outputShape: shape, parameters: declarations)
    }

    public func bind(_ parameters: [Parameter]) {
        var start = 0
        for (layer, count) in zip(layers, parameterCounts) {
            layer.bind(Array(parameters[start..<(start + count)]))
            start += count
        }
    }

    public var parameters: [Parameter] { layers.flatMap(\.parameters) }

    public func forward(_ input: Tensor) -> Tensor {
        var x = input
        for layer in layers { x = layer.forward(x) }
        return x
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        var gradient = outputGradient
        for (index, layer) in layers.enumerated().reversed() {
            guard let next = layer.backward(gradient, needsInputGradient: index > 0 || needsInputGradient) else { return nil }
            gradient = next
        }
        return gradient
    }
}

/// y = body(x) + shortcut(x), ResNet's block; an empty shortcut is the identity. Follow it
/// with an activation layer for the classic post-activation block.
public final class Residual: Layer {
    public var name: String {
        didSet { body.name = name.isEmpty ? "body" : name; shortcut.name = (name.isEmpty ? "" : name + ".") + "shortcut" }
    }
    public let body: LayerChain
    public let shortcut: LayerChain
    private var output = ActivationBuffer()
    private var inputGradient = ActivationBuffer()

    /// - Parameters: body and shortcut layers; their names become `<name>.<layer>` and
    ///   `<name>.shortcut.<layer>` (PyTorch's module paths for such a block).
    public init(name: String, body: [any Layer], shortcut: [any Layer] = []) {
        self.name = name
        self.body = LayerChain(name: name, body)
        self.shortcut = LayerChain(name: name + ".shortcut", shortcut)
    }

    public var children: [any Layer] { [body, shortcut] }

    public func plan(inputShape: [Int]) throws -> LayerPlan {
        let bodyPlan = try body.plan(inputShape: inputShape)
        let shortcutPlan = try shortcut.plan(inputShape: inputShape)
        guard bodyPlan.outputShape == shortcutPlan.outputShape else {
            throw ModelError.shape(layer: name, expected: "a body and a shortcut of one output shape (body gives \(bodyPlan.outputShape))",
                                   got: shortcutPlan.outputShape)
        }
        let shortcutDeclarations = shortcutPlan.parameters.map { ParameterStore.Declaration("shortcut." + $0.name, $0.shape, role: $0.role) }
        bodyCount = bodyPlan.parameters.count
        return LayerPlan(outputShape: bodyPlan.outputShape, parameters: bodyPlan.parameters + shortcutDeclarations)
    }
    private var bodyCount = 0

    public func bind(_ parameters: [Parameter]) {
        body.bind(Array(parameters[..<bodyCount]))
        shortcut.bind(Array(parameters[bodyCount...]))
    }

    public var parameters: [Parameter] { body.parameters + shortcut.parameters }

    public func forward(_ input: Tensor) -> Tensor {
        let b = body.forward(input)
        let s = shortcut.layers.isEmpty ? input : shortcut.forward(input)
        let y = output.tensor(b.shape)
        simdMap(y.count, b.pointer, s.pointer, y.pointer, { $0 + $1 }, { $0 + $1 })
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        let throughBody = body.backward(outputGradient, needsInputGradient: needsInputGradient)
        let throughShortcut = shortcut.layers.isEmpty ? outputGradient : shortcut.backward(outputGradient, needsInputGradient: needsInputGradient)
        guard needsInputGradient, let throughBody, let throughShortcut else { return nil }
        let dx = inputGradient.tensor(throughBody.shape)
        simdMap(dx.count, throughBody.pointer, throughShortcut.pointer, dx.pointer, { $0 + $1 }, { $0 + $1 })
        return dx
    }
}
