import ArgumentParser
import Foundation
import TopiaryData
import TopiaryInference
import TopiaryMetrics
import TopiaryReport
import TopiaryStudy
import TopiaryTensor

/// `topiary generate RUN_DIR --prompt TEXT`: text from a language-model run's checkpoint.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Continue a prompt with a language-model run's weights (KV cache, batch 1): the text to stdout, speed to stderr.")

    @Argument(help: "A language-model run folder (with report.json and checkpoints/).")
    var runDirectory: String

    @Option(help: "Which weights: a stage number (0 = dense), a checkpoint label as in checkpoints/ (e.g. stage2), or last.")
    var stage = "last"

    @Option(help: "The text to continue (UTF-8: each byte one token for a byte-level model, else the model's own BPE tokens).")
    var prompt: String

    @Option(parsing: .unconditional, help: "New tokens to generate (bytes for a byte-level model).")
    var tokens = 128

    @Option(help: "Inference engine: dense, csr, sell, nm, compact, int8, int8_csr.")
    var engine = "dense"

    @Option(parsing: .unconditional, help: "Sample from softmax(logits / temperature) instead of taking the most likely token.")
    var temperature: Float?

    @Option(parsing: .unconditional, help: "With --temperature: draw among the k most likely tokens only.")
    var topK: Int?

    @Option(parsing: .unconditional, help: "With --temperature: the sampling seed (same seed, same text).")
    var seed: UInt64 = 0

    @Option(parsing: .unconditional, help: "Threads for BLAS and sparse kernels.")
    var threads = 1

    func validate() throws {
        if prompt.isEmpty { throw ValidationError("--prompt must hold at least one character.") }
        if !(0...100_000).contains(tokens) { throw ValidationError("--tokens must be 0 to 100000, got \(tokens).") }
        if threads < 1 { throw ValidationError("--threads must be >= 1, got \(threads).") }
        if InferenceEngine(rawValue: engine) == nil {
            throw ValidationError("--engine must be one of \(InferenceEngine.allCases.map(\.rawValue).joined(separator: ", ")); got '\(engine)'.")
        }
        if temperature == nil, topK != nil { throw ValidationError("--top-k needs --temperature (greedy decoding has no draw to restrict).") }
        if let problem = sampling.problem { throw ValidationError("--temperature/--top-k: \(problem).") }
    }

    var sampling: Sampling { temperature.map { .sample(temperature: $0, topK: topK, seed: seed) } ?? .greedy }

    func run() throws {
        do {
            let bench = try ModelBench(runDirectory: runDirectory)
            guard bench.report.task.kind == TaskRecord.languageModelKind else {
                throw GenerateError.notALanguageModel(directory: runDirectory, kind: bench.report.task.kind)
            }
            let path = try bench.checkpointPath(stage: stage)
            let chosen = InferenceEngine(rawValue: engine)!
            guard let model = try bench.inferenceModel(checkpointAt: path, engine: chosen, threads: threads) else {
                throw GenerateError.engineCannotServe(engine: engine)
            }
            let codec = try bench.tokenCodec()
            let promptTokens = codec.encode(prompt)
            let vocabulary = model.transformerShape.vocabulary
            if promptTokens.isEmpty { throw GenerateError.emptyPrompt(prompt: prompt) }
            if let outside = promptTokens.first(where: { $0 >= vocabulary }) {
                throw GenerateError.outsideVocabulary(byte: outside, vocabulary: vocabulary)
            }
            let start = monotonicNanoseconds()
            let produced = model.generate(prompt: promptTokens, count: tokens, sampling: sampling)
            let seconds = Double(monotonicNanoseconds() - start) / 1e9
            FileHandle.standardOutput.write(Data((prompt + codec.decode(produced) + "\n").utf8))
            let speed = tokens > 0 ? String(format: ", %.0f tokens/s", Double(tokens) / seconds) : ""
            FileHandle.standardError.write(Data("[topiary] \(ModelBench.label(ofCheckpoint: path)) · \(engine) · \(tokens) tokens in \(String(format: "%.3f", seconds)) s\(speed)\n".utf8))
        } catch {
            throw fail(error)
        }
    }
}

enum GenerateError: LocalizedError {
    case notALanguageModel(directory: String, kind: String)
    case engineCannotServe(engine: String)
    case outsideVocabulary(byte: Int, vocabulary: Int)
    case emptyPrompt(prompt: String)

    var errorDescription: String? {
        switch self {
        case .notALanguageModel(let directory, let kind):
            return "\(directory) is a \(kind) run; generate needs a language_model run (task: language_model, architecture gpt or llama)."
        case .emptyPrompt(let prompt):
            return "the prompt \(prompt.debugDescription) encodes to no tokens of this model's vocabulary; give it some text."
        case .outsideVocabulary(let byte, let vocabulary):
            return "the prompt holds the byte \(byte), outside this model's vocabulary of \(vocabulary) tokens; use characters whose UTF-8 bytes are below \(vocabulary)."
        case .engineCannotServe(let engine):
            return "the \(engine) engine cannot run this checkpoint (nm needs N:M masks: pruning.n_of_m); choose dense, csr, sell, compact or int8."
        }
    }
}
