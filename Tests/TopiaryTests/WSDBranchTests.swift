import Foundation
import Testing
import TopiaryOptim
@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySpec
@testable import TopiaryStudy

/// Warmup-Stable-Decay branches: plateau checkpoints carry weights and optimizer state, a
/// branch starts from one with that state, and a sweep of branches and planned runs charts
/// loss against training seen.
extension AllTests {
@Suite struct WSDBranchTests {
    /// The slice MLP, 2 epochs of 2000 rows at batch 64 (32 steps each): 64 steps with 8 of
    /// warm-up and the last 25 % (16 steps) decaying, so the plateau is steps 8 ..< 48.
    func plateauYAML(every: Int = 10) -> String {
        sliceSpecYAML.replacingOccurrences(of: "  optimizer: { name: adam, learning_rate: 1e-3 }",
                                           with: "  optimizer: { name: adam, learning_rate: 1e-3 }\n  lr_schedule: { name: wsd, warmup_steps: 8, decay_fraction: 0.25 }\n  plateau_checkpoint_every: \(every)")
            .replacingOccurrences(of: "  validation_size: 400", with: "  validation_size: 400\n  train_limit: 2000")
            .replacingOccurrences(of: "    - { sparsity: 0.5, epochs: 1 }\n    - { sparsity: 0.8, epochs: 1 }", with: "    []")
            .replacingOccurrences(of: "  stages:\n    []", with: "  stages: []")
    }

