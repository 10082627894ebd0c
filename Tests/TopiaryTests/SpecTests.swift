import Foundation
import Testing
import TopiaryNN
@testable import TopiaryReport
@testable import TopiaryRun
import TopiarySparsity
@testable import TopiarySpec
@testable import TopiaryStudy
@testable import TopiaryTraining

/// A small valid spec; tests edit one line of it to make it invalid.
let validSpecYAML = """
name: tiny
seed: 3
data:
  validation_size: 400
model:
  architecture: mlp
  hidden_sizes: [32, 16]
training:
  epochs: 2
  batch_size: 64
  optimizer: { name: adam, learning_rate: 1e-3 }
pruning:
  scorer: magnitude
  stages:
    - { sparsity: 0.5, epochs: 1 }
    - { sparsity: 0.8, epochs: 1 }
measurement:
  latency_batch_sizes: [1, 100]
  latency_repetitions: 5
  latency_warmup: 1
"""

extension AllTests {
@Suite struct SpecTests {
    func decodeError(_ yaml: String) -> SpecError? {
        do { _ = try ExperimentSpec.decode(yaml: yaml, file: "x.yaml"); return nil } catch { return error as? SpecError }
    }

    @Test func validSpecDecodesAndResolvesDefaults() throws {
        let spec = try ExperimentSpec.decode(yaml: validSpecYAML)
        #expect(spec.training.optimizer.learningRate == 1e-3)  // 1e-3 is a number, not a string
        let resolved = spec.resolved
        #expect(resolved.pruning.scope == .global && resolved.pruning.calibrationBatches == 20)
        #expect(resolved.pruning.retraining?.optimizer == spec.training.optimizer.resolved)
        #expect(resolved.training.optimizer.beta2 == 0.999)
        #expect(resolved.data.path == "/usr/share/datasets/fashion-mnist")
    }

    @Test func defaultExperimentIsWorkloadW1() throws {
        let spec = try ExperimentSpec.load(path: packageRoot + "/experiments/lenet300-fmnist.yaml").resolved
        #expect(spec.model.hiddenSizes == [300, 100] && spec.seed == 0)
        #expect(spec.training.epochs == 8 && spec.training.batchSize == 128)
        #expect(spec.training.optimizer.name == .adam && spec.training.optimizer.learningRate == 1e-3)
        #expect(spec.pruning.stages?.map(\.sparsity) == [0.5, 0.75, 0.875, 0.9375, 0.96875])
        #expect(spec.pruning.stages?.allSatisfy { $0.epochs == 2 } == true)
        #expect(spec.pruning.retraining?.optimizer?.learningRate == 5e-4 && spec.pruning.scope == .global)
        #expect(spec.pruning.scorer == "magnitude" && spec.pruning.excludeLayers.isEmpty)
    }

    @Test func unknownKeyNamesKeyPathAndAllowedKeys() {
        let error = decodeError(validSpecYAML.replacingOccurrences(of: "learning_rate: 1e-3", with: "learning_rat: 1e-3"))
        #expect(error?.keyPath == "training.optimizer.learning_rat")
        #expect(error?.problem.contains("Allowed here") == true && error?.problem.contains("learning_rate") == true)
        #expect(error?.errorDescription?.hasPrefix("spec x.yaml: training.optimizer.learning_rat") == true)
        #expect(decodeError(validSpecYAML + "\nextra: 1")?.keyPath == "extra")
    }

    @Test func sparsityOutsideUnitInterval() {
        for bad in ["1.0", "1.2", "-0.1"] {
            let error = decodeError(validSpecYAML.replacingOccurrences(of: "sparsity: 0.8", with: "sparsity: \(bad)"))
            #expect(error?.keyPath == "pruning.stages[1].sparsity", "\(bad)")
            #expect(error?.problem.contains("outside [0, 1)") == true)
        }
    }

    @Test func nonIncreasingStages() {
        let error = decodeError(validSpecYAML.replacingOccurrences(of: "sparsity: 0.8", with: "sparsity: 0.5"))
        #expect(error?.keyPath == "pruning.stages[1].sparsity")
        #expect(error?.problem.contains("strictly increase") == true)
    }

    @Test func unknownScorerListsAvailableOnes() {
        let error = decodeError(validSpecYAML.replacingOccurrences(of: "scorer: magnitude", with: "scorer: magnitud"))
        #expect(error?.keyPath == "pruning.scorer")
        #expect(error?.problem.contains(ScorerRegistry.names.joined(separator: ", ")) == true)
    }

