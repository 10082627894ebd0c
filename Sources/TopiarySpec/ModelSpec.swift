import Foundation
import TopiaryNN

/// `model:` — the network, by name or as a list of layers:
///
///     model: { architecture: mlp, hidden_sizes: [300, 100] }          # fc1, relu1, fc2, …
///     model: { architecture: lenet5 }                                  # LeCun's, as PyTorch's W2
///     model: { architecture: cnn1d, channels: [32, 64], kernel_size: 5 }   # sensor series
///     model: { architecture: llama, init_from: cache:smollm2/SmolLM2-135M-Instruct.Q4_1.gguf, block_size: 256 }
///     model:
///       architecture: layers
///       layers:
///         - { type: conv2d, out_channels: 8, kernel_size: 3, padding: 1 }
///         - { type: batchnorm }
///         - { type: relu }
///         - { type: residual, layers: [{ type: conv2d, out_channels: 8, kernel_size: 3, padding: 1 }, { type: batchnorm }] }
///         - { type: relu }
///         - { type: global_avgpool }
///         - { type: linear }                    # out_features defaults to the task's outputs on the last layer
///
/// A model by name may also be one a program registered (`ModelRegistry`). Input shapes come
/// from the data, the output size from the task.
public struct ModelSpec: Codable, Sendable, Equatable {
    public var architecture: String
    /// mlp: hidden layer widths.
    public var hiddenSizes: [Int]?
    /// lenet5 and cnn1d: convolution channels per block ([6, 16] for lenet5; cnn1d default [32, 64]).
    public var channels: [Int]?
    /// cnn1d: kernel size of every convolution (default 5).
    public var kernelSize: Int?
    /// lenet5: the two hidden Linear widths (default [120, 84]).
    public var hiddenWidths: [Int]?
    /// cnn1d: dropout before the classifier (default 0).
    public var dropout: Double?
    /// architecture layers: the list.
    public var layers: [LayerSpec]?
    /// gpt (nanoGPT's names): context positions, blocks, heads, width, vocabulary (256 bytes).
    public var blockSize: Int?, nLayer: Int?, nHead: Int?, nEmbd: Int?, vocabSize: Int?
    /// llama: the shape comes from what `init_from` names (a GGUF's llama.* metadata, or a
    /// Hugging Face folder's config.json);
    /// `block_size` is the window of tokens trained and evaluated on. Text is then tokenized
    /// with that file's tokenizer.
    /// Any architecture: start from the weights (and masks) of a finished run — its folder,
    /// whose newest accepted checkpoint is read — or of one checkpoint file, matched by
    /// parameter name and shape. Pretraining and adaptation are then two specs.
    public var initFrom: String?
    /// With init_from: also take the optimizer's state (Adam moments, step count) from that
    /// checkpoint for the dense phase — a WSD decay branch continues the plateau's optimizer.
    public var initOptimizer: Bool?
    /// mlp and gpt: `standard` (default) or `mup` — µP with `base_width` (required with mup;
    /// an MLP's width is its first hidden size, a GPT's n_embd). See `MaximalUpdate`.
    public var parametrization: Parametrization?
    public var baseWidth: Int?
    public enum Parametrization: String, Codable, Sendable, CaseIterable { case standard, mup }

    /// µP with its base width, when `parametrization: mup`.
    public var maximalUpdate: MaximalUpdate? {
        guard parametrization == .mup, let baseWidth else { return nil }
        return MaximalUpdate(baseWidth: baseWidth)
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case architecture, hiddenSizes = "hidden_sizes", channels, kernelSize = "kernel_size", hiddenWidths = "hidden_widths"
        case dropout, layers
        case blockSize = "block_size", nLayer = "n_layer", nHead = "n_head", nEmbd = "n_embd", vocabSize = "vocab_size"
        case initFrom = "init_from", initOptimizer = "init_optimizer", parametrization, baseWidth = "base_width"
    }

    /// Whether `architecture` is built in (not a program's registered model).
    package var isBuiltIn: Bool { ModelSpec.keysByArchitecture[architecture] != nil }

