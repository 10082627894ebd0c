import Foundation
import TopiaryData
import TopiaryFormats
import TopiaryNN
import TopiarySpec
import TopiaryTensor

/// Builds the spec's model for a data set's samples and a task's outputs.
public enum ModelFactory {
    /// The model of `spec` reading samples shaped `dataShape` (as the data set stores them:
    /// [28, 28] an image, [6, 100] a series, [64] a table row) with `outputs` outputs.
    /// A shape the layers cannot take is a `SpecProblem` at `model`, naming the layer.
    public static func make(_ spec: ModelSpec, dataShape: [Int], outputs: Int, generator: inout SeededGenerator) throws -> any Model {
        if let factory = ModelRegistry.factory(spec.architecture), !spec.isBuiltIn {
            var context = ModelRegistry.Context(dataShape: dataShape, outputs: outputs, generator: generator, spec: spec)
            let model = try factory(&context)
            generator = context.generator
            return model
        }
        if spec.isLlama, let source = spec.initFrom, let context = spec.blockSize {
            // Shape from the file; the weights are loaded next (`InitialWeights`), so none are drawn.
            let configuration = try llamaConfiguration(source, context: context)
            guard dataShape == [context] else {
                throw SpecProblem(keyPath: "model.block_size", problem: "the model reads windows of \(context) tokens, but the data's samples have shape \(dataShape).")
            }
            do { return try Sequential.llama(configuration, generator: &generator, initialize: false) } catch let error as ModelError {
                throw SpecProblem(keyPath: "model", problem: "\(error).")
            }
        }
        if let configuration = spec.gptConfiguration {
            guard dataShape == [configuration.context] else {
                throw SpecProblem(keyPath: "model.block_size", problem: "the model reads windows of \(configuration.context) tokens, but the data's samples have shape \(dataShape).")
            }
            do { return try Sequential.gpt(configuration, generator: &generator) } catch let error as ModelError {
                throw SpecProblem(keyPath: "model", problem: "\(error).")
            }
        }
        let inputShape = try self.inputShape(spec, dataShape: dataShape)
        if spec.architecture == "mlp", let parametrization = spec.maximalUpdate, let hiddenSizes = spec.hiddenSizes {
            return try Sequential.maximalUpdateMLP(inputFeatures: inputShape[0], hiddenSizes: hiddenSizes, outputs: outputs,
                                                   parametrization: parametrization, generator: &generator)
        }
        do {
            return try Sequential(inputShape: inputShape, layers: try layers(spec, inputShape: inputShape, outputs: outputs), generator: &generator)
        } catch let error as ModelError {
            throw SpecProblem(keyPath: "model", problem: "\(error). The data's samples have shape \(dataShape).")
        }
    }

    /// The Llama configuration of the GGUF or Hugging Face folder `source` names (a `cache:`
    /// path allowed).
    static func llamaConfiguration(_ source: String, context: Int) throws -> LlamaConfiguration {
        try LlamaSources.reading(DataCache.resolve(source)) { try $0.configuration(context: context) }
    }

    /// How an architecture reads a sample: an MLP flattens it; a 2-D CNN wants (C, H, W) (an
    /// image without channels gets one); a 1-D CNN wants (C, L).
    static func inputShape(_ spec: ModelSpec, dataShape: [Int]) throws -> [Int] {
        let first = spec.layers?.first?.type
        switch spec.architecture {
        case "mlp": return [dataShape.reduce(1, *)]
        case "lenet5": return dataShape.count == 2 ? [1] + dataShape : dataShape
        case "cnn1d": return dataShape.count == 1 ? [1] + dataShape : dataShape
        default:
            if first == .conv2d || first == .maxpool2d || first == .avgpool2d { return dataShape.count == 2 ? [1] + dataShape : dataShape }
            if first == .conv1d || first == .maxpool1d || first == .avgpool1d { return dataShape.count == 1 ? [1] + dataShape : dataShape }
            if first == .linear { return [dataShape.reduce(1, *)] }
            return dataShape
        }
    }

    static func layers(_ spec: ModelSpec, inputShape: [Int], outputs: Int) throws -> [any Layer] {
        switch spec.architecture {
        case "mlp":
            guard let hiddenSizes = spec.hiddenSizes else { throw SpecProblem(keyPath: "model.hidden_sizes", problem: "is required for architecture mlp.") }
            return Sequential.mlpLayers(inputFeatures: inputShape[0], hiddenSizes: hiddenSizes, outputs: outputs)
        case "lenet5":
            let (c1, c2) = (spec.channels?[0] ?? 6, spec.channels?[1] ?? 16)
            let (f1, f2) = (spec.hiddenWidths?[0] ?? 120, spec.hiddenWidths?[1] ?? 84)
            let list: [LayerSpec] = [
                .conv(2, "conv1", c1, kernel: 5, padding: 2), .init(type: .relu, name: "relu1"), .pool(2, "pool1"),
                .conv(2, "conv2", c2, kernel: 5, padding: 0), .init(type: .relu, name: "relu2"), .pool(2, "pool2"),
                .init(type: .flatten, name: "flatten"),
                .linear("fc1", f1), .init(type: .relu, name: "relu3"), .linear("fc2", f2), .init(type: .relu, name: "relu4"),
                .linear("fc3", outputs)]
            return try build(list, inputShape: inputShape, outputs: outputs)
        case "cnn1d":
            let kernel = spec.kernelSize ?? 5
            var list: [LayerSpec] = []
            for (index, channels) in (spec.channels ?? [32, 64]).enumerated() {
                list += [.conv(1, "conv\(index + 1)", channels, kernel: kernel, padding: kernel / 2), .init(type: .batchnorm, name: "bn\(index + 1)"),
                         .init(type: .relu, name: "relu\(index + 1)")]
            }
            list.append(.init(type: .globalAvgpool, name: "pool"))
            if let dropout = spec.dropout, dropout > 0 {
                var layer = LayerSpec(type: .dropout, name: "dropout")
                layer.p = dropout
                list.append(layer)
            }
            list.append(.linear("fc", outputs))
            return try build(list, inputShape: inputShape, outputs: outputs)
        default:
            guard let layers = spec.layers, !layers.isEmpty else { throw SpecProblem(keyPath: "model.layers", problem: "is required (a non-empty list) for architecture layers.") }
            return try build(layers, inputShape: inputShape, outputs: outputs)
        }
    }

