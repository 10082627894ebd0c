import Foundation
import Testing
@testable import TopiaryNN
@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySpec
@testable import TopiaryStudy
@testable import TopiaryTensor
@testable import TopiaryTraining

/// Whether a report column is a timing (or decided by timings, like the fastest engine).
func isTimingColumn(_ name: String) -> Bool {
    ["train_epoch_seconds", "train_seconds", "score_seconds", "select_seconds", "step_seconds", "peak_rss_bytes"].contains(name)
        || name.hasPrefix("latency_") || name.hasPrefix("best_engine_") || name.hasPrefix("auto_engines_")
}

/// The columns that must agree between runs of the same spec and seed (timings excluded).
func nonTimingColumns(_ path: String) throws -> [[String]] {
    let (header, rows) = try readCSV(path)
    let kept = header.filter { !isTimingColumn($0) }
    return rows.map { row in kept.map { "\($0)=\(row[$0]!)" } }
}

extension AllTests {
@Suite struct AdaptiveAndResumeTests {
    /// A first step so large it must fail (95 % of a small model, tolerance 1 point) is
    /// rejected and rolled back; the halved steps then get accepted.
    @Test func adaptiveRejectsRollsBackAndRetries() throws {
        let spec = try sliceSpec {
            $0.replacingOccurrences(of: "  stages:\n    - { sparsity: 0.5, epochs: 1 }\n    - { sparsity: 0.8, epochs: 1 }",
                                    with: "  schedule: { kind: adaptive, epochs: 1, tolerance_points: 1, initial_step: 0.95, minimum_step: 0.2, maximum_stages: 2 }")
        }
        let (directory, report) = try runSlice(spec)
        let rows = report.stages
        #expect(rows[0].status == .accepted && rows[0].stage == 0)
        #expect(rows[1].status == .rejected && rows[1].targetSparsity == 0.95)
        #expect(rows[1].valAccuracy < rows[0].valAccuracy - 0.01)
        // After the rollback the next attempt prunes half the step from the dense state:
        // masks only shrink, so reaching 0.475 proves the 95 % masks were rolled back.
        let accepted = rows.filter { $0.status == .accepted && $0.stage > 0 }
        #expect(accepted.first?.targetSparsity == 0.475)
        #expect(accepted.allSatisfy { $0.valAccuracy >= rows[0].valAccuracy - 0.01 - 1e-12 })
        #expect(rows.filter { $0.status == .rejected }.allSatisfy { $0.valAccuracy < rows[0].valAccuracy - 0.01 })
        let csv = try readCSV(directory + "/stages.csv")
        #expect(csv.rows[1]["status"] == "rejected" && csv.rows[2]["status"] == "accepted")
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: directory + "/checkpoints").sorted()
        #expect(checkpoints.first == "0000-stage0.bin" && checkpoints.contains("0001-stage1-rejected.bin"))
    }