    @Test func otherValidationErrors() throws {
        let cases: [(String, String, String)] = [
            ("name: tiny", "name: a/b", "name"),
            ("batch_size: 64", "batch_size: 0", "training.batch_size"),
            ("learning_rate: 1e-3", "learning_rate: -1", "training.optimizer.learning_rate"),
            ("name: adam,", "name: adamx,", "training.optimizer.name"),
            ("{ name: adam, learning_rate: 1e-3 }", "{ name: adam, learning_rate: 1e-3, momentum: 0.9 }", "training.optimizer.momentum"),
            ("scorer: magnitude", "scorer: magnitude\n  scope: everywhere", "pruning.scope"),
            ("latency_repetitions: 5", "latency_repetitions: 0", "measurement.latency_repetitions"),
            ("epochs: 2", "epochs: two", "training.epochs"),
        ]
        for (from, to, keyPath) in cases {
            let error = decodeError(validSpecYAML.replacingOccurrences(of: from, with: to))
            #expect(error?.keyPath == keyPath, "\(to)")
        }
        #expect(decodeError(validSpecYAML.replacingOccurrences(of: "  hidden_sizes: [32, 16]\n", with: ""))?.keyPath == "model.hidden_sizes")
        // Layer names depend on the built model: checked when the run is set up, before any work.
        var options = RunOptions()
        options.runDirectory = temporaryDirectory("names") + "/run"
        let unknown = try sliceSpec { $0.replacingOccurrences(of: "scorer: magnitude", with: "scorer: magnitude\n  exclude_layers: [fc9]") }
        #expect(throws: SpecError(file: "<spec>", keyPath: "pruning.exclude_layers",
                                  problem: "no prunable layer named 'fc9'. This model's prunable layers: fc1, fc2, fc3.")) {
            try ExperimentRunner(spec: unknown, options: options)
        }
        #expect(decodeError("name: [unclosed") != nil)
    }

    @Test func missingFileIsASpecError() {
        #expect(throws: SpecError.self) { try ExperimentSpec.load(path: "/nonexistent/spec.yaml") }
    }

    @Test func resolvedSpecRoundTripsThroughJSON() throws {
        let resolved = try ExperimentSpec.decode(yaml: validSpecYAML).resolved
        let data = try JSONEncoder().encode(resolved.spec)
        let decoded = try JSONDecoder().decode(ExperimentSpec.self, from: data)
        #expect(decoded == resolved.spec && decoded.resolved == resolved)   // resolving is idempotent
    }
}
}

/// The package's root folder (tests run from anywhere).
let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.path + "/Package.swift") { return url.path }
    }
    fatalError("Package.swift not found above \(#filePath)")
}()

extension AllTests {
@Suite struct ScheduleSpecTests {
    let stagesBlock = "  stages:\n    - { sparsity: 0.5, epochs: 1 }\n    - { sparsity: 0.8, epochs: 1 }"

    func decodeError(_ replacement: String) -> SpecError? {
        do {
            _ = try ExperimentSpec.decode(yaml: validSpecYAML.replacingOccurrences(of: stagesBlock, with: replacement), file: "x.yaml")
            return nil
        } catch { return error as? SpecError }
    }

    @Test func namedSchedulesResolveToPlans() throws {
        func plan(_ block: String) throws -> PruningPlan {
            try ExperimentSpec.decode(yaml: validSpecYAML.replacingOccurrences(of: stagesBlock, with: block)).resolved.pruning.plan
        }
        #expect(try plan("  schedule: { kind: geometric, fraction: 0.5, stages: 3, epochs: 2 }")
                == .staged([StageSpec(sparsity: 0.5, epochs: 2), StageSpec(sparsity: 0.75, epochs: 2), StageSpec(sparsity: 0.875, epochs: 2)]))
        if case .adaptive(let policy, let epochs) = try plan("  schedule: { kind: adaptive, epochs: 2 }") {
            #expect(policy.tolerance == 0.5 && policy.initialStep == 0.5 && epochs == 2)   // accuracy points
        } else { Issue.record("not adaptive") }
        if case .gradual(let schedule, let epochs) = try plan("  schedule: { kind: agp, epochs: 4, final_sparsity: 0.9, frequency: 10, pruning_steps: 5 }") {
            #expect(schedule.endStep == 50 && schedule.initialSparsity == 0 && epochs == 4)
        } else { Issue.record("not agp") }
    }

    @Test func scheduleErrorsNameTheKey() {
        #expect(decodeError("")?.problem.contains("either 'stages'") == true)
        #expect(decodeError(stagesBlock + "\n  schedule: { kind: linear, final_sparsity: 0.9, stages: 3, epochs: 1 }")?.keyPath == "pruning.schedule")
        #expect(decodeError("  schedule: { kind: linear, stages: 3, epochs: 1 }")?.keyPath == "pruning.schedule.final_sparsity")
        #expect(decodeError("  schedule: { kind: linear, final_sparsity: 0.9, stages: 3, epochs: 1, frequency: 4 }")?.keyPath == "pruning.schedule.frequency")
        #expect(decodeError("  schedule: { kind: geometric, fraction: 1.5, stages: 3, epochs: 1 }")?.keyPath == "pruning.schedule.fraction")
        #expect(decodeError("  schedule: { kind: agp, epochs: 2, final_sparsity: 0.9, frequency: 5, pruning_steps: 4 }\n  rewind: { weights: init }")?.keyPath == "pruning.rewind")
        #expect(decodeError("  schedule: { kind: adaptive, epochs: 1 }\n  rewind: { lr_schedule: continue }")?.keyPath == "pruning.rewind.lr_schedule")
        #expect(decodeError(stagesBlock + "\n  rewind: { weights: step }")?.keyPath == "pruning.rewind.step")
        #expect(decodeError("  schedule: { kind: hyperbolic, epochs: 1 }")?.keyPath == "pruning.schedule.kind")
    }

