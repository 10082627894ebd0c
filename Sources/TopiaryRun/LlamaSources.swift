import Foundation
import TopiaryFormats
import TopiarySpec

/// A run's access to its pre-trained Llama (`model.init_from`): any problem with the file or
/// folder becomes a spec error at that key, saying what to do.
enum LlamaSources {
    static func reading<T>(_ path: String, _ body: (LlamaSource) throws -> T) throws -> T {
        func problem(_ message: String) -> SpecProblem {
            let hint = FileManager.default.fileExists(atPath: path) ? "" : " Run make data-smollm2 for SmolLM2, or check the path."
            return SpecProblem(keyPath: "model.init_from", problem: message + hint)
        }
        do {
            return try body(try LlamaSource.open(path))
        } catch let error as GGUFError {
            throw problem(error.errorDescription ?? "\(error)")
        } catch let error as HuggingFaceFolderError {
            throw problem(error.errorDescription ?? "\(error)")
        } catch let error as SafetensorsError {
            throw problem(error.errorDescription ?? "\(error)")
        } catch let error as CheckpointError {
            throw problem("\(error.errorDescription ?? "\(error)") The file must hold every parameter of the model its configuration describes.")
        }
    }
}
