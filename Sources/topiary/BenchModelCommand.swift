import ArgumentParser
import Foundation
import TopiaryMetrics
import TopiaryReport
import TopiaryStudy
import TopiaryTensor

struct BenchModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-model",
        abstract: "Re-measure every stage of a run on this machine with every inference engine (from its checkpoints).")

    @Argument(help: "A run folder (with report.json and checkpoints/).")
    var runDirectory: String

    @OptionGroup var latency: LatencyFlags

    @Option(help: "Checkpoints to measure, comma-separated labels as in checkpoints/ (e.g. stage3,epoch10) or 'last'. Default: every accepted one.")
    var stages = ""

    func run() throws {
        do {
            let batches = try latency.batches(default: [1, 1000])
            let bench = try ModelBench(runDirectory: runDirectory)
            let threads = latency.threads
            let labels = stages.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let rows = try bench.run(batchSizes: batches, repetitions: latency.repetitions ?? 300, threads: threads, stages: labels,
                                     progress: progressPrinter(quiet: false))
            print("bench-model \(runDirectory) — \(RunEnvironment.current().cpuModel), BLAS \(BLASRuntime.coreName), \(threads) thread(s)")
            for batch in batches {
                print("\nbatch \(batch): whole-model median µs (speed-up vs dense)")
                var engines: [String] = []  // every engine measured at any stage, in measurement order
                for row in rows {
                    for whole in row.measurement.whole where whole.batchSize == batch && !engines.contains(whole.engine) {
                        engines.append(whole.engine)
                    }
                }
                print("stage         sparsity  " + engines.map { $0.padding(toLength: 16, withPad: " ", startingAt: 0) }.joined() + "best")
                for row in rows {
                    let dense = row.measurement.latency(engine: "dense", batch: batch)!.medianMicroseconds
                    var line = row.label.padding(toLength: 14, withPad: " ", startingAt: 0) + String(format: "%-10.5f", row.sparsity)
                    for engine in engines {
                        let cell = row.measurement.latency(engine: engine, batch: batch).map {
                            String(format: "%.1f (%.2fx)", $0.medianMicroseconds, dense / $0.medianMicroseconds)
                        } ?? "-"
                        line += cell.padding(toLength: 16, withPad: " ", startingAt: 0)
                    }
                    print(line + (row.measurement.bestEngine(batch: batch) ?? ""))
                }
            }
            print("\nbytes per format, test accuracy float / int8")
            for row in rows {
                let bytes = row.measurement.bytes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                print(row.label.padding(toLength: 14, withPad: " ", startingAt: 0) + bytes
                      + String(format: "   test %.4f / int8 %.4f", row.testMetric, row.int8TestMetric))
            }
            let path = runDirectory + "/bench-model-\(ProcessInfo.processInfo.hostName)-\(Int(Date().timeIntervalSince1970)).csv"
            try AtomicFile.write(ModelBench.csv(rows), to: path)
            print("\nwritten: \(path)")
        } catch let error as ValidationError {
            throw error
        } catch {
            throw fail(error)
        }
    }
}