    /// The keys each built-in architecture takes (besides `architecture`).
    static let keysByArchitecture: [String: [CodingKeys]] = [
        "mlp": [.hiddenSizes, .parametrization, .baseWidth], "lenet5": [.channels, .hiddenWidths], "cnn1d": [.channels, .kernelSize, .dropout],
        "layers": [.layers], "gpt": [.blockSize, .nLayer, .nHead, .nEmbd, .vocabSize, .parametrization, .baseWidth],
        "llama": [.blockSize],
    ]

    /// A Llama-family model read from a file (architecture llama).
    public var isLlama: Bool { architecture == "llama" }
    /// Sequence models: their samples are windows of `block_size` tokens.
    public var isLanguageModel: Bool { architecture == "gpt" || isLlama }

    /// The GPT configuration of architecture gpt (sizes checked by the decoder).
    public var gptConfiguration: GPTConfiguration? {
        guard architecture == "gpt", let blockSize, let nLayer, let nHead, let nEmbd else { return nil }
        return GPTConfiguration(vocabulary: vocabSize ?? 256, context: blockSize, layers: nLayer, heads: nHead, channels: nEmbd,
                                maximalUpdate: maximalUpdate)
    }

    public init(architecture: String, hiddenSizes: [Int]? = nil, layers: [LayerSpec]? = nil) {
        self.architecture = architecture
        self.hiddenSizes = hiddenSizes
        self.layers = layers
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        architecture = try c.decode(String.self, forKey: .architecture)
        hiddenSizes = try c.decodeIfPresent([Int].self, forKey: .hiddenSizes)
        channels = try c.decodeIfPresent([Int].self, forKey: .channels)
        kernelSize = try c.decodeIfPresent(Int.self, forKey: .kernelSize)
        hiddenWidths = try c.decodeIfPresent([Int].self, forKey: .hiddenWidths)
        dropout = try c.decodeIfPresent(Double.self, forKey: .dropout)
        layers = try c.decodeIfPresent([LayerSpec].self, forKey: .layers)
        blockSize = try c.decodeIfPresent(Int.self, forKey: .blockSize)
        nLayer = try c.decodeIfPresent(Int.self, forKey: .nLayer)
        nHead = try c.decodeIfPresent(Int.self, forKey: .nHead)
        nEmbd = try c.decodeIfPresent(Int.self, forKey: .nEmbd)
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize)
        initFrom = try c.decodeIfPresent(String.self, forKey: .initFrom)
        if c.contains(.parametrization) { parametrization = try c.decodeEnum(Parametrization.self, forKey: .parametrization, decoder: decoder) }
        baseWidth = try c.decodeIfPresent(Int.self, forKey: .baseWidth)
        if parametrization == .mup, baseWidth == nil {
            throw decoder.problem(CodingKeys.baseWidth, "is required with parametrization mup: the width the hyperparameters were tuned at (an MLP's first hidden size, a GPT's n_embd).")
        }
        if let baseWidth, parametrization != .mup {
            throw decoder.problem(CodingKeys.baseWidth, "applies to parametrization mup only (got base_width \(baseWidth) without it).")
        }
        if let baseWidth, baseWidth < 1 { throw decoder.problem(CodingKeys.baseWidth, "must be >= 1, got \(baseWidth).") }
        if parametrization == .mup, architecture == "mlp", (hiddenSizes ?? []).isEmpty {
            throw decoder.problem(CodingKeys.hiddenSizes, "needs at least one hidden layer with parametrization mup (its width is the first hidden size).")
        }
        if initFrom?.isEmpty == true { throw decoder.problem(CodingKeys.initFrom, "must name a run folder or a checkpoint file.") }
        initOptimizer = try c.decodeIfPresent(Bool.self, forKey: .initOptimizer)
        if initOptimizer == true, initFrom == nil {
            throw decoder.problem(CodingKeys.initOptimizer, "needs init_from (the checkpoint whose optimizer state to take).")
        }
        if let allowed = ModelSpec.keysByArchitecture[architecture] {
            for key in CodingKeys.allCases where key != .architecture && key != .initFrom && key != .initOptimizer && c.contains(key) && !allowed.contains(key) {
                throw decoder.problem(key, "does not apply to architecture \(architecture) (it takes \(allowed.map(\.stringValue).joined(separator: ", "))).")
            }
        } else if !ModelRegistry.names.contains(architecture) && !decoder.readsRecordedSpec {
            throw decoder.problem(CodingKeys.architecture, "unknown value '\(architecture)'. Allowed: \((Array(ModelSpec.keysByArchitecture.keys) + ModelRegistry.names).sorted().joined(separator: ", ")).")
        }
        if architecture == "mlp" && hiddenSizes == nil { throw decoder.problem(CodingKeys.hiddenSizes, "is required for architecture mlp.") }
        if architecture == "layers" && (layers ?? []).isEmpty { throw decoder.problem(CodingKeys.layers, "is required (a non-empty list) for architecture layers.") }
        for (key, sizes) in [(CodingKeys.hiddenSizes, hiddenSizes), (.channels, channels), (.hiddenWidths, hiddenWidths)] {
            if let bad = sizes?.first(where: { $0 < 1 }) { throw decoder.problem(key, "sizes must be >= 1, got \(bad).") }
        }
        if architecture == "lenet5" {
            if let channels, channels.count != 2 { throw decoder.problem(CodingKeys.channels, "lenet5 has two convolutions: give two channel counts.") }
            if let hiddenWidths, hiddenWidths.count != 2 { throw decoder.problem(CodingKeys.hiddenWidths, "lenet5 has two hidden Linears: give two widths.") }
        }
        if architecture == "gpt" {
            for (key, value) in [(CodingKeys.blockSize, blockSize), (.nLayer, nLayer), (.nHead, nHead), (.nEmbd, nEmbd)] {
                guard let value else { throw decoder.problem(key, "is required for architecture gpt (block_size, n_layer, n_head, n_embd).") }
                if value < 1 { throw decoder.problem(key, "must be >= 1, got \(value).") }
            }
            if nEmbd! % nHead! != 0 { throw decoder.problem(CodingKeys.nEmbd, "\(nEmbd!) does not divide into \(nHead!) heads.") }
            if let vocabSize, !(1...256).contains(vocabSize) {
                throw decoder.problem(CodingKeys.vocabSize, "must lie in 1...256 (tokens are bytes), got \(vocabSize).")
            }
        }
        if architecture == "llama" {
            guard let initFrom, !initFrom.hasSuffix(".bin"), !initFrom.hasSuffix(".safetensors") else {
                throw decoder.problem(CodingKeys.initFrom, "is required for architecture llama: the GGUF file or Hugging Face model folder (config.json, model.safetensors, tokenizer.json) holding the pre-trained model (e.g. cache:smollm2/SmolLM2-135M-Instruct.Q4_1.gguf, which make data-smollm2 fetches).")
            }
            guard let blockSize else { throw decoder.problem(CodingKeys.blockSize, "is required for architecture llama: the window of tokens trained and evaluated on.") }
            if blockSize < 1 { throw decoder.problem(CodingKeys.blockSize, "must be >= 1, got \(blockSize).") }
        }
        if let kernelSize, kernelSize < 1 { throw decoder.problem(CodingKeys.kernelSize, "must be >= 1, got \(kernelSize).") }
        if let dropout, !(dropout >= 0 && dropout < 1) { throw decoder.problem(CodingKeys.dropout, "must lie in [0, 1), got \(dropout).") }
    }
}