    /// Layers of a `layers:` list. A Linear without out_features gets the task's outputs when
    /// it is the last layer; a convolution's input channels come from its input shape.
    static func build(_ list: [LayerSpec], inputShape: [Int], outputs: Int, counters: inout [String: Int], prefix: String = "") throws -> [any Layer] {
        var shape = inputShape
        var layers: [any Layer] = []
        for (index, entry) in list.enumerated() {
            let base = ["linear": "fc", "conv2d": "conv", "conv1d": "conv", "batchnorm": "bn", "global_avgpool": "pool", "maxpool2d": "pool",
                        "avgpool2d": "pool", "maxpool1d": "pool", "avgpool1d": "pool", "residual": "block"][entry.type.rawValue] ?? entry.type.rawValue
            let name = entry.name ?? {
                counters[base, default: 0] += 1
                return base + "\(counters[base]!)"
            }()
            let isLast = prefix.isEmpty && index == list.count - 1
            let layer: any Layer
            switch entry.type {
            case .linear:
                guard let out = entry.outFeatures ?? (isLast ? outputs : nil) else {
                    throw SpecProblem(keyPath: "model.layers[\(index)].out_features", problem: "is required except on the last layer (which defaults to the task's \(outputs) outputs).")
                }
                layer = Linear(name: name, inFeatures: shape.last ?? 1, outFeatures: out, bias: entry.bias ?? true)
            case .conv2d, .conv1d:
                layer = Convolution(name: name, spatialDimensions: entry.type == .conv2d ? 2 : 1, inChannels: shape.first ?? 1,
                                    outChannels: entry.outChannels!, kernel: entry.kernelSize!, stride: entry.stride ?? 1,
                                    padding: entry.padding ?? 0, bias: entry.bias ?? true)
            case .maxpool2d, .avgpool2d, .maxpool1d, .avgpool1d:
                layer = Pooling(name: name, kind: entry.type == .maxpool2d || entry.type == .maxpool1d ? .max : .average,
                                spatialDimensions: entry.type == .maxpool2d || entry.type == .avgpool2d ? 2 : 1,
                                kernel: entry.kernelSize!, stride: entry.stride)
            case .globalAvgpool: layer = GlobalAveragePooling(name: name)
            case .flatten: layer = Flatten(name: name)
            case .batchnorm: layer = BatchNorm(name: name, features: shape.first ?? 1)
            case .layernorm: layer = LayerNorm(name: name, features: shape.last ?? 1)
            case .dropout: layer = Dropout(name: name, probability: Float(entry.p!))
            case .relu, .gelu, .geluTanh, .silu, .tanh: layer = ActivationLayer(name: name, Activation(rawValue: entry.type.rawValue)!)
            case .residual:
                var inner: [String: Int] = [:]
                let body = try build(entry.layers!, inputShape: shape, outputs: outputs, counters: &inner, prefix: name)
                let shortcut = try build(entry.shortcut ?? [], inputShape: shape, outputs: outputs, counters: &inner, prefix: name)
                layer = Residual(name: name, body: body, shortcut: shortcut)
            }
            do { shape = try layer.plan(inputShape: shape).outputShape } catch let error as ModelError {
                throw SpecProblem(keyPath: "model.layers[\(index)]", problem: "\(error).")
            }
            layers.append(layer)
        }
        return layers
    }

    static func build(_ list: [LayerSpec], inputShape: [Int], outputs: Int) throws -> [any Layer] {
        var counters: [String: Int] = [:]
        return try build(list, inputShape: inputShape, outputs: outputs, counters: &counters)
    }
}

extension LayerSpec {
    static func conv(_ dimensions: Int, _ name: String, _ channels: Int, kernel: Int, padding: Int) -> LayerSpec {
        var layer = LayerSpec(type: dimensions == 2 ? .conv2d : .conv1d, name: name)
        (layer.outChannels, layer.kernelSize, layer.padding) = (channels, kernel, padding)
        return layer
    }
    static func pool(_ kernel: Int, _ name: String) -> LayerSpec {
        var layer = LayerSpec(type: .maxpool2d, name: name)
        layer.kernelSize = kernel
        return layer
    }
    static func linear(_ name: String, _ out: Int) -> LayerSpec {
        var layer = LayerSpec(type: .linear, name: name)
        layer.outFeatures = out
        return layer
    }
}
