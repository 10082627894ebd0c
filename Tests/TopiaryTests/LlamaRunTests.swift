import Foundation
import Testing
@testable import TopiaryData
@testable import TopiaryNN
@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySpec

/// The real SmolLM2-135M through a run on a slice of the Jargon File in its own BPE tokens:
/// a Wanda stage with masked fine-tuning that keeps pruned weights at zero, per-byte metrics,
/// then its Llama GGUF export reloaded by a second run that evaluates exactly as the first
/// ended.
extension AllTests {
@Suite struct LlamaRunTests {
    static func yaml(train: String, initFrom: String, stages: String, epochs: Int) -> String {
        """
        name: smollm2-slice
        seed: 0
        task: language_model
        data: { dataset: text, train: \(train), train_fraction: 0.9, train_windows: 8, eval_windows: 2, evaluate: { general: \(train) } }
        model: { architecture: llama, init_from: \(initFrom), block_size: 16 }
        training:
          epochs: \(epochs)
          batch_size: 4
          optimizer: { name: adamw, learning_rate: 0.0001, weight_decay: 0.1, decay_parameters: matrices, gradient_clip: 1.0 }
        pruning: { scorer: wanda, scope: per_row, calibration_batches: 2, stages: \(stages) }
        measurement: { latency_batch_sizes: [1], latency_repetitions: 1, latency_warmup: 0, generation_tokens: 4, generation_repetitions: 1,
                       generation_prompt: "The hacker", engines: [int8] }
        """
    }

    @Test func smolLM2PrunesFineTunesExportsAndReloads() throws {
        let model = try TestData.smolLM2()
        let folder = temporaryDirectory("llama-run")
        let text = folder + "/jargon-slice.txt"
        try Data(try TextCorpus.load("jargon").bytes[200_000..<230_000]).write(to: URL(fileURLWithPath: text))
        var options = RunOptions()
        options.runDirectory = folder + "/run"
        let runner = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: Self.yaml(train: text, initFrom: model, stages: "[{ sparsity: 0.5, epochs: 1 }]", epochs: 0)),
                                          options: options)
        let report = try runner.run()
        #expect(report.status == .complete && report.model.architecture.hasPrefix("llama(30 blocks, width 576"))
        let dense = report.stages[0].metrics, pruned = report.stages[1].metrics
        // A pre-trained model on English text: far below chance (ln 49152 ≈ 10.8) per token,
        // and a BPE token stands for several bytes, so bits per byte < loss / ln 2.
        #expect(dense["test_loss"]! < 6 && dense["test_bits_per_byte"]! < dense["test_loss"]! / log(2) / 2)
        #expect(abs(report.stages[1].sparsity - 0.5) < 1e-6 && report.stages[1].trainLoss != nil)
        for matrix in runner.model.prunableMatrices {
            for i in 0..<matrix.count where matrix.parameter.mask[i] == 0 { #expect(matrix.parameter.value[i] == 0) }
        }
        // Generation per engine through the KV cache, the prompt in the model's BPE tokens.
        let generation = try #require(report.stages[1].generation)
        #expect(generation.prompt == "The hacker" && generation.promptTokens == 2 && generation.newTokens == 4)
        #expect(Set(generation.tokensPerSecond.keys) == ["dense", "int8", "auto"] && generation.greedySample.count >= 4)
        #expect(generation.kvCacheBytes == 2 * 30 * 16 * 3 * 64 * 4)   // k and v · layers · context · 3 kv heads of 64 · Float32
        let generated = try runTopiary(["generate", folder + "/run", "--stage", "1", "--prompt", "The hacker", "--tokens", "4"])
        #expect(generated.status == 0 && generated.stdout == "The hacker" + generation.greedySample + "\n", "\(generated.stderr)")
        let exported = folder + "/export"
        let export = try runTopiary(["export", folder + "/run", "--stage", "1", "--format", "gguf", "--out", exported])
        #expect(export.status == 0, "\(export.stderr)")
        options.runDirectory = folder + "/reloaded"
        let reloaded = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: Self.yaml(train: text, initFrom: exported + "/model.gguf", stages: "[]", epochs: 0)),
                                            options: options).run()
        #expect(reloaded.stages[0].metrics["test_loss"] == pruned["test_loss"] && reloaded.stages[0].metrics["general_loss"] == pruned["general_loss"])
        // The export marks its zeros as pruned weights: the reloaded run starts with the masks.
        #expect(abs(reloaded.stages[0].sparsity - 0.5) < 1e-6)
    }
}
}