    /// Checkpoints hold one F32 tensor per parameter under its PyTorch name, the masks that
    /// prune something as `<name>_mask`, and optimizer state per trainable parameter: what a
    /// state dict or a safetensors file holds, with nothing to guess.
    @Test func checkpointsHoldNamedParameterTensors() throws {
        let spec = try sliceSpec {
            $0.replacingOccurrences(of: "  stages:\n    - { sparsity: 0.5, epochs: 1 }\n    - { sparsity: 0.8, epochs: 1 }",
                                    with: "  schedule: { kind: agp, epochs: 1, final_sparsity: 0.5, frequency: 8, pruning_steps: 2 }")
        }
        let (directory, _) = try runSlice(spec)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory + "/checkpoints").sorted()
        let header = try Checkpoint.readHeader(from: directory + "/checkpoints/" + names.last!)
        let byName = Dictionary(uniqueKeysWithValues: header.tensors.map { ($0.name, $0) })
        #expect(header.tensors.allSatisfy { $0.dtype == "F32" })
        for (name, shape) in [("fc1.weight", [32, 784]), ("fc1.bias", [32]), ("fc2.weight", [16, 32]), ("fc3.weight", [10, 16]), ("fc3.bias", [10]),
                              ("fc1.weight_mask", [32, 784]), ("optimizer.adam.m.fc1.weight", [32, 784]), ("optimizer.adam.v.fc3.bias", [10])] {
            #expect(byName[name]?.shape == shape, "\(name)")
        }
        #expect(byName["fc1.bias_mask"] == nil && byName["values"] == nil)   // biases are not pruned; no flat buffers
        // Read back, the per-parameter tensors rebuild the store bit for bit.
        let checkpoint = try Checkpoint.read(from: directory + "/checkpoints/" + names.last!)
        var g = SeededGenerator(seed: 1)
        let model = Sequential.multilayerPerceptron(inputFeatures: 784, hiddenSizes: [32, 16], outputs: 10, generator: &g)
        try CheckpointLayout.restoreParameters(model.store, from: checkpoint.tensors, path: "checkpoint")
        let sameValues = model.store.parameters.allSatisfy { $0.value.toArray() == checkpoint.tensors[$0.name]!.toArray() }
        #expect(sameValues)
        #expect(countNonzeros(model.store.parameter(named: "fc1.weight")!.mask) == countNonzeros(checkpoint.tensors["fc1.weight_mask"]!))
        // A tensor the model does not have is named in the refusal.
        var foreign = checkpoint.tensors
        foreign["fc1.weight"] = Tensor(zeros: [31, 784])
        #expect(throws: CheckpointError.mismatch(path: "x", detail: "its tensor fc1.weight has shape [31, 784], where this run's model has [32, 784]")) {
            try CheckpointLayout.restoreParameters(model.store, from: foreign, path: "x")
        }
    }

    /// AGP: masks change inside training, following the cubic, one row per epoch.
    @Test func gradualUpdatesMasksInsideTraining() throws {
        // 2,000 rows / batch 64 = 32 steps per epoch; updates at steps 0, 8, …, 48.
        let spec = try sliceSpec {
            $0.replacingOccurrences(of: "  stages:\n    - { sparsity: 0.5, epochs: 1 }\n    - { sparsity: 0.8, epochs: 1 }",
                                    with: "  schedule: { kind: agp, epochs: 3, final_sparsity: 0.9, frequency: 8, pruning_steps: 6 }")
        }
        let (_, report) = try runSlice(spec)
        let agp = GradualScheduleProbe.make(final: 0.9, frequency: 8, steps: 6)
        #expect(report.stages.count == 4)
        // Epoch 1 ends after step 31: last update at step 24 → s = 0.9 − 0.9·(1 − 24/48)³.
        #expect(abs(report.stages[1].targetSparsity - agp.sparsity(atStep: 24)) < 1e-12)
        #expect(abs(report.stages[1].sparsity - report.stages[1].targetSparsity) * Double(report.stages[1].prunableWeights) <= 0.5)
        #expect(report.stages[1].sparsity > 0.7 && report.stages[1].sparsity < 0.9)
        #expect(report.stages[2].targetSparsity == 0.9 && report.stages[3].targetSparsity == 0.9)
    }

    /// Lottery-ticket rewinding: with no retraining, surviving weights are exactly their
    /// initial values.
    @Test func rewindToInitialisationRestoresSurvivors() throws {
        let spec = try sliceSpec {
            $0.replacingOccurrences(of: "    - { sparsity: 0.5, epochs: 1 }\n    - { sparsity: 0.8, epochs: 1 }",
                                    with: "    - { sparsity: 0.5, epochs: 0 }\n  rewind: { weights: init }")
        }
        let (directory, _) = try runSlice(spec)
        let stage1 = try Checkpoint.read(from: directory + "/checkpoints/0001-stage1.bin")
        var g = SeededGenerator(seed: 3, stream: "init")
        let fresh = Sequential.multilayerPerceptron(inputFeatures: 784, hiddenSizes: [32, 16], outputs: 10, generator: &g)
        var pruned = 0
        for parameter in fresh.store.parameters {
            let values = stage1.tensors[parameter.name]!
            let mask = stage1.tensors[parameter.name + "_mask"] ?? Tensor(shape: parameter.shape, values: [Float](repeating: 1, count: parameter.count))
            pruned += mask.count - countNonzeros(mask)
            let survivorsAreInitial = (0..<values.count).allSatisfy { values[$0] == parameter.value[$0] * mask[$0] }
            #expect(survivorsAreInitial, "\(parameter.name)")
        }
        #expect(pruned > 0)
    }

    /// Resume from a copy of a finished run cut back to its stage-1 checkpoint: the resumed
    /// rows equal the uninterrupted run's in every non-timing column.
    @Test func resumeFromAnEarlierCheckpointReproducesTheRun() throws {
        // Staged, adaptive, and staged with movement scores (whose accumulators must survive).
        for (schedule, scorer) in [("", "magnitude"),
                                   ("  schedule: { kind: adaptive, epochs: 1, tolerance_points: 1, initial_step: 0.95, minimum_step: 0.2, maximum_stages: 2 }", "magnitude"),
                                   ("", "movement")] {
            let spec = try sliceSpec {
                let text = $0.replacingOccurrences(of: "scorer: magnitude", with: "scorer: \(scorer)")
                return schedule.isEmpty ? text : text.replacingOccurrences(of: "  stages:\n    - { sparsity: 0.5, epochs: 1 }\n    - { sparsity: 0.8, epochs: 1 }", with: schedule)
            }
            let (complete, _) = try runSlice(spec)
            let cut = temporaryDirectory("cut") + "/run"
            try FileManager.default.createDirectory(atPath: cut + "/checkpoints", withIntermediateDirectories: true)
            for name in ["0000-stage0.bin", "0001-" + (schedule.isEmpty ? "stage1.bin" : "stage1-rejected.bin")] {
                try FileManager.default.copyItem(atPath: complete + "/checkpoints/" + name, toPath: cut + "/checkpoints/" + name)
            }
            var report = try RunReport.read(from: complete)
            report.status = .running
            report.stages = Array(report.stages.prefix(3))  // as if killed after writing a later row
            try report.write(to: cut)
            var options = RunOptions()
            options.resumeDirectory = cut
            let resumed = try ExperimentRunner(spec: spec, options: options).run()
            #expect(resumed.status == .complete && resumed.resumedAt.count == 1)
            #expect(try nonTimingColumns(cut + "/stages.csv") == nonTimingColumns(complete + "/stages.csv"), "\(schedule)")
            #expect(try nonTimingColumns(cut + "/layers.csv") == nonTimingColumns(complete + "/layers.csv"))
        }
    }

    @Test func resumeRefusesAnotherSpecAndFinishedRuns() throws {
        let (complete, _) = try runSlice(try sliceSpec())
        var options = RunOptions()
        options.resumeDirectory = complete
        #expect(throws: ReportError.runAlreadyComplete(path: complete)) { try ExperimentRunner(spec: try sliceSpec(), options: options) }
        var report = try RunReport.read(from: complete)
        report.status = .interrupted
        try report.write(to: complete)
        #expect(throws: RunResumeError.flagDiffers(directory: complete, flag: "--seed", given: "8", original: "not given")) {
            try ExperimentRunner(spec: try sliceSpec(), options: { var o = options; o.seedOverride = 8; return o }())
        }
        let otherSpec = try sliceSpec { $0.replacingOccurrences(of: "hidden_sizes: [32, 16]", with: "hidden_sizes: [32, 8]") }
        #expect(throws: CheckpointError.self) { try ExperimentRunner(spec: otherSpec, options: options) }
        options.resumeDirectory = temporaryDirectory("empty")
        #expect(throws: CheckpointError.nothingToResume(directory: options.resumeDirectory!)) {
            try ExperimentRunner(spec: try sliceSpec(), options: options)
        }
    }
}
}

import TopiarySparsity
enum GradualScheduleProbe {
    static func make(final: Double, frequency: Int, steps: Int) -> GradualSchedule {
        GradualSchedule(initialSparsity: 0, finalSparsity: final, startStep: 0, frequency: frequency, pruningSteps: steps)
    }
}