    @Test func plateauCheckpointsHoldTheOptimizerAndBranchesTakeIt() throws {
        let (directory, _) = try runSlice(try ExperimentSpec.decode(yaml: plateauYAML()))
        let names = try FileManager.default.contentsOfDirectory(atPath: directory + "/plateau").sorted()
        // Steps 10, 20, 30, 40 end on the plateau (8 ..< 48); 50 and 60 are in the decay.
        #expect(names == ["step-000010.bin", "step-000020.bin", "step-000030.bin", "step-000040.bin"])
        let path = directory + "/plateau/step-000030.bin"
        let checkpoint = try Checkpoint.read(from: path)
        #expect(checkpoint.header.progress.optimizerStepCount == 30)
        #expect(checkpoint.tensors.keys.contains { $0.hasPrefix("optimizer.adam.m.") } && checkpoint.tensors.keys.contains { $0.hasPrefix("optimizer.adam.v.") })
        // A branch: the plateau's weights and Adam state, a decay-only schedule.
        let branchYAML = sliceSpecYAML
            .replacingOccurrences(of: "  hidden_sizes: [32, 16]", with: "  hidden_sizes: [32, 16]\n  init_from: \(path)\n  init_optimizer: true")
            .replacingOccurrences(of: "  optimizer: { name: adam, learning_rate: 1e-3 }",
                                  with: "  optimizer: { name: adam, learning_rate: 1e-3 }\n  lr_schedule: { name: wsd, warmup_steps: 0, decay_fraction: 1.0 }")
        var options = RunOptions()
        options.runDirectory = temporaryDirectory("run") + "/branch"
        let branch = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: branchYAML), options: options)
        let optimizer = try branch.denseOptimizer()
        #expect(optimizer.stepCount == 30)
        let restored = CheckpointLayout.optimizerTensors(optimizer.stateBuffers, branch.model.store)
        for (name, tensor) in restored { #expect(tensor.toArray() == checkpoint.tensors[name]?.toArray(), "\(name)") }
        #expect(branch.model.store.values.toArray() != [])
        // Without the key the optimizer starts fresh; a stage checkpoint has no optimizer state to take.
        let fresh = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: branchYAML.replacingOccurrences(of: "\n  init_optimizer: true", with: "")),
                                         options: { var o = RunOptions(); o.runDirectory = temporaryDirectory("run") + "/fresh"; return o }())
        #expect(try fresh.denseOptimizer().stepCount == 0)
        let stage0 = try FileManager.default.contentsOfDirectory(atPath: directory + "/checkpoints").sorted().first!
        let fromStage = branchYAML.replacingOccurrences(of: path, with: directory + "/checkpoints/" + stage0)
        let stageRunner = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: fromStage),
                                               options: { var o = RunOptions(); o.runDirectory = temporaryDirectory("run") + "/stage"; return o }())
        #expect { try stageRunner.denseOptimizer() } throws: { "\($0)".contains("holds no optimizer state") || ($0 as? LocalizedError)?.errorDescription?.contains("holds no optimizer state") == true }
    }

    @Test func wsdKeysAreChecked() throws {
        let constant = plateauYAML().replacingOccurrences(of: "  lr_schedule: { name: wsd, warmup_steps: 8, decay_fraction: 0.25 }\n", with: "")
        #expect(throws: (any Error).self) { try ExperimentSpec.decode(yaml: constant) }
        #expect(throws: (any Error).self) { try ExperimentSpec.decode(yaml: plateauYAML(every: 0)) }
        let orphan = sliceSpecYAML.replacingOccurrences(of: "  hidden_sizes: [32, 16]", with: "  hidden_sizes: [32, 16]\n  init_optimizer: true")
        #expect(throws: (any Error).self) { try ExperimentSpec.decode(yaml: orphan) }
    }

    /// The whole family in one sweep: the plateau run is a point, a branch names it as
    /// `{point:plateau}` and runs after it; wsd_branches.csv shows the branch seeing the
    /// plateau's steps plus its own, and spending only its own.
    @Test func oneSweepRunsThePlateauThenItsBranches() throws {
        let base = sliceSpecYAML.replacingOccurrences(of: "  validation_size: 400", with: "  validation_size: 400\n  train_limit: 2000")
            .replacingOccurrences(of: "    - { sparsity: 0.5, epochs: 1 }\n    - { sparsity: 0.8, epochs: 1 }", with: "    []")
            .replacingOccurrences(of: "  stages:\n    []", with: "  stages: []")
            .replacingOccurrences(of: "  epochs: 2", with: "  epochs: 1")
        let yaml = base + """

            sweep:
              points:
                - { name: branch, model.init_from: "{point:plateau}/plateau/step-000040.bin", model.init_optimizer: true, training.lr_schedule: { name: wsd, warmup_steps: 0, decay_fraction: 1.0 } }
                - { name: plateau, training.epochs: 2, training.plateau_checkpoint_every: 20, training.lr_schedule: { name: wsd, warmup_steps: 8, decay_fraction: 0.25 } }
            """
        let out = temporaryDirectory("sweep") + "/wsd"
        let result = try runTopiary(["sweep", writeSpecFile(yaml, name: "wsd.yaml"), "--jobs", "2", "--out", out])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = try readCSV(out + "/wsd_branches.csv").rows
        let branch = try #require(rows.first { $0["kind"] == "branch" }), planned = try #require(rows.first { $0["kind"] == "planned" })
        #expect(branch["inherited_steps"] == "40" && branch["own_steps"] == "32" && branch["steps_seen"] == "72")
        #expect(planned["inherited_steps"] == "0" && planned["own_steps"] == "64")
        let index = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        #expect(index.contains("WSD branches") && index.contains("wsd_branches.svg"))
        // A reference to no point, or a cycle, is refused before anything runs.
        for (bad, message) in [(yaml.replacingOccurrences(of: "{point:plateau}", with: "{point:nope}"), "names no other point"),
                               (yaml.replacingOccurrences(of: "training.epochs: 2,", with: "training.epochs: 2, model.init_from: \"{point:branch}/x.bin\","), "start from each other"),
                               (yaml.replacingOccurrences(of: "name: plateau,", with: "name: branch,"), "two points are named 'branch'")] {
            let refused = try runTopiary(["sweep", writeSpecFile(bad, name: "bad.yaml"), "--out", temporaryDirectory("sweep") + "/bad"])
            #expect(refused.status != 0 && refused.stderr.contains(message), "\(refused.stderr)")
        }
    }
}
}
