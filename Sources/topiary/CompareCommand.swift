import ArgumentParser
import Foundation
import TopiaryExperiment

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two runs stage by stage; with thresholds, exit 1 when B regresses (2: bad input).")

    @Argument(help: "The baseline run folder (A).")
    var a: String

    @Argument(help: "The candidate run folder (B).")
    var b: String

    @Option(help: "Largest tolerated drop of test accuracy, in points (0.5 = half a point).")
    var maxAccuracyDrop: Double?

    @Option(help: "Largest tolerated relative latency increase (0.1 = 10 %).")
    var maxLatencyIncrease: Double?

    @Option(help: "Write compare.csv and compare.json here (default: B's run folder).")
    var out: String?

    func run() throws {
        let comparison: RunComparison
        do {
            if let maxAccuracyDrop, maxAccuracyDrop < 0 { throw ValidationError("--max-accuracy-drop must be >= 0, got \(maxAccuracyDrop).") }
            if let maxLatencyIncrease, maxLatencyIncrease < 0 { throw ValidationError("--max-latency-increase must be >= 0, got \(maxLatencyIncrease).") }
            let reportA = try readReport(a), reportB = try readReport(b)
            comparison = try RunComparison(reportA, reportB, thresholds: .init(maxAccuracyDropPoints: maxAccuracyDrop,
                                                                             maxLatencyIncrease: maxLatencyIncrease))
            let directory = out ?? b
            try AtomicFile.write(comparison.csv, to: directory + "/compare.csv")
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let file = ComparisonFile(a: a, b: b, regressed: comparison.regressed, rows: comparison.rows)
            try AtomicFile.write(try encoder.encode(file), to: directory + "/compare.json")
        } catch {
            _ = fail(error)
            throw ExitCode(2)
        }
        print("A: \(a)\nB: \(b)\n")
        print(comparison.markdown)
        print(comparison.regressed ? "B regresses against A." : "B is within the thresholds.")
        if comparison.regressed { throw ExitCode(1) }
    }

    private func readReport(_ directory: String) throws -> RunReport {
        do { return try RunReport.read(from: directory) } catch {
            throw ValidationError("\(directory) holds no readable report.json of a Topiary run.")
        }
    }
}

struct ComparisonFile: Encodable {
    let a: String
    let b: String
    let regressed: Bool
    let rows: [RunComparison.Row]
}
