import Foundation
import Testing
@testable import TopiaryNN
@testable import TopiaryOptim
@testable import TopiaryTensor

/// PyTorch's outputs and gradients for every layer type (Tests/Fixtures/
/// make_layer_reference.py wrote layer_reference.json): each case's input, parameters,
/// output, the gradient of Σ output ⊙ R with respect to the input and every parameter, and
/// BatchNorm's running statistics after the forward. Topiary's layer, given the same
/// parameters, must reproduce all of them.
struct LayerReference: Decodable {
    struct Values: Decodable {
        let shape: [Int]
        let values: [Float]
        var tensor: Tensor { Tensor(shape: shape, values: values) }
    }
    struct Case: Decodable {
        let name: String
        let layer: String
        let config: [String: ConfigValue]
        let input: Values
        let parameters: [String: Values]?
        let buffers: [String: Values]?
        let output: Values
        let upstream: Values?
        let inputGrad: Values?
        let parameterGrads: [String: Values]?
        let labels: [Int]?
        let loss: Float?
        let adamSteps: [[String: Values]]?
        enum CodingKeys: String, CodingKey {
            case name, layer, config, input, parameters, buffers, output, upstream, inputGrad = "input_grad"
            case parameterGrads = "parameter_grads", labels, loss, adamSteps = "adam_steps"
        }
    }
    enum ConfigValue: Decodable {
        case number(Double), text(String), flag(Bool), other
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) { self = .flag(b) }
            else if let d = try? c.decode(Double.self) { self = .number(d) }
            else if let s = try? c.decode(String.self) { self = .text(s) }
            else { self = .other }
        }
        var int: Int { if case .number(let d) = self { return Int(d) }; return 0 }
        var bool: Bool { if case .flag(let b) = self { return b }; return true }
    }
    let cases: [Case]

    static let loaded: LayerReference = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: packageRoot + "/Tests/Fixtures/layer_reference.json"))
        return try! JSONDecoder().decode(LayerReference.self, from: data)
    }()
}

extension AllTests {
@Suite struct LayerReferenceTests {
    let reference = LayerReference.loaded

    /// Topiary's layer for a case (names as PyTorch's module would give them).
    func layers(for c: LayerReference.Case) -> [any Layer] {
        let k = c.config
        switch c.layer {
        case "conv2d", "conv1d":
            return [Convolution(name: "conv", spatialDimensions: c.layer == "conv2d" ? 2 : 1, inChannels: k["in_channels"]!.int,
                                outChannels: k["out_channels"]!.int, kernel: k["kernel_size"]!.int, stride: k["stride"]!.int,
                                padding: k["padding"]!.int, bias: k["bias"]?.bool ?? true)]
        case "maxpool2d", "maxpool1d", "avgpool2d", "avgpool1d":
            return [Pooling(name: "pool", kind: c.layer.hasPrefix("max") ? .max : .average, spatialDimensions: c.layer.hasSuffix("2d") ? 2 : 1,
                            kernel: k["kernel_size"]!.int, stride: k["stride"]!.int)]
        case "global_avgpool2d", "global_avgpool1d": return [GlobalAveragePooling(name: "pool")]
        case "batchnorm2d", "batchnorm1d": return [BatchNorm(name: "bn", features: k["num_features"]!.int)]
        case "layernorm": return [LayerNorm(name: "ln", features: k["normalized_shape"]!.int)]
        case "linear": return [Linear(name: "fc", inFeatures: k["in_features"]!.int, outFeatures: k["out_features"]!.int)]
        case "embedding": return [Embedding(name: "wte", count: k["num_embeddings"]!.int, features: k["embedding_dim"]!.int)]
        case "flatten": return [Flatten(name: "flatten")]
        case "residual_block":
            return [Residual(name: "block", body: [Convolution.conv2d("conv1", 4, 4, kernel: 3, padding: 1), BatchNorm(name: "bn1", features: 4),
                                                   ActivationLayer(name: "relu1", .relu), Convolution.conv2d("conv2", 4, 4, kernel: 3, padding: 1),
                                                   BatchNorm(name: "bn2", features: 4)]),
                    ActivationLayer(name: "relu", .relu)]
        default: return [ActivationLayer(name: "act", Activation(rawValue: c.layer)!)]
        }
    }

    /// The fixture's parameter name for one of ours: the layer's own prefix dropped
    /// (`conv.weight` → `weight`, `block.conv1.weight` → `conv1.weight`).
    func fixtureName(_ name: String) -> String { String(name.split(separator: ".", maxSplits: 1)[1]) }

