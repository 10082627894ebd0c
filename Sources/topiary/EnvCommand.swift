import ArgumentParser
import Foundation
import TopiaryNN
import TopiaryReport
import TopiaryTensor

struct EnvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "env", abstract: "Print the environment record every report carries (BLAS core, threads, FTZ, CPU).")

    func run() throws {
        FloatEnvironment.prepareForFloatWork(blasThreads: BLASRuntime.threadCount)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(RunEnvironment.current()), as: UTF8.self))
    }
}

struct ColumnsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "columns", abstract: "Print the report columns (stages.csv, layers.csv, scores.csv) as Markdown tables.",
        discussion: "The metric columns (test_*, val_*, int8_test_*) are the task's: --task regression prints its own.")

    @Option(help: "The task whose metric columns to print: \(TaskKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var task: TaskKind = .classification

    @Flag(help: "Include the columns a spec's device: block adds (the C export checked on a microcontroller).")
    var device = false

    func run() throws {
        print("### stages.csv\n")
        print(ReportColumns.markdown(ReportColumns.stages(latencyBatchSizes: [1, 1000], task: TaskRecord(task.make()), device: device)))
        print("### layers.csv\n")
        print(ReportColumns.markdown(ReportColumns.layers(latencyBatchSizes: [1, 1000])))
        print("### scores.csv (with pruning.compare_scorers)\n")
        print(ReportColumns.markdown(ReportColumns.scores))
    }
}

extension TaskKind: ExpressibleByArgument {}