    /// A gradual schedule whose last update falls after its phase fails before training.
    @Test func gradualPastItsPhaseIsRejectedUpFront() throws {
        let spec = try sliceSpec {
            $0.replacingOccurrences(of: self.stagesBlock, with: "  schedule: { kind: agp, epochs: 1, final_sparsity: 0.9, frequency: 10, pruning_steps: 5 }")
        }
        var options = RunOptions()
        options.runDirectory = temporaryDirectory("agp") + "/run"
        #expect(throws: SpecError.self) { try ExperimentRunner(spec: spec, options: options) }
        #expect(!FileManager.default.fileExists(atPath: options.runDirectory!))
    }
}
}

extension AllTests {
@Suite struct DocumentationTests {
    /// notebooks-out/README.md documents every column the writers produce by name; the README
    /// names the core ones and the engine columns' patterns.
    @Test func everyReportColumnIsDocumented() throws {
        let columns = ReportColumns.stages(latencyBatchSizes: [1, 1000]).map(\.name)
            + ReportColumns.layers(latencyBatchSizes: [1, 1000]).map(\.name)
        // Every task's metric columns are in the schema too.
        let regression = ReportColumns.stages(latencyBatchSizes: [1], task: TaskRecord(RegressionTask())).map(\.name)
        #expect(regression.contains("test_rmse") && regression.contains("int8_test_rmse"))
        let language = ReportColumns.stages(latencyBatchSizes: [1], task: TaskRecord(LanguageModelTask())).map(\.name)
        #expect(language.contains("test_perplexity") && language.contains("val_bits_per_byte"))
        let device = ReportColumns.stages(latencyBatchSizes: [1], device: true).map(\.name).filter { $0.hasPrefix("device_") || $0.hasPrefix("c_") || $0.contains("rows_test") || $0.hasPrefix("instructions") }
        #expect(device.count == 13)
        let schema = try String(contentsOfFile: packageRoot + "/notebooks-out/README.md", encoding: .utf8)
        for column in columns + regression + language + device + SweepRunner.stageColumns("accuracy") + ["point", "label", "status"] + RunComparison.csvColumns {
            #expect(schema.contains("`\(column)`"), "notebooks-out/README.md lacks \(column)")
        }
        let readme = try String(contentsOfFile: packageRoot + "/README.md", encoding: .utf8)
        let patterned = ["latency_b{batch}_{engine}_{median,p95,min}_us", "bytes_{engine}", "best_engine_b{batch}", "auto_engines_b{batch}"]
        for pattern in patterned { #expect(readme.contains("`\(pattern)`"), "README lacks \(pattern)") }
        for column in device { #expect(readme.contains("`\(column)`"), "README lacks \(column)") }
        for column in columns where !column.contains("_b1_") && !column.contains("_b1000_") && !column.hasPrefix("bytes_")
                                    && !column.hasPrefix("best_engine_") && !column.hasPrefix("auto_engines_") {
            #expect(readme.contains("`\(column)`"), "README lacks \(column)")
        }
    }

    /// Every spec in experiments/ decodes (strictly) and has a plan whose phases fit, as
    /// written and as its --quick variant (2,000 training rows or 800 windows; AGP ramps
    /// compressed, warm-ups shortened).
    @Test func everyExperimentSpecDecodesAndItsQuickVariantFits() throws {
        let root = packageRoot + "/experiments"
        let names = try FileManager.default.subpathsOfDirectory(atPath: root).filter { $0.hasSuffix(".yaml") }
        #expect(names.count >= 10)
        for name in names {
            let loaded = try ExperimentSpec.load(path: root + "/" + name)
            for spec in [loaded.resolved, loaded.quickVariant.resolved] {
                // Fashion-MNIST's rows, or a text spec's windows (its corpora are larger).
                let rows = spec.data.dataset.splitsByRows ? min(60_000 - spec.data.validationSize, spec.data.trainLimit ?? .max)
                    : spec.data.trainWindows!
                #expect(throws: Never.self, "\(name)") { try ExperimentRunner.checkPhasesFit(spec, plan: spec.pruning.plan, trainRows: rows) }
            }
        }
    }
}
}
