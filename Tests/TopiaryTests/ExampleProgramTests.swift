import Foundation
import Testing
import TopiaryReport

extension AllTests {
/// The scripting example (Examples/CustomScorerStudy) is a program as a user writes one,
/// against the public API only: build it (SwiftPM builds it beside the test bundle), run it,
/// read what it wrote.
@Suite struct ExampleProgramTests {
    var executable: String {
        URL(fileURLWithPath: topiaryExecutable).deletingLastPathComponent().appendingPathComponent("custom-scorer-study").path
    }

    @Test func customScorerStudyRunsTheStagedPipeline() throws {
        let out = temporaryDirectory("example") + "/lamp"
        let result = try ChildProcess.run(executable, ["--epochs", "2", "--out", out], timeout: 600)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        // Read by a process that never registered the study's scorer or model.
        let report = try RunReport.read(from: out)
        #expect(report.status == .complete)
        // The program chose OpenBLAS's kernels for this CPU, as `topiary` does.
        #expect(report.environment.blasCoreMatchesCPU == true, "\(report.environment.blasCore)")
        #expect(report.spec.pruning.scorer == "lamp" && report.spec.model.architecture == "normalised-gelu")
        // The registered model: three Linear layers are prunable, the LayerNorm gain is not.
        #expect(report.stages.first?.layers.map(\.layer) == ["fc1", "fc2", "fc3"])
        #expect(report.stages.map(\.targetSparsity) == [0, 0.5, 0.75, 0.9])
        for stage in report.stages.dropFirst() {
            #expect(abs(stage.sparsity - stage.targetSparsity) < 1e-3, "stage \(stage.stage): \(stage.sparsity)")
            #expect(stage.scoreAgreement.map(\.scorerB) == ["magnitude", "magnitude", "magnitude"])
            // LAMP is a monotone transform of magnitude within a layer.
            #expect(stage.scoreAgreement.allSatisfy { $0.spearman > 0.999 }, "\(stage.scoreAgreement)")
        }
        // LAMP normalises per layer, so global selection spreads sparsity unevenly over layers
        // (per-layer sparsities differ).
        let last = try #require(report.stages.last)
        #expect(Set(last.layers.map { ($0.sparsity * 100).rounded() }).count > 1)
        #expect((report.stages.first?.metric("test", "accuracy") ?? 0) > 0.8)
        #expect(result.stdout.contains("layer sparsity (spearman vs magnitude)") && result.stdout.contains("report.json"))
        #expect(FileManager.default.fileExists(atPath: out + "/stages.csv"))
    }

    @Test func customScorerStudyRefusesBadArgumentsAndWritesNothing() throws {
        let out = temporaryDirectory("example") + "/bad"
        let result = try ChildProcess.run(executable, ["--epochs", "zero", "--out", out], timeout: 60)
        #expect(result.status != 0 && result.stderr.contains("--epochs must be a whole number"))
        let missing = try ChildProcess.run(executable, ["--data", "/nonexistent/digits.csv", "--out", out], timeout: 60)
        #expect(missing.status != 0 && missing.stderr.contains("/nonexistent/digits.csv"), "stderr: \(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}
}
