import ArgumentParser
import Foundation
import TopiaryReport
import TopiaryRun
import TopiarySpec
import TopiaryStudy

struct SensitivityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sensitivity",
        abstract: "Prune one layer at a time over a range of sparsities (no retraining) and record accuracy.")

    @Argument(help: "The experiment spec (its training section and scorer are used).")
    var spec: String

    @Option(help: "Sparsities to try, comma-separated (default 0.1 … 0.9, 0.95, 0.98).")
    var grid: String?

    @Option(parsing: .unconditional, help: "Also derive per-layer targets that reach this global sparsity.")
    var globalSparsity: Double?

    @Option(help: "Write sensitivity.csv and sensitivity.json here (default notebooks-out/<experiment>-sensitivity/<time>).")
    var out: String?

    @OptionGroup var flags: TrainingFlags

    func run() throws {
        do {
            let sparsities = try grid.map { text in
                try text.split(separator: ",").map { item -> Double in
                    guard let value = Double(item.trimmingCharacters(in: .whitespaces)), value >= 0, value < 1 else {
                        throw ValidationError("--grid takes sparsities in [0, 1), comma-separated; got '\(item)'.")
                    }
                    return value
                }
            } ?? SensitivityAnalysis.defaultGrid
            if let globalSparsity, !(globalSparsity > 0 && globalSparsity < 1) {
                throw ValidationError("--global-sparsity must lie in (0, 1), got \(globalSparsity).")
            }
            let experiment = try ExperimentSpec.load(path: spec)
            let result = try SensitivityAnalysis.run(spec: experiment, grid: sparsities, options: flags.runOptions(specFile: spec))
            let directory = out ?? "notebooks-out/\(experiment.name)-sensitivity/\(Int(Date().timeIntervalSince1970))"
            try OutputLocation.check(directory, option: "--out")
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try AtomicFile.write(SensitivityAnalysis.csv(result), to: directory + "/sensitivity.csv")
            try AtomicFile.writeJSON(result, to: directory + "/sensitivity.json")
            print(String(format: "dense: validation %@ %.4f, test %.4f", result.metric.name, result.denseValidation, result.denseTest))
            print("layer  " + sparsities.sorted().map { String(format: "%6.2f", $0) }.joined(separator: " ") + "   (validation accuracy)")
            for layer in result.layerSizes.keys.sorted() {
                let row = result.points.filter { $0.layer == layer }.sorted { $0.sparsity < $1.sparsity }
                print(layer.padding(toLength: 7, withPad: " ", startingAt: 0) + row.map { String(format: "%6.4f", $0.validation) }.joined(separator: " "))
            }
            if let globalSparsity {
                if let targets = SensitivityAnalysis.targets(result, globalSparsity: globalSparsity) {
                    print("per-layer targets for global sparsity \(globalSparsity): "
                          + targets.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
                } else {
                    print("the grid cannot reach global sparsity \(globalSparsity); add higher sparsities to --grid.")
                }
            }
            print("written: \(directory)/sensitivity.csv, sensitivity.json")
        } catch let error as ValidationError {
            throw error
        } catch {
            throw fail(error)
        }
    }
}
