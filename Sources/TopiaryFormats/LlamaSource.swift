import Foundation
import TopiaryData
import TopiaryNN
import TopiaryTensor

/// Where a pre-trained Llama comes from — a GGUF file (llama.cpp's layout) or a Hugging Face
/// model folder — read once per process: a run asks it for the shape, the weights and the
/// tokenizer at different moments, and a GGUF is a hundred megabytes or more.
public final class LlamaSource: @unchecked Sendable {
    public enum Kind {
        case gguf(GGUFFile)
        case huggingFace(HuggingFaceLlamaFolder)
    }

    public let path: String
    public let kind: Kind

    private init(path: String, kind: Kind) {
        self.path = path
        self.kind = kind
    }

    /// The last source opened, reused while its file (or config.json) is unchanged.
    nonisolated(unsafe) private static var recent: (path: String, stamp: String, source: LlamaSource)?
    private static let lock = NSLock()

    /// Opens `path`: a folder with config.json is a Hugging Face model, anything else must be
    /// a GGUF file. Errors name the path and what to do.
    public static func open(_ path: String) throws -> LlamaSource {
        let folder = HuggingFaceLlamaFolder.isModelFolder(path)
        var isFolder: ObjCBool = false
        if !folder, FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            throw HuggingFaceFolderError(path: path, problem: "is a folder without config.json: a Hugging Face model folder holds config.json, model.safetensors (or its index) and tokenizer.json")
        }
        let stampPath = folder ? path + "/config.json" : path
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: stampPath) else {
            throw GGUFError(path: path, problem: "does not exist: name a GGUF file or a Hugging Face model folder (config.json, model.safetensors, tokenizer.json)")
        }
        let stamp = "\(attributes[.size] ?? 0) \(attributes[.modificationDate] ?? 0)"
        lock.lock()
        defer { lock.unlock() }
        if let recent, recent.path == path, recent.stamp == stamp { return recent.source }
        let source = LlamaSource(path: path, kind: folder ? .huggingFace(HuggingFaceLlamaFolder(path: path)) : .gguf(try GGUFFile.read(path: path)))
        recent = (path, stamp, source)
        return source
    }

    public func configuration(context: Int) throws -> LlamaConfiguration {
        switch kind {
        case .gguf(let file): return try LlamaConfiguration(gguf: file, path: path, context: context)
        case .huggingFace(let folder): return try folder.configuration(context: context)
        }
    }

    /// Every parameter under Topiary's (Hugging Face's) names, Float32, q/k rows in the
    /// half-split rotary layout.
    public func tensors() throws -> [String: Tensor] {
        switch kind {
        case .gguf(let file): return try file.llamaTensors(configuration: try configuration(context: 1), path: path)
        case .huggingFace(let folder): return try folder.tensors()
        }
    }

    /// The tokenizer, whose every id must be a row of the model's embedding.
    public func tokenizer() throws -> ByteLevelBPE {
        let tokenizer: ByteLevelBPE
        switch kind {
        case .gguf(let file): tokenizer = try ByteLevelBPE(gguf: file, path: path)
        case .huggingFace(let folder): tokenizer = try folder.tokenizer()
        }
        let vocabulary = try configuration(context: 1).vocabulary
        guard tokenizer.tokens.count <= vocabulary else {
            throw HuggingFaceFolderError(path: path, problem: "has a tokenizer of \(tokenizer.tokens.count) tokens for a model of \(vocabulary) embeddings: ids past \(vocabulary - 1) would have no row")
        }
        return tokenizer
    }

    /// Positions the model was trained on (llama.context_length, max_position_embeddings).
    public var trainedContext: Int? {
        switch kind {
        case .gguf(let file): return file.value("llama.context_length")?.integer
        case .huggingFace(let folder): return folder.trainedContext
        }
    }

    /// Whether the file is Topiary's pruned export, whose zeros are the masks.
    public var zerosArePruned: Bool {
        switch kind {
        case .gguf(let file): return file.value(LlamaGGUFExport.zerosArePrunedKey) == .bool(true)
        case .huggingFace(let folder): return folder.zerosArePruned
        }
    }
}
