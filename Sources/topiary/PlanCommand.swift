import ArgumentParser
import Foundation
import TopiaryData
import TopiaryRun
import TopiarySpec

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Print the planned target sparsity per stage (or per mask update) and the optimizer steps it implies.")

    @Argument(help: "The experiment spec (YAML).")
    var spec: String

    @Flag(help: "Plan the --quick variant.")
    var quick = false

    func run() throws {
        do {
            var experiment = try ExperimentSpec.load(path: spec)
            if quick { experiment = experiment.quickVariant }
            let resolved = experiment.resolved
            // Fashion-MNIST's count comes from its small labels file; other data is read.
            let trainRows: Int
            if case .fashionMNIST(let directory) = resolved.source {
                trainRows = try resolved.data.trainingRows(available: FashionMNIST.trainingRowCount(directory: directory))
            } else {
                trainRows = try DataLoading.load(resolved).train.count
            }
            print(PhasePlan(spec: resolved, trainRows: trainRows).description)
        } catch {
            throw fail(error)
        }
    }
}
