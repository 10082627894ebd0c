import Foundation
import Testing
@testable import TopiaryFormats
@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySpec

/// `federated:` in a spec: checked at decode; a run trains by rounds, prunes on the server
/// between phases, writes a rounds.csv row per round, and keeps every stage at its target.
extension AllTests {
@Suite struct FederatedRunTests {
    static func yaml(_ federated: String) -> String {
        LanguageModelTests.yaml().replacingOccurrences(of: "generation_tokens: 24", with: "generation_tokens: 0") + "\nfederated: \(federated)\n"
    }

    func problem(_ yaml: String) -> SpecError? {
        do { _ = try ExperimentSpec.decode(yaml: yaml); return nil } catch { return error as? SpecError }
    }

    @Test func federatedSpecsAreCheckedWithAFix() {
        #expect(problem(Self.yaml("{ clients: 3, rounds: 2, local_steps: 2 }")) == nil)
        #expect(problem(Self.yaml("{ clients: 3, rounds: 2, local_steps: 2, partition: dirichlet }"))?.keyPath == "federated.alpha")
        #expect(problem(Self.yaml("{ clients: 3, rounds: 2, local_steps: 2, aggregation: fedprox }"))?.keyPath == "federated.mu")
        #expect(problem(Self.yaml("{ clients: 3, rounds: 2, local_steps: 2, aggregation: trimmed_mean, beta: 0.5 }"))?.keyPath == "federated.beta")
        #expect(problem(Self.yaml("{ clients: 3, rounds: 2, local_steps: 2, beta: 0.1 }"))?.keyPath == "federated.beta")
        #expect(problem(Self.yaml("{ clients: 3, rounds: 2, local_steps: 2, clients_per_round: 4 }"))?.keyPath == "federated.clients_per_round")
        #expect(problem(Self.yaml("{ clients: 3, rounds: 2, local_steps: 2, encoding: zip }"))?.keyPath == "federated.encoding")
        #expect(problem(Self.yaml("{ clients: 3, rounds: 2, local_steps: 2, poisoned_clients: 3 }"))?.keyPath == "federated.poisoned_clients")
        #expect(problem(Self.yaml("{ clients: 3, rounds: 2, local_steps: 2, dropout: 1 }"))?.keyPath == "federated.dropout")
        #expect(problem(Self.yaml("{ clients: 3, rounds: 2, local_steps: 2 }") + "adapters: { kind: lora, rank: 2 }\n") == nil)
        #expect(problem(Self.yaml("{ clients: 3, rounds: 2, local_steps: 2 }").replacingOccurrences(of: "scorer: magnitude", with: "scorer: movement"))?.keyPath == "pruning.scorer")
        #expect(problem(Self.yaml("{ clients: 3, rounds: 2, local_steps: 2, attack_scale: 1e300 }"))?.keyPath == "federated.attack_scale")
        #expect(problem(Self.yaml("{ clients: 3, rounds: 2, local_steps: 2, client_evaluation_rows: -1 }"))?.keyPath == "federated.client_evaluation_rows")
    }

