import Foundation
import Testing
import TopiarySparsity
import TopiaryReport
@testable import TopiarySpec

extension AllTests {
/// The resolved spec makes every choice the YAML leaves open, and a spec built in code goes
/// through the same checks as a spec file.
@Suite struct ResolvedSpecTests {
    func codeBuiltSpec() -> ExperimentSpec {
        var data = DataSpec()
        data.dataset = .csv
        data.train = "/data/table.csv"
        data.label = "target"
        data.validationFraction = 0.1
        return ExperimentSpec(
            name: "in-code", seed: 7, data: data, model: ModelSpec(architecture: "mlp", hiddenSizes: [16]),
            training: TrainingSpec(epochs: 2, batchSize: 32, optimizer: OptimizerSpec(name: .sgd, learningRate: 0.1)),
            pruning: PruningSpec(scorer: "magnitude", stages: [StageSpec(sparsity: 0.5, epochs: 1)]))
    }

    @Test func defaultsAreWrittenOutAndChoicesMade() throws {
        let resolved = try ExperimentSpec.validated(codeBuiltSpec()).resolved
        #expect(resolved.task == .classification && resolved.standardize)
        guard case .csv(let table) = resolved.source else { Issue.record("source \(resolved.source)"); return }
        #expect(table.train == "/data/table.csv" && table.test == .fraction(0.2) && table.label == "target")
        #expect(table.header && table.separator == .comma && table.features == nil)
        // Retraining inherits every field from training, the schedule included.
        #expect(resolved.retraining.batchSize == 32 && resolved.retraining.optimizer == resolved.training.optimizer)
        #expect(resolved.retraining.lrSchedule == resolved.trainingSchedule && resolved.trainingSchedule.name == .constant)
        #expect(resolved.calibrationSplit == .train && resolved.threads >= 1)
        #expect(resolved.spec.data.validationFraction == 0.1)
    }

    @Test func resolvingTwiceChangesNothing() throws {
        let once = try ExperimentSpec.validated(codeBuiltSpec()).resolved
        #expect(once.spec.resolved == once)
        // report.json records `spec`: it decodes back strictly, validation_fraction and all.
        #expect(try ExperimentSpec.validated(once.spec) == once.spec)
    }

    @Test func eachDatasetBecomesItsSource() throws {
        var spec = codeBuiltSpec()
        spec.data = DataSpec()
        #expect(spec.resolved.source == .fashionMNIST(directory: "/usr/share/datasets/fashion-mnist"))
        spec.data.dataset = .ts
        spec.data.train = "a_TRAIN.ts"
        spec.data.test = "a_TEST.ts"
        #expect(spec.resolved.source == .series(.init(train: "a_TRAIN.ts", test: .file("a_TEST.ts"))))
        #expect(spec.resolved.standardize)
        spec.data = DataSpec()
        spec.data.dataset = .idx
        (spec.data.trainImages, spec.data.trainLabels, spec.data.testImages, spec.data.testLabels) = ("a", "b", "c", "d")
        spec.data.classes = 3
        guard case .idx(let files) = spec.resolved.source else { Issue.record("not idx"); return }
        #expect(files.testLabels == "d" && files.classes == 3 && !spec.resolved.standardize)
    }

    @Test func codeBuiltSpecsAreValidatedWithKeyPaths() {
        var spec = codeBuiltSpec()
        spec.pruning.stages = [StageSpec(sparsity: 0.5, epochs: 1), StageSpec(sparsity: 1.2, epochs: 1)]
        #expect(throws: SpecError.self) { try ExperimentSpec.validated(spec) }
        do { _ = try ExperimentSpec.validated(spec) } catch let error as SpecError {
            #expect(error.keyPath == "pruning.stages[1].sparsity" && error.file == "<spec built in code>")
        } catch { Issue.record("\(error)") }
        spec = codeBuiltSpec()
        spec.data.label = nil
        do { _ = try ExperimentSpec.validated(spec, file: "study.swift") } catch let error as SpecError {
            #expect(error.keyPath == "data.label" && error.errorDescription?.hasPrefix("spec study.swift: data.label") == true)
        } catch { Issue.record("\(error)") }
        spec = codeBuiltSpec()
        spec.pruning.scorer = "no-such-scorer"
        #expect(throws: SpecError.self) { try ExperimentSpec.validated(spec) }
    }

    /// report.json of a run whose program registered its own scorer and model still reads
    /// (compare, summary, resume's checks), but running that spec needs them registered.
    @Test func recordedSpecsNameScorersAndModelsRegisteredElsewhere() throws {
        var spec = codeBuiltSpec()
        spec.pruning.compareScorers = ["magnitude", "random"]
        var json = String(decoding: try JSONEncoder().encode(spec), as: UTF8.self)
        json = json.replacingOccurrences(of: "\"architecture\":\"mlp\"", with: "\"architecture\":\"their-model\"")
            .replacingOccurrences(of: "\"random\"", with: "\"their-scorer\"")
        #expect(json.contains("their-model") && json.contains("their-scorer"))
        let recorded = try JSONCoding.decoder.decode(ExperimentSpec.self, from: Data(json.utf8))
        #expect(recorded.model.architecture == "their-model" && recorded.pruning.compareScorers == ["magnitude", "their-scorer"])
        do { _ = try ExperimentSpec.validated(recorded); Issue.record("validated an unregistered model") } catch let error as SpecError {
            #expect(error.keyPath == "model.architecture" && error.problem.contains("unknown value 'their-model'"))
        }
        // Strict decoding (a spec file) refuses the same text.
        #expect(throws: (any Error).self) { try JSONDecoder().decode(ExperimentSpec.self, from: Data(json.utf8)) }
    }
}
}