    func expectClose(_ actual: Tensor, _ expected: LayerReference.Values, _ label: String, tolerance: Float = 1e-4) {
        #expect(actual.count == expected.values.count, "\(label): \(actual.shape) vs \(expected.shape)")
        guard actual.count == expected.values.count else { return }
        var worst: Float = 0
        for i in 0..<actual.count { worst = max(worst, abs(actual[i] - expected.values[i]) / max(1, abs(expected.values[i]))) }
        #expect(worst < tolerance, "\(label): largest relative difference \(worst)")
    }

    @Test func everyLayerMatchesPyTorch() throws {
        for c in reference.cases where c.layer != "lenet5_model" {
            var g = SeededGenerator(seed: 1)
            let model = try Sequential(inputShape: Array(c.input.shape.dropFirst()), layers: layers(for: c), generator: &g)
            let training = c.config["training"]?.bool ?? true
            // A training-mode case's buffers are the statistics after its forward; it starts
            // from PyTorch's initial ones (mean 0, variance 1), as ours do.
            for parameter in model.parameters where !(training && parameter.role == .buffer) {
                let source = c.parameters?[fixtureName(parameter.name)] ?? c.buffers?[fixtureName(parameter.name)]
                let values = try #require(source, "\(c.name): no \(parameter.name) in the fixture").values
                for (i, v) in values.enumerated() { parameter.value[i] = v }
            }
            model.setTraining(training)
            let output = model.forward(c.input.tensor)
            expectClose(output, c.output, "\(c.name) output")
            for (name, expected) in c.buffers ?? [:] {
                expectClose(try #require(model.parameters.first { fixtureName($0.name) == name }).value, expected, "\(c.name) \(name)")
            }
            guard let upstream = c.upstream else { continue }
            model.store.zeroGrads()
            let inputGradient = model.chain.backward(upstream.tensor, needsInputGradient: c.inputGrad != nil)
            if let expected = c.inputGrad { expectClose(try #require(inputGradient), expected, "\(c.name) input gradient") }
            for (name, expected) in c.parameterGrads ?? [:] {
                expectClose(try #require(model.parameters.first { fixtureName($0.name) == name }).grad, expected, "\(c.name) d\(name)")
            }
        }
    }

    /// LeNet-5 as a whole: the cross-entropy of two images, every parameter's gradient, and one
    /// Adam step, from PyTorch's initial weights.
    @Test func lenet5MatchesPyTorch() throws {
        let c = try #require(reference.cases.first { $0.layer == "lenet5_model" })
        var g = SeededGenerator(seed: 0)
        let model = try ModelFactoryProbe.lenet5(&g)
        // PyTorch's nn.Sequential indices → Topiary's names.
        let names = ["0": "conv1", "3": "conv2", "7": "fc1", "9": "fc2", "11": "fc3"]
        func ours(_ fixture: String) -> String {
            let parts = fixture.split(separator: ".")
            return names[String(parts[0])]! + "." + parts[1]
        }
        for (name, values) in try #require(c.parameters) {
            let parameter = try #require(model.parameter(named: ours(name)))
            for (i, v) in values.values.enumerated() { parameter.value[i] = v }
        }
        let task = ClassificationTask()
        let targets = Tensor(shape: [c.labels!.count], values: c.labels!.map(Float.init))
        model.store.zeroGrads()
        let (loss, gradient) = task.lossAndGradient(output: model.forward(c.input.tensor), targets: targets)
        expectClose(model.forward(c.input.tensor), c.output, "lenet5 logits")
        #expect(abs(loss - c.loss!) < 1e-5 * max(1, c.loss!))
        _ = task.lossAndGradient(output: model.forward(c.input.tensor), targets: targets)
        model.backward(gradient)
        for (name, expected) in try #require(c.parameterGrads) {
            expectClose(try #require(model.parameter(named: ours(name))).grad, expected, "lenet5 d\(name)", tolerance: 1e-3)
        }
        let adam = Adam(store: model.store)
        adam.step(learningRate: 1e-3)
        for (name, expected) in try #require(c.adamSteps?.first) {
            expectClose(try #require(model.parameter(named: ours(name))).value, expected, "lenet5 after Adam \(name)", tolerance: 1e-4)
        }
    }
}
}

@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySpec
@testable import TopiaryStudy
@testable import TopiaryTraining
enum ModelFactoryProbe {
    static func lenet5(_ g: inout SeededGenerator) throws -> any Model {
        try ModelFactory.make(ModelSpec(architecture: "lenet5"), dataShape: [28, 28], outputs: 10, generator: &g)
    }
}