    /// With adapters, the pruning stage's clients train LoRA on the frozen pruned base: only
    /// the adapters travel, the stage keeps its exact sparsity, and the adapters are merged
    /// through the masks and saved at the stage's end.
    @Test func clientsTrainAdaptersOnTheSparseBase() throws {
        let folder = temporaryDirectory("federated-lora")
        var options = RunOptions()
        options.runDirectory = folder + "/run"
        let yaml = Self.yaml("{ clients: 3, rounds: 2, local_steps: 2, aggregation: median }") + "adapters: { kind: lora, rank: 2, alpha: 4 }\n"
        let report = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: yaml), options: options).run()
        let stage = report.stages[1], training = try #require(report.stages[1].training)
        #expect(abs(stage.sparsity - 0.5) < 1e-3 && training.adapters?.rank == 2 && training.trainableParameters == 512)
        // Stage 1's updates: A and B of 4 matrices (512 floats) from each of 3 clients.
        #expect(report.rounds.filter { $0.stage == 1 }.allSatisfy { $0.record.bytesUp == 3 * 4 * 512 })
        #expect(report.rounds[2].record.bytesDown > report.rounds[3].record.bytesDown)
        #expect(try PEFTAdapterFolder.read(folder: folder + "/run/adapters/stage1").factors.count == 4)
        #expect(stage.metrics["val_loss"]! < report.stages[0].metrics["val_loss"]! + 1)
    }

    @Test func aRunTrainsByRoundsAndPrunesBetweenThem() throws {
        let folder = temporaryDirectory("federated-run")
        var options = RunOptions()
        options.runDirectory = folder + "/run"
        let report = try ExperimentRunner(spec: try ExperimentSpec.decode(yaml: Self.yaml("{ clients: 3, rounds: 2, local_steps: 2, poisoned_clients: 1 }")),
                                          options: options).run()
        #expect(report.rounds.map(\.stage) == [0, 0, 1, 1] && report.rounds.map(\.record.round) == [1, 2, 1, 2])
        #expect(report.rounds.allSatisfy { $0.record.participants == [0, 1, 2] && $0.record.poisoned == [0] && $0.record.metrics["loss"]?.isFinite == true })
        // After pruning, updates carry only the surviving half; the first broadcast after it carries the mask.
        let pruned = report.stages[1].prunableWeights - report.stages[1].nonzeros
        #expect(report.rounds[1].record.bytesUp - report.rounds[2].record.bytesUp == 3 * 4 * pruned)
        #expect(report.rounds[2].record.bytesDown > report.rounds[3].record.bytesDown)
        #expect(abs(report.stages[1].sparsity - 0.5) < 1e-3 && report.rounds[3].sparsity == report.stages[1].sparsity)
        let (header, rows) = try readCSV(folder + "/run/rounds.csv")
        #expect(header.contains("bytes_up") && header.contains("client_loss_median") && rows.count == 4)
        let written = try RunReport.read(from: folder + "/run")
        #expect(written.rounds == report.rounds)
    }

    /// A run cut back to a checkpoint between rounds — in stage 0's rounds, and in stage 1's
    /// after the server pruned — resumes to the uninterrupted run's rounds and stages: with
    /// clients training the weights, masked LoRA folded into them, or plain LoRA with dropout
    /// beside them (the checkpoint holds the base, A and B, and the dropout draws); with two
    /// of three clients a round, so who still awaits the mask is part of the state. Only the
    /// newest checkpoint between rounds is kept on disk, so the cut states are copies of the
    /// checkpoints folder taken while the run went (at the progress line of the next round).
    @Test(arguments: ["", "adapters: { kind: lora, rank: 2, alpha: 4 }\n",
                      "adapters: { kind: lora, rank: 2, alpha: 4, dropout: 0.2, merge: unmasked }\n"])
    func aRunResumedBetweenRoundsMatchesTheUninterruptedOne(adapters: String) throws {
        let spec = try ExperimentSpec.decode(yaml: Self.yaml("{ clients: 3, clients_per_round: 2, rounds: 3, local_steps: 2, dropout: 0.3, straggler_fraction: 0.5 }") + adapters)
        let folder = temporaryDirectory("federated-resume")
        // A round's progress line → the cut copied then: after round 1 of stage 0, after
        // stage 0 itself, after round 1 of stage 1.
        let cuts = ["stage 0 round 2/3": "after-stage0-round1", "stage 1 round 1/3": "after-stage0", "stage 1 round 2/3": "after-stage1-round1"]
        var options = RunOptions()
        options.runDirectory = folder + "/complete"
        options.progress = { line in
            guard let cut = cuts.first(where: { line.hasPrefix($0.key + ":") })?.value else { return }
            try? FileManager.default.createDirectory(atPath: folder + "/" + cut, withIntermediateDirectories: true)
            try? FileManager.default.copyItem(atPath: folder + "/complete/checkpoints", toPath: folder + "/" + cut + "/checkpoints")
        }
        let complete = try ExperimentRunner(spec: spec, options: options).run()
        let names = ExperimentRunner.checkpointNames(in: folder + "/complete/checkpoints")
        #expect(names == ["0002-stage0.bin", "0005-stage1.bin"], "every checkpoint between rounds superseded: \(names)")
        for (cut, stages, newest) in [("after-stage0-round1", 0, "0000-stage0-round1-partial.bin"), ("after-stage0", 1, "0002-stage0.bin"),
                                      ("after-stage1-round1", 1, "0003-stage1-round1-partial.bin")] {
            let cut = folder + "/" + cut
            #expect(ExperimentRunner.checkpointNames(in: cut + "/checkpoints").last == newest)
            var report = complete
            report.status = .running
            report.stages = Array(report.stages.prefix(stages))
            try report.write(to: cut)
            var resume = RunOptions()
            resume.resumeDirectory = cut
            let resumed = try ExperimentRunner(spec: spec, options: resume).run()
            #expect(resumed.status == .complete && resumed.rounds.count == 6)
            let counted = { (rows: [FederatedRoundRow]) in
                rows.map { [$0.stage, $0.record.round] + $0.record.participants + $0.record.stragglers + [$0.record.bytesUp, $0.record.bytesDown] }
            }
            #expect(counted(resumed.rounds) == counted(complete.rounds), "\(cut)")
            #expect(resumed.rounds.map(\.record.metrics) == complete.rounds.map(\.record.metrics), "\(cut)")
            #expect(try nonTimingColumns(cut + "/stages.csv") == nonTimingColumns(folder + "/complete/stages.csv"))
        }
    }
}
}
