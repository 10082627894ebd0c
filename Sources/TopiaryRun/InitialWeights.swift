import Foundation
import TopiaryData
import TopiaryFormats
import TopiaryNN
import TopiarySpec

/// `model.init_from`: the weights a run starts from instead of its seeded initialisation.
package enum InitialWeights {
    /// The checkpoint `source` names: a file, or the newest accepted checkpoint of a run folder.
    package static func checkpointPath(_ source: String) throws -> String {
        let source = DataCache.resolve(source)
        if HuggingFaceLlamaFolder.isModelFolder(source) { return source }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isFolder) else {
            throw SpecProblem(keyPath: "model.init_from", problem: "\(source) does not exist. Name a finished run's folder or one of its checkpoints/*.bin.")
        }
        guard isFolder.boolValue else { return source }
        let folder = source + "/checkpoints"
        guard let newest = ExperimentRunner.checkpointNames(in: folder).last(where: ExperimentRunner.isKeptStage) else {
            throw SpecProblem(keyPath: "model.init_from", problem: "\(source) holds no checkpoints (\(folder)/*.bin). Run that spec first.")
        }
        return folder + "/" + newest
    }

    /// Copies every parameter (value and mask) of `store` from the checkpoint (or the
    /// .safetensors file) `source` names;
    /// a missing tensor or another shape is a spec error naming both.
    static func load(_ source: String, into model: any Model) throws {
        let store = model.store
        let path = try checkpointPath(source)
        if HuggingFaceLlamaFolder.isModelFolder(path) || (path.hasSuffix(".gguf") && isLlamaGGUF(path)) {
            // A pre-trained Llama (a GGUF in llama.cpp's layout, or a Hugging Face folder),
            // dequantized to Float32.
            try LlamaSources.reading(path) { source in
                try CheckpointLayout.restoreParameters(store, from: try source.tensors(), path: path)
                if source.zerosArePruned {
                    // Topiary's own pruned export: its zeros are the masks.
                    for matrix in model.prunableMatrices {
                        let (value, mask) = (matrix.parameter.value, matrix.parameter.mask)
                        for i in 0..<matrix.count { mask[i] = value[i] == 0 ? 0 : 1 }
                    }
                }
            }
            return
        }
        do {
            if path.hasSuffix(".safetensors") {
                // A safetensors export (Topiary's or a PyTorch state dict's): values by name,
                // masks from `<name>_mask` where present.
                let file = try SafetensorsFile.read(path: path)
                let tensors = Dictionary(uniqueKeysWithValues: file.entries.map { ($0.name, file.tensor($0.name)!) })
                try CheckpointLayout.restoreParameters(store, from: tensors, path: path)
                return
            }
            if path.hasSuffix(".gguf") {
                let file = try GGUFFile.read(path: path)
                // A GGUF of Topiary's export: the same names, dequantized to Float32.
                let tensors = Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, file.tensor($0.name)!) })
                try CheckpointLayout.restoreParameters(store, from: tensors, path: path)
                return
            }
            let checkpoint = try Checkpoint.read(from: path)
            try CheckpointLayout.restoreParameters(store, from: checkpoint.tensors, path: path)
        } catch let error as SafetensorsError {
            throw SpecProblem(keyPath: "model.init_from", problem: error.errorDescription ?? "\(error)")
        } catch let error as GGUFError {
            throw SpecProblem(keyPath: "model.init_from", problem: error.errorDescription ?? "\(error)")
        } catch let error as CheckpointError {
            throw SpecProblem(keyPath: "model.init_from", problem: "\(error.errorDescription ?? "\(error)") The model must have the same parameter names and shapes as the run it starts from.")
        }
    }

    /// Whether a GGUF holds a Llama model (read once: the run reads the same source again).
    private static func isLlamaGGUF(_ path: String) -> Bool {
        guard let source = try? LlamaSource.open(path), case .gguf(let file) = source.kind else { return false }
        return file.value("general.architecture") == .string("llama")
    }
}
