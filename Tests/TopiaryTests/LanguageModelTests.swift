import Foundation
import Testing
@testable import TopiaryInference
@testable import TopiaryData
@testable import TopiaryNN
@testable import TopiaryOptim
@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySparsity
@testable import TopiarySpec
@testable import TopiaryTensor
@testable import TopiaryTraining

/// Text as data and language modelling as a task, end to end: the Debian corpora, windows,
/// the spec's rules, clipping in the trainer, and a small GPT run with a prune stage.
extension AllTests {
@Suite struct LanguageModelTests {
    @Test func debianCorporaHaveTheReferencesSizes() throws {
        let bible = try TextCorpus.load("bible-kjv"), jargon = try TextCorpus.load("jargon")
        #expect(bible.bytes.count == 4_298_239 && jargon.bytes.count == 1_681_817)   // torch_tiny_gpt.py's figures
        #expect(String(decoding: bible.bytes[0..<64], as: UTF8.self).contains("In the beginning God created"))
        let (train, heldOut) = jargon.split(trainFraction: 0.9)
        #expect(train.count == 1_513_635 && train.count + heldOut.count == jargon.bytes.count && heldOut.startIndex == train.endIndex)
        #expect(try TextCorpus.load("fortunes").bytes.count > 100_000)
    }

    @Test func windowsPredictTheNextByte() throws {
        let bytes = ArraySlice((0..<200).map { UInt8($0) })
        var g = SeededGenerator(seed: 700)
        let random = TextWindows.random(bytes, count: 50, length: 16, generator: &g)
        #expect(random.inputs.shape == [50, 16] && random.targets.shape == [50, 16] && random.classCount == 256)
        for row in 0..<50 {
            let start = Int(random.inputs[row * 16])
            #expect(start + 16 < 200)
            for t in 0..<16 {
                #expect(random.inputs[row * 16 + t] == Float(start + t) && random.targets[row * 16 + t] == Float(start + t + 1))
            }
        }
        let consecutive = TextWindows.consecutive(bytes, first: 2, count: 3, length: 10)
        #expect((0..<3).map { consecutive.inputs[$0 * 10] } == [20, 30, 40] && consecutive.targets[29] == 50)
        #expect(TextWindows.available(bytes, length: 10) == 19)
    }

    @Test func corpusErrorsSayWhatToDo() throws {
        let folder = temporaryDirectory("corpus")
        writeTestFile(folder + "/a.txt", Data("hello ".utf8))
        writeTestFile(folder + "/b.txt", Data("world".utf8))
        #expect(try TextCorpus.load(folder + "/*.txt").bytes == Array("hello world".utf8))
        #expect(throws: TextCorpusError.noMatch(pattern: folder + "/*.md")) { try TextCorpus.load(folder + "/*.md") }
        #expect(throws: TextCorpusError.missing(path: folder + "/c.txt")) { try TextCorpus.load(folder + "/c.txt") }
        #expect(TextCorpusError.notInstalled(corpus: "jargon", package: "jargon-text").errorDescription!.contains("Install the Debian package jargon-text"))
    }

    static func yaml(data: String = "{ dataset: text, train: jargon, train_windows: 64, eval_windows: 8 }",
                     model: String = "{ architecture: gpt, block_size: 16, n_layer: 1, n_head: 2, n_embd: 16 }",
                     task: String = "task: language_model", stages: String = "[{ sparsity: 0.5, epochs: 1 }]") -> String {
        """
        name: tiny-lm
        seed: 0
        \(task)
        data: \(data)
        model: \(model)
        training:
          epochs: 2
          batch_size: 8
          optimizer: { name: adamw, learning_rate: 0.003, beta2: 0.99, weight_decay: 0.1, decay_parameters: matrices, gradient_clip: 1.0 }
        pruning: { scorer: magnitude, stages: \(stages) }
        measurement: { latency_batch_sizes: [1, 4], latency_repetitions: 3, latency_warmup: 1, generation_tokens: 24, generation_repetitions: 1 }
        """
    }

    func problem(_ yaml: String) -> SpecError? {
        do { _ = try ExperimentSpec.decode(yaml: yaml); return nil } catch { return error as? SpecError }
    }

