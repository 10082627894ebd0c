import Foundation
import Testing
@testable import TopiaryFormats
@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySparsity
@testable import TopiarySpec

/// `adapters:` in a spec: checked at decode, then a small GPT's stages retrain through LoRA
/// on the frozen pruned base, keep their sparsity, report what the adapters trained and
/// what a plain merge would have cost, and save each stage's adapters in PEFT's layout.
extension AllTests {
@Suite struct AdapterRunTests {
    static func yaml(adapters: String, stages: String = "[{ sparsity: 0.5, epochs: 1 }, { sparsity: 0.875, epochs: 1 }]") -> String {
        LanguageModelTests.yaml(stages: stages)
            .replacingOccurrences(of: "generation_tokens: 24", with: "generation_tokens: 0")
            + "\nadapters: \(adapters)\n"
    }

    func problem(_ yaml: String) -> SpecError? {
        do { _ = try ExperimentSpec.decode(yaml: yaml); return nil } catch { return error as? SpecError }
    }

    @Test func adapterSpecsAreCheckedWithAFix() throws {
        #expect(problem(Self.yaml(adapters: "{ kind: lora, rank: 4 }")) == nil)
        let spec = try ExperimentSpec.decode(yaml: Self.yaml(adapters: "{ kind: lora, rank: 4 }")).adapters!
        #expect(spec.alpha == 4 && spec.merge == .masked && spec.save && spec.targets == nil)
        #expect(problem(Self.yaml(adapters: "{ kind: lora, rank: 0 }"))?.keyPath == "adapters.rank")
        #expect(problem(Self.yaml(adapters: "{ kind: dora, rank: 4 }"))?.keyPath == "adapters.kind")
        #expect(problem(Self.yaml(adapters: "{ kind: lora, rank: 4, alpha: -1 }"))?.keyPath == "adapters.alpha")
        #expect(problem(Self.yaml(adapters: "{ kind: lora, rank: 4, dropout: 0.1 }")) == nil)
        #expect(problem(Self.yaml(adapters: "{ kind: lora, rank: 4, dropout: 1 }"))?.keyPath == "adapters.dropout")
        #expect(problem(Self.yaml(adapters: "{ kind: lora, rank: 4, dropout: -0.1 }"))?.keyPath == "adapters.dropout")
        #expect(problem(Self.yaml(adapters: "{ kind: lora, rank: 4, merge: sometimes }"))?.keyPath == "adapters.merge")
        #expect(problem(Self.yaml(adapters: "{ kind: lora, rank: 4, targets: [] }"))?.keyPath == "adapters.targets")
        #expect(problem(Self.yaml(adapters: "{ kind: lora, rank: 4, speed: 11 }"))?.keyPath.hasPrefix("adapters") == true)
        let gradual = Self.yaml(adapters: "{ kind: lora, rank: 4 }")
            .replacingOccurrences(of: "stages: [{ sparsity: 0.5, epochs: 1 }, { sparsity: 0.875, epochs: 1 }]",
                                  with: "schedule: { kind: agp, epochs: 1, final_sparsity: 0.5, frequency: 2, pruning_steps: 2 }")
        #expect(problem(gradual)?.keyPath == "adapters")
        // Patterns: * spans dots; one that matches nothing names the layers there are.
        #expect(AdapterSpec.matches("blocks.0.attn.qkv", pattern: "blocks.*.attn.*") && !AdapterSpec.matches("blocks.0.mlp.fc", pattern: "blocks.*.attn.*"))
        #expect(AdapterSpec.matches("fc1", pattern: "fc1") && AdapterSpec.matches("fc1", pattern: "*") && !AdapterSpec.matches("fc1", pattern: "fc1*x"))
        let layers = ["blocks.0.attn.qkv", "blocks.0.attn.proj", "blocks.0.mlp.fc"]
        #expect(try AdapterSpec(rank: 2, targets: ["*.attn.*"]).targetLayers(prunable: layers, excluded: []) == Array(layers.prefix(2)))
        #expect(try AdapterSpec(rank: 2).targetLayers(prunable: layers, excluded: ["blocks.0.mlp.fc"]) == Array(layers.prefix(2)))
        #expect(throws: SpecProblem.self) { try AdapterSpec(rank: 2, targets: ["*.ffn.*"]).targetLayers(prunable: layers, excluded: []) }
    }