/// One entry of `model.layers`. `name` defaults to the type and its count so far (conv1,
/// conv2, fc1, bn1, …), PyTorch-style, so parameters are `conv1.weight`, `fc2.bias`.
public struct LayerSpec: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case linear, conv2d, conv1d, maxpool2d, avgpool2d, maxpool1d, avgpool1d
        case globalAvgpool = "global_avgpool", flatten, batchnorm, dropout, layernorm
        case relu, gelu, geluTanh = "gelu_tanh", silu, tanh, residual
    }
    public var type: Kind
    public var name: String?
    public var outFeatures: Int?
    public var outChannels: Int?
    public var kernelSize: Int?
    public var stride: Int?
    public var padding: Int?
    public var bias: Bool?
    public var p: Double?
    public var layers: [LayerSpec]?
    public var shortcut: [LayerSpec]?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case type, name, outFeatures = "out_features", outChannels = "out_channels", kernelSize = "kernel_size", stride, padding, bias, p
        case layers, shortcut
    }

    static let keysByKind: [Kind: [CodingKeys]] = [
        .linear: [.outFeatures, .bias], .conv2d: [.outChannels, .kernelSize, .stride, .padding, .bias],
        .conv1d: [.outChannels, .kernelSize, .stride, .padding, .bias],
        .maxpool2d: [.kernelSize, .stride], .avgpool2d: [.kernelSize, .stride], .maxpool1d: [.kernelSize, .stride], .avgpool1d: [.kernelSize, .stride],
        .dropout: [.p], .residual: [.layers, .shortcut],
    ]

    public init(type: Kind, name: String? = nil) {
        self.type = type
        self.name = name
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = try c.decodeEnum(Kind.self, forKey: .type, decoder: decoder)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        outFeatures = try c.decodeIfPresent(Int.self, forKey: .outFeatures)
        outChannels = try c.decodeIfPresent(Int.self, forKey: .outChannels)
        kernelSize = try c.decodeIfPresent(Int.self, forKey: .kernelSize)
        stride = try c.decodeIfPresent(Int.self, forKey: .stride)
        padding = try c.decodeIfPresent(Int.self, forKey: .padding)
        bias = try c.decodeIfPresent(Bool.self, forKey: .bias)
        p = try c.decodeIfPresent(Double.self, forKey: .p)
        layers = try c.decodeIfPresent([LayerSpec].self, forKey: .layers)
        shortcut = try c.decodeIfPresent([LayerSpec].self, forKey: .shortcut)
        let allowed = LayerSpec.keysByKind[type] ?? []
        for key in CodingKeys.allCases where ![.type, .name].contains(key) && c.contains(key) && !allowed.contains(key) {
            throw decoder.problem(key, "does not apply to a \(type.rawValue) layer (it takes \(allowed.isEmpty ? "no options" : allowed.map(\.stringValue).joined(separator: ", "))).")
        }
        if let name, name.isEmpty || !name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
            throw decoder.problem(CodingKeys.name, "'\(name)' must be letters, digits and '_' (it names the layer's parameters).")
        }
        switch type {
        case .conv2d, .conv1d:
            guard let outChannels, outChannels >= 1 else { throw decoder.problem(CodingKeys.outChannels, "is required (>= 1) for \(type.rawValue).") }
            guard let kernelSize, kernelSize >= 1 else { throw decoder.problem(CodingKeys.kernelSize, "is required (>= 1) for \(type.rawValue).") }
        case .maxpool2d, .avgpool2d, .maxpool1d, .avgpool1d:
            guard let kernelSize, kernelSize >= 1 else { throw decoder.problem(CodingKeys.kernelSize, "is required (>= 1) for \(type.rawValue).") }
        case .dropout:
            guard let p, p >= 0, p < 1 else { throw decoder.problem(CodingKeys.p, "is required, in [0, 1), for dropout.") }
        case .residual:
            guard let layers, !layers.isEmpty else { throw decoder.problem(CodingKeys.layers, "is required (a non-empty list) for residual.") }
        default: break
        }
        if let outFeatures, outFeatures < 1 { throw decoder.problem(CodingKeys.outFeatures, "must be >= 1, got \(outFeatures).") }
        if let stride, stride < 1 { throw decoder.problem(CodingKeys.stride, "must be >= 1, got \(stride).") }
        if let padding, padding < 0 { throw decoder.problem(CodingKeys.padding, "must be >= 0, got \(padding).") }
    }
}