    @Test func specRulesForTextAndLanguageModels() throws {
        #expect(problem(Self.yaml()) == nil)
        #expect(problem(Self.yaml(task: ""))?.keyPath == "task")
        #expect(problem(Self.yaml(data: "{ dataset: fashion-mnist }"))?.keyPath == "data.dataset")
        #expect(problem(Self.yaml(model: "{ architecture: mlp, hidden_sizes: [8] }"))?.keyPath == "model.architecture")
        #expect(problem(Self.yaml(model: "{ architecture: gpt, block_size: 16, n_layer: 1, n_head: 3, n_embd: 16 }"))?.keyPath == "model.n_embd")
        #expect(problem(Self.yaml(model: "{ architecture: gpt, block_size: 16, n_head: 2, n_embd: 16 }"))?.keyPath == "model.n_layer")
        #expect(problem(Self.yaml(data: "{ dataset: text }"))?.keyPath == "data.train")
        #expect(problem(Self.yaml(data: "{ dataset: text, train: jargon, validation_size: 10 }"))?.keyPath == "data.validation_size")
        #expect(problem(Self.yaml(data: "{ dataset: text, train: jargon, train_fraction: 1.5 }"))?.keyPath == "data.train_fraction")
        #expect(problem(Self.yaml(data: "{ dataset: text, train: jargon, evaluate: { test: bible-kjv } }"))?.keyPath == "data.evaluate")
        #expect(problem(Self.yaml(data: "{ dataset: text, train: jargon, evaluate: { General: bible-kjv } }"))?.keyPath == "data.evaluate")
        #expect(problem(Self.yaml().replacingOccurrences(of: "gradient_clip: 1.0", with: "gradient_clip: 0"))?.keyPath == "training.optimizer.gradient_clip")
        // A prompt's bytes are token ids; prompts belong to language models.
        let smallVocabulary = Self.yaml(model: "{ architecture: gpt, block_size: 16, n_layer: 1, n_head: 2, n_embd: 16, vocab_size: 128 }")
        #expect(problem(smallVocabulary.replacingOccurrences(of: "generation_tokens: 24", with: "generation_tokens: 24, generation_prompt: \"café\""))?.keyPath
                == "measurement.generation_prompt")
        #expect(problem(smallVocabulary.replacingOccurrences(of: "generation_tokens: 24", with: "generation_tokens: 24, generation_prompt: \"cafe\"")) == nil)
        #expect(problem(Self.yaml().replacingOccurrences(of: "name: adamw", with: "name: sgd").replacingOccurrences(of: "beta2: 0.99, ", with: ""))?.keyPath
                == "training.optimizer.decay_parameters")
        // measurement.engines: named engines only, dense always measured.
        let engines = { (list: String) in Self.yaml().replacingOccurrences(of: "generation_repetitions: 1", with: "generation_repetitions: 1, engines: \(list)") }
        #expect(problem(engines("[dense, turbo]"))?.keyPath == "measurement.engines")
        #expect(problem(engines("[]"))?.keyPath == "measurement.engines")
        #expect(problem(engines("[csr, csr]"))?.keyPath == "measurement.engines")
        #expect(try ExperimentSpec.decode(yaml: engines("[int8, csr]")).measurement.engines == [.dense, .csr, .int8])
        #expect(try ExperimentSpec.decode(yaml: Self.yaml()).measurement.engines == InferenceEngine.allCases)
        // Dense-only (pretraining) specs; resolved defaults; a round trip through report.json.
        let spec = try ExperimentSpec.decode(yaml: Self.yaml(data: "{ dataset: text, train: bible-kjv }", stages: "[]"))
        let resolved = spec.resolved
        guard case .text(let text) = resolved.source else { Issue.record("not text"); return }
        #expect(text == .init(corpus: "bible-kjv", trainFraction: 0.9, trainWindows: 32_000, evalWindows: 256, context: 16, evaluations: [], tokenizerFile: nil))
        #expect(resolved.training.optimizer.decayParameters == .matrices && resolved.pruning.stages == [])
        #expect(try ExperimentSpec.validated(resolved.spec) == resolved.spec)
        // --quick on text: few windows, a short generation timed once.
        let quick = spec.quickVariant
        #expect(quick.data.trainWindows == 800 && quick.data.evalWindows == 32)
        #expect(quick.measurement.generationTokens == 24 && quick.measurement.generationRepetitions == 1)
        // The shipped pretraining spec under --quick: its 100 warm-up steps shrink to fit the
        // 50-step epoch, and the full spec behind it is checked on its own 32,000 windows.
        var options = RunOptions()
        options.quick = true
        let runner = try ExperimentRunner(spec: try ExperimentSpec.load(path: packageRoot + "/experiments/tinygpt-pretrain.yaml"), options: options)
        #expect(runner.spec.training.lrSchedule?.warmupSteps == 5 && runner.data.train.count == 800)
        // A gradual (AGP) text spec: its ramp is compressed into the 100 steps of a quick
        // epoch of 800 windows, not into the 250 that 2,000 rows would give.
        let gradual = try ExperimentSpec.decode(yaml: Self.yaml(data: "{ dataset: text, train: jargon, train_windows: 4800, eval_windows: 8 }")
            .replacingOccurrences(of: "stages: [{ sparsity: 0.5, epochs: 1 }]",
                                  with: "schedule: { kind: agp, epochs: 2, initial_sparsity: 0.0, final_sparsity: 0.5, frequency: 100, pruning_steps: 10 }"))
        let quickGradual = gradual.quickVariant.resolved
        #expect(throws: Never.self) {
            try ExperimentRunner.checkPhasesFit(quickGradual, plan: quickGradual.pruning.plan, trainRows: quickGradual.data.trainWindows!)
        }
    }

    @Test func trainerClipsGradientsBeforeTheStep() throws {
        var g = SeededGenerator(seed: 710)
        let model = try Sequential.gpt(GPTConfiguration(vocabulary: 32, context: 8, layers: 1, heads: 2, channels: 8), generator: &g)
        let bytes = ArraySlice((0..<400).map { _ in UInt8(g.nextInt(below: 32)) })
        let data = TextWindows.random(bytes, count: 16, length: 8, generator: &g)
        let trainer = Trainer(model: model, task: LanguageModelTask(), optimizer: Adam(store: model.store),
                              schedule: LearningRateSchedule(baseRate: 1e-3, totalSteps: 4), batches: BatchIterator(dataset: data, batchSize: 4))
        trainer.gradientClip = 0.05
        var norms: [Float] = []
        trainer.beforeStep = {
            let squares = model.store.grads.toArray().reduce(0.0) { $0 + Double($1) * Double($1) }
            norms.append(Float(squares.squareRoot()))
        }
        _ = try trainer.runEpoch(generator: &g)
        #expect(norms.count == 4 && norms.allSatisfy { $0 <= 0.05 * 1.0001 })
    }

    /// A small GPT on the Jargon File: dense training and a 50 % magnitude stage; the task's
    /// metrics are the columns, the loss falls from chance (ln 256 ≈ 5.55), and the
    /// attention and MLP matrices are what gets pruned.
    @Test func smallGPTRunWritesLanguageModelReports() throws {
        var options = RunOptions()
        options.runDirectory = temporaryDirectory("lm") + "/run"
        let yaml = Self.yaml(data: "{ dataset: text, train: jargon, train_windows: 64, eval_windows: 8, evaluate: { general: bible-kjv } }")
        let runner = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: yaml), options: options)
        let report = try runner.run()
        #expect(report.status == .complete && report.task.kind == "language_model" && report.task.deciding == "loss")
        #expect(report.dataRows.train == 64 && report.dataRows.test == 8 && report.dataRows.validation == 8)
        let dense = report.stages[0], pruned = report.stages[1]
        for key in ["test_loss", "test_perplexity", "test_bits_per_byte", "val_loss", "general_loss", "general_bits_per_byte"] {
            #expect(dense.metrics[key] != nil, "\(key)")
        }
        // Forgetting: the Bible is not what this model trained on.
        #expect(dense.metrics["general_loss"]! > dense.metrics["test_loss"]!)
        #expect(dense.metrics["test_loss"]! < log(256.0))
        #expect(abs(dense.metrics["test_perplexity"]! - exp(dense.metrics["test_loss"]!)) < 1e-9)
        #expect(abs(pruned.sparsity - 0.5) < 1e-3)
        #expect(pruned.layers.map(\.layer) == ["blocks.0.attn.qkv", "blocks.0.attn.proj", "blocks.0.mlp.fc", "blocks.0.mlp.proj"])
        let (header, _) = try readCSV(runner.runDirectory + "/stages.csv")
        #expect(header.contains("test_perplexity") && header.contains("val_bits_per_byte") && !header.contains("test_accuracy"))
        #expect(header.contains("general_loss") && header.contains("general_perplexity"))
        // Pruned weights stayed zero through masked fine-tuning with AdamW and clipping.
        for matrix in runner.model.prunableMatrices {
            for i in 0..<matrix.count where matrix.parameter.mask[i] == 0 { #expect(matrix.parameter.value[i] == 0) }
        }
        // Generation per stage: every engine's speed, the cache, FLOPs per token, a sample.
        #expect(header.contains("gen_tokens_per_s_dense") && header.contains("gen_tokens_per_s_auto") && header.contains("kv_cache_bytes"))
        for stage in report.stages {
            let generation = try #require(stage.generation)
            #expect(generation.promptTokens == 16 && generation.newTokens == 24 && !generation.greedySample.isEmpty)
            for engine in ["dense", "csr", "sell", "compact", "int8", "int8_csr", "auto"] {
                #expect((generation.tokensPerSecond[engine] ?? 0) > 0, "\(engine)")
            }
            #expect(generation.kvCacheBytes == 2 * 1 * 16 * 16 * 4)
            // 2 × 3,072 matrix weights, the tied head 2 · 256 · 16, attention 4 · 16 · (16 + 1) / 2.
            #expect(generation.flopsPerTokenDense == 6_144 + 8_192 + 544)
        }
        #expect(dense.generation!.flopsPerTokenEffective == dense.generation!.flopsPerTokenDense)
        #expect(pruned.generation!.flopsPerTokenEffective == 3_072 + 8_192 + 544)
        // report.json carries the same generation records.
        let onDisk = try RunReport.read(from: runner.runDirectory)
        #expect(onDisk.stages.map(\.generation) == report.stages.map(\.generation))
        // `topiary generate` continues the same prompt with the stage's weights as the report did.
        let sample = try runTopiary(["generate", runner.runDirectory, "--stage", "1", "--prompt", pruned.generation!.prompt, "--tokens", "24"])
        #expect(sample.status == 0, "\(sample.stderr)")
        #expect(sample.stdout == pruned.generation!.prompt + pruned.generation!.greedySample + "\n")
        #expect(sample.stderr.contains("stage1 · dense · 24 tokens"))
        let seeded = ["generate", runner.runDirectory, "--prompt", "The ", "--temperature", "0.9", "--top-k", "5", "--seed", "4", "--engine", "csr"]
        let (a, b) = (try runTopiary(seeded), try runTopiary(seeded))
        #expect(a.status == 0 && a.stdout == b.stdout && a.stdout.hasPrefix("The "))
        let notARun = try runTopiary(["generate", temporaryDirectory("not-a-run"), "--prompt", "x"])
        #expect(notARun.status == 1 && notARun.stderr.contains("is not a Topiary run folder"))
        for (arguments, message) in [(["--stage", "7"], "no accepted checkpoint after stage 7"), (["--engine", "nm"], "needs N:M masks"),
                                     (["--temperature", "-1"], "temperature must be"), (["--engine", "fast"], "--engine must be one of")] {
            let refused = try runTopiary(["generate", runner.runDirectory, "--prompt", "x"] + arguments)
            #expect(refused.status != 0 && refused.stderr.contains(message), "\(arguments): \(refused.stderr)")
        }
    }

    /// Wanda calibrates block by block: a GPT block is its attention and MLP matrices; block
    /// 0 sees the same inputs either way, block 1 sees block 0 already pruned, so its masks
    /// differ from scoring everything on the unpruned model.
    @Test func wandaCalibratesSequentiallyBlockByBlock() throws {
        var g = SeededGenerator(seed: 720)
        let gpt = try Sequential.gpt(GPTConfiguration(vocabulary: 32, context: 8, layers: 2, heads: 2, channels: 8), generator: &g)
        #expect(gpt.calibrationBlocks.map { $0.map(\.layerName) } == (0..<2).map { b in
            ["attn.qkv", "attn.proj", "mlp.fc", "mlp.proj"].map { "blocks.\(b).\($0)" } })
        #expect(seededMLP([6, 5, 4, 3], seed: 1).calibrationBlocks.map(\.count) == [1, 1, 1])
        func masks(_ calibration: String) throws -> [[Float]] {
            var options = RunOptions()
            options.runDirectory = temporaryDirectory("lm-wanda") + "/" + calibration
            let yaml = Self.yaml(model: "{ architecture: gpt, block_size: 16, n_layer: 2, n_head: 2, n_embd: 16 }",
                                 stages: "[{ sparsity: 0.6, epochs: 0 }]")
                .replacingOccurrences(of: "scorer: magnitude", with: "scorer: wanda, scope: per_row, calibration: \(calibration), calibration_batches: 4")
            let runner = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: yaml), options: options)
            let report = try runner.run()
            #expect(abs(report.stages[1].sparsity - 0.6) < 0.02)
            return runner.model.prunableMatrices.map { $0.mask.toArray() }
        }
        let (sequential, together) = (try masks("sequential"), try masks("together"))
        #expect(Array(sequential[0..<4]) == Array(together[0..<4]))
        #expect(Array(sequential[4..<8]) != Array(together[4..<8]))
        // The default is sequential for wanda at a separable scope, and global cannot be.
        let resolved = try ExperimentSpec.decode(yaml: Self.yaml().replacingOccurrences(of: "scorer: magnitude", with: "scorer: wanda, scope: per_row")).resolved
        #expect(resolved.pruning.calibration == .sequential)
        #expect(try ExperimentSpec.decode(yaml: Self.yaml()).resolved.pruning.calibration == .together)
        #expect(problem(Self.yaml().replacingOccurrences(of: "scorer: magnitude", with: "scorer: wanda, calibration: sequential"))?.keyPath
                == "pruning.calibration")
        // Movement block by block reads each block's own accumulators.
        var options = RunOptions()
        options.runDirectory = temporaryDirectory("lm-movement") + "/run"
        let movement = Self.yaml().replacingOccurrences(of: "scorer: magnitude", with: "scorer: movement, scope: per_layer, calibration: sequential")
        let report = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: movement), options: options).run()
        #expect(abs(report.stages[1].sparsity - 0.5) < 1e-3)
    }

    /// The bench's floor for a W3 step counts every matrix product once per pass: checked
    /// against a GPT's own prunable matrices and the (t, s ≤ t) pairs its attention visits.
    @Test func trainingMatrixFLOPsCountTheModelsProducts() throws {
        let configuration = GPTConfiguration(vocabulary: 40, context: 9, layers: 2, heads: 3, channels: 12)
        var generator = SeededGenerator(seed: 1, stream: "flops")
        let model = try Sequential.gpt(configuration, generator: &generator)
        let weights = model.prunableMatrices.reduce(0) { $0 + $1.count }
        var pairs = 0
        for t in 0..<configuration.context { for s in 0..<configuration.context where s <= t { pairs += 1 } }
        let forward = configuration.context * 2 * (weights + 40 * 12) + configuration.layers * 2 * (2 * 12) * pairs
        #expect(configuration.trainingMatrixFLOPs(batch: 5) == 3 * 5 * forward)
        #expect(GPTConfiguration.w3.trainingMatrixFLOPs(batch: 16) == 10_877_927_424)
    }

    /// Every scorer prunes a GPT (per layer, as obs needs), and N:M 2:4 runs along its fan-in
    /// with the nm engine timed for generation.
    @Test func everyScorerAndNMPruneAGPT() throws {
        for scorer in ScorerRegistry.builtIn.keys.sorted() {
            var options = RunOptions()
            options.runDirectory = temporaryDirectory("lm-scorers") + "/" + scorer
            let yaml = Self.yaml(stages: "[{ sparsity: 0.5, epochs: 1 }]")
                .replacingOccurrences(of: "scorer: magnitude", with: "scorer: \(scorer), scope: per_layer, calibration_batches: 2")
                .replacingOccurrences(of: "generation_tokens: 24", with: "generation_tokens: 4")
            let report = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: yaml), options: options).run()
            #expect(report.status == .complete && abs(report.stages[1].sparsity - 0.5) < 1e-3, "\(scorer)")
            #expect(report.stages[1].metrics["test_loss"]!.isFinite, "\(scorer)")
        }
        var options = RunOptions()
        options.runDirectory = temporaryDirectory("lm-nm") + "/run"
        let yaml = Self.yaml().replacingOccurrences(of: "scorer: magnitude", with: "scorer: magnitude, scope: nm, n_of_m: [2, 4]")
        let report = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: yaml), options: options).run()
        #expect(report.stages[1].sparsity == 0.5 && (report.stages[1].generation?.tokensPerSecond["nm"] ?? 0) > 0)
    }

    /// `scope: channels` on a GPT removes whole heads and MLP neurons; the compact engine
    /// then holds smaller matrices and generates faster than it would with them all.
    @Test func structuredGPTRunsCompactSmaller() throws {
        var options = RunOptions()
        options.runDirectory = temporaryDirectory("lm-heads") + "/run"
        let yaml = Self.yaml(model: "{ architecture: gpt, block_size: 16, n_layer: 1, n_head: 4, n_embd: 32 }")
            .replacingOccurrences(of: "scorer: magnitude", with: "scorer: magnitude, scope: channels")
        let runner = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: yaml), options: options)
        let report = try runner.run()
        let pruned = report.stages[1]
        let qkv = runner.model.prunableMatrices[0], fc = runner.model.prunableMatrices[2]
        #expect((0..<4).filter { h in CausalSelfAttention.headRows(h, width: 32, headSize: 8).contains { ChannelPruner.isAlive(qkv, row: $0) } }.count == 2)
        #expect((0..<fc.rows).filter { ChannelPruner.isAlive(fc, row: $0) }.count == 64)
        #expect(pruned.bytesByEngine["compact"]! < report.stages[0].bytesByEngine["compact"]!)
        #expect(pruned.generation!.flopsPerTokenEffective < report.stages[0].generation!.flopsPerTokenEffective)
        // Half the heads: half the compact engine's cache (2 × 16 positions × 16 wide × 4 bytes).
        #expect(pruned.generation!.kvCacheBytes == 2 * 16 * 32 * 4 && pruned.generation!.compactKVCacheBytes == 2 * 16 * 16 * 4)
    }

    /// Pretraining and adaptation are two specs: `init_from` starts the second from the first
    /// run's newest checkpoint. With no training, the adapted run evaluates exactly as the
    /// pretrained model ended; a model of another shape is refused naming the key.
    @Test func initFromStartsWhereAnotherRunEnded() throws {
        var options = RunOptions()
        let pretrained = temporaryDirectory("lm-init") + "/pretrain"
        options.runDirectory = pretrained
        let first = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: Self.yaml(stages: "[]")), options: options).run()
        let adapt = Self.yaml(model: "{ architecture: gpt, block_size: 16, n_layer: 1, n_head: 2, n_embd: 16, init_from: \(pretrained) }", stages: "[]")
            .replacingOccurrences(of: "epochs: 2", with: "epochs: 0")
        options.runDirectory = temporaryDirectory("lm-init") + "/adapt"
        let second = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: adapt), options: options).run()
        #expect(second.stages[0].metrics["test_loss"] == first.stages[0].metrics["test_loss"])
        options.runDirectory = temporaryDirectory("lm-init") + "/wider"
        let wider = adapt.replacingOccurrences(of: "n_embd: 16", with: "n_embd: 32")
        #expect(throws: SpecError.self) { try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: wider), options: options) }
        do { _ = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: wider), options: options) } catch let error as SpecError {
            #expect(error.keyPath == "model.init_from" && error.problem.contains("same parameter names and shapes"))
        }
        let missing = adapt.replacingOccurrences(of: pretrained, with: pretrained + "-absent")
        do { _ = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: missing), options: options); Issue.record("accepted a missing folder") } catch let error as SpecError {
            #expect(error.keyPath == "model.init_from" && error.problem.contains("does not exist"))
        }
    }
}
}
