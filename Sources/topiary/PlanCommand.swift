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
            let trainRows = try FashionMNIST.trainingRowCount(directory: resolved.data.path!) - resolved.data.validationSize
            print(PhasePlan(spec: resolved, trainRows: min(trainRows, resolved.data.trainLimit ?? .max)).description)
        } catch {
            throw fail(error)
        }
    }
}