    /// Masked adapters keep each stage exactly at its target; their optimizer holds 2 floats per
    /// adapter parameter, far fewer than full retraining's; the plain merge is reported denser;
    /// the saved PEFT folders read back with the stage's rank.
    @Test func stagesRetrainThroughAdaptersAndStaySparse() throws {
        let folder = temporaryDirectory("adapter-run")
        var options = RunOptions()
        options.runDirectory = folder + "/lora"
        let report = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: Self.yaml(adapters: "{ kind: lora, rank: 2, alpha: 4 }")),
                                          options: options).run()
        options.runDirectory = folder + "/full"
        let full = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: LanguageModelTests.yaml(stages: "[{ sparsity: 0.5, epochs: 1 }, { sparsity: 0.875, epochs: 1 }]")
                                                                        .replacingOccurrences(of: "generation_tokens: 24", with: "generation_tokens: 0")),
                                        options: options).run()
        for (stage, fullStage) in zip(report.stages.dropFirst(), full.stages.dropFirst()) {
            let training = try #require(stage.training), adapters = try #require(training.adapters)
            #expect(abs(stage.sparsity - stage.targetSparsity) < 1e-3, "stage \(stage.stage) at \(stage.sparsity)")
            // 1 block: qkv (48 × 16), proj (16 × 16), fc (64 × 16), proj (16 × 64); rank 2 each.
            #expect(training.trainableParameters == 2 * (16 + 48) + 2 * (16 + 16) + 2 * (16 + 64) + 2 * (64 + 16))   // 512
            #expect(training.optimizerStateBytes == 2 * 4 * 512)   // Adam's two Float32 moments (no padding: all multiples of 16)
            #expect(fullStage.training!.optimizerStateBytes > 10 * training.optimizerStateBytes)
            #expect(adapters.unmaskedMergeSparsity < stage.sparsity / 2, "plain merge left \(adapters.unmaskedMergeSparsity)")
            #expect(adapters.unmaskedMergeMetrics["val_loss"]?.isFinite == true && stage.metrics["test_loss"]!.isFinite)
            let saved = try PEFTAdapterFolder.read(folder: folder + "/lora/" + adapters.savedTo!)
            #expect(saved.rank == 2 && saved.alpha == 4 && saved.delta == "masked" && saved.factors.count == 4)
        }
        // report.json keeps what the stages trained.
        let written = try JSONDecoder().decode(RunReport.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/lora/report.json")))
        #expect(written.stages.map(\.training) == report.stages.map(\.training) && written.stages[1].training?.adapters?.rank == 2)
        let (header, rows) = try readCSV(folder + "/lora/stages.csv")
        for column in ["trainable_parameters", "optimizer_state_bytes", "step_seconds", "adapter_rank", "unmasked_merge_sparsity", "unmasked_merge_val_loss"] {
            #expect(header.contains(column), "\(column)")
        }
        #expect(rows[1]["adapter_rank"] == "2" && rows[0]["adapter_rank"] == "")
        // Stage 1's saved adapters, merged into the same pruned base without training
        // (init_from, epochs 0), give stage 1's model again; a rank that is not the folder's is refused.
        let merge = { (rank: Int) in
            Self.yaml(adapters: "{ kind: lora, rank: \(rank), alpha: 4, init_from: \(folder)/lora/adapters/stage1 }", stages: "[{ sparsity: 0.5, epochs: 0 }]")
        }
        options.runDirectory = folder + "/merged"
        let merged = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: merge(2)), options: options).run()
        #expect(merged.stages[1].metrics["test_loss"] == report.stages[1].metrics["test_loss"] && merged.stages[1].nonzeros == report.stages[1].nonzeros)
        // Refused before any work (no run folder), saying what to change.
        options.runDirectory = folder + "/wrong-rank"
        #expect { try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: merge(3)), options: options) } throws: {
            ($0 as? SpecError)?.keyPath == "adapters.init_from" && ($0 as? SpecError)?.problem.contains("r 2") == true
        }
        let narrow = merge(2).replacingOccurrences(of: "alpha: 4,", with: "alpha: 4, targets: [\"*.attn.*\"],")
        #expect { try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: narrow), options: options) } throws: {
            ($0 as? SpecError)?.problem.contains("mlp") == true
        }
        #expect(!FileManager.default.fileExists(atPath: folder + "/wrong-rank"))
        // init_from starts every attempt at the first pruning stage, a rolled-back one's retry
        // included, and no later stage.
        options.runDirectory = folder + "/probe"
        let probe = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: merge(2)), options: options)
        probe.report.stages = [report.stages[0]]
        #expect(probe.isFirstPruningStage)
        var rolledBack = report.stages[1]
        rolledBack.status = .rejected
        probe.report.stages.append(rolledBack)
        #expect(probe.isFirstPruningStage)
        probe.report.stages.append(report.stages[1])
        #expect(!probe.isFirstPruningStage)
    }

    /// Plain LoRA with dropout runs beside the frozen base (no base gradient): the stage still
    /// ends at its target sparsity (masked merge), and the report says how it was trained.
    @Test func unmaskedAdaptersWithDropoutTrainBesideTheBase() throws {
        var options = RunOptions()
        options.runDirectory = temporaryDirectory("adapter-dropout-run") + "/run"
        let yaml = Self.yaml(adapters: "{ kind: lora, rank: 2, alpha: 4, dropout: 0.1, merge: unmasked }", stages: "[{ sparsity: 0.5, epochs: 1 }]")
        let report = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: yaml), options: options).run()
        let stage = report.stages[1], adapters = try #require(stage.training?.adapters)
        #expect(abs(stage.sparsity - 0.5) < 1e-3 && stage.metrics["test_loss"]!.isFinite)
        #expect(adapters.path == "beside" && adapters.dropout == 0.1 && adapters.merge == "unmasked")
        #expect(stage.training?.trainableParameters == 512 && adapters.unmaskedMergeSparsity < 0.25)
    }
}
}
