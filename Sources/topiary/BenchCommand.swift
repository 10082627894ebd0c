import ArgumentParser
import Foundation
import TopiaryData
import TopiaryNN
import TopiaryReport
import TopiaryTensor

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Print sgemm GFLOP/s (detected vs generic BLAS core) and W1/W2 dense/masked epoch seconds.")

    @Option(help: "Workloads to time: w1 (LeNet-300-100) and w2 (LeNet-5) epochs, w3 (tiny GPT) steps, comma-separated.")
    var workloads = "w1,w2"

    @Option(parsing: .unconditional, help: "Timed epochs per phase (the median is reported).")
    var epochs = 3

    @Option(parsing: .unconditional, help: "Sparsity of the masked phase.")
    var sparsity = 0.9

    @Option(help: "Folder with the Fashion-MNIST IDX files.")
    var data = FashionMNIST.defaultDirectory

    func validate() throws {
        guard epochs >= 1 else { throw ValidationError("--epochs must be >= 1, got \(epochs).") }
        guard sparsity >= 0, sparsity < 1 else { throw ValidationError("--sparsity must lie in [0, 1), got \(sparsity).") }
        // Before any timing starts: a misspelt workload fails at once, not after W1's epochs.
        if let unknown = workloadList.first(where: { !Self.knownWorkloads.contains($0) }) {
            throw ValidationError("--workloads lists \(Self.knownWorkloads.joined(separator: ", ")), not '\(unknown)'.")
        }
    }

    static let knownWorkloads = ["w1", "w2", "w3"]
    var workloadList: [String] { workloads.split(separator: ",").map(String.init) }

    func run() throws {
        FloatEnvironment.prepareForFloatWork(blasThreads: BLASRuntime.threadCount)
        let env = RunEnvironment.current()
        print("topiary bench — CPU \(env.cpuModel), \(env.logicalCores) cores, FTZ/DAZ \(env.flushToZero ? "on" : "off")")
        print("BLAS: \(env.blasConfiguration), workers spin 2^\(env.blasThreadTimeoutVariable ?? "28 (default)") cycles before sleeping")
        print("")
        print("sgemm GFLOP/s (best of repeated calls)      core        threads  1024³   W1 layer-1 fwd+dW (128x784x300)")
        let detected = (Benchmarks.sgemmGFLOPS(m: 1024, n: 1024, k: 1024), Benchmarks.w1LayerGFLOPS())
        printSgemmRow("detected (" + (env.blasCoreSelectedByTopiary ? "set by topiary" : "as loaded") + ")",
                      env.blasCore, env.blasThreads, detected.0, detected.1)
        if let generic = probeGenericCore() {
            printSgemmRow("generic (OPENBLAS_CORETYPE=Prescott)", generic.core, generic.threads, generic.square, generic.layer)
            print(String(format: "speed-up of the detected core: %.1fx (1024³)", detected.0 / generic.square))
        }
        print("")
        print("Adam step, 90 % masked (best of 500)      1 core µs   2 cores µs")
        for (label, hidden) in [("W1, 266,610 parameters", [300, 100]), ("784-1000-1000-10, 1.8 M", [1000, 1000]),
                                ("784-3000-1000-10, 5.4 M", [3000, 1000])] {
            print(label.padding(toLength: 42, withPad: " ", startingAt: 0)
                  + String(format: "%-12.1f%.1f", Benchmarks.adamStepMicroseconds(parts: 1, hiddenSizes: hidden),
                           Benchmarks.adamStepMicroseconds(parts: 2, hiddenSizes: hidden)))
        }
        print("")
        let progress = progressPrinter(quiet: false)
        for workload in workloadList {
            if workload == "w3" { try printSteps(sgemmGFLOPS: detected.0, progress: progress) } else { try printEpochs(workload, progress: progress) }
        }
    }

    private func printSteps(sgemmGFLOPS: Double, progress: (@Sendable (String) -> Void)?) throws {
        let figures = try Benchmarks.w3Steps(steps: 10 * epochs, progress: progress)
        let (dense, masked) = (median(figures.dense), median(figures.masked))
        print("W3 step (GPT 4×128, 0.84 M parameters, batch 16 × 128 bytes, AdamW, clip 1), median of \(figures.dense.count):")
        print(String(format: "  dense step    %.4f s, best %.4f s   (forward %.4f, backward %.4f, clip + AdamW %.4f)", dense, figures.dense.min()!,
                     figures.forward, figures.backward, figures.update))
        print(String(format: "  masked step   %.4f s, best %.4f s   at sparsity 0.5", masked, figures.masked.min()!))
        print(String(format: "  masked / dense = %.3f (medians)", masked / dense))
        // No FP32 step can beat its matrix products run at the best GEMM rate this machine
        // reaches (1024³ above): a bound to read any speed target against.
        let matrixFLOPs = Double(GPTConfiguration.w3.trainingMatrixFLOPs(batch: 16))
        print(String(format: "  floor: the step's matrix products are %.2f GFLOP; at the 1024³ sgemm rate (%.1f GFLOP/s) they alone take %.4f s;",
                     matrixFLOPs / 1e9, sgemmGFLOPS, matrixFLOPs / 1e9 / sgemmGFLOPS))
        print(String(format: "         the median step runs them at %.1f GFLOP/s overall", matrixFLOPs / 1e9 / dense))
        print("  each layer kind alone at the step's shapes (median of 30; s per step = count × (forward + backward)):")
        var total = 0.0
        for part in try Benchmarks.w3Parts(repetitions: 30) {
            let perStep = Double(part.count) * (part.forward + part.backward)
            if !part.name.hasPrefix("  ") { total += perStep }
            print("    " + part.name.padding(toLength: 30, withPad: " ", startingAt: 0)
                  + String(format: "×%d  forward %.4f  backward %.4f  per step %.4f", part.count, part.forward, part.backward, perStep))
        }
        print(String(format: "    sum of the layers %.4f s of the %.4f s step (the rest: loss, residual adds, embeddings, clip + AdamW, overhead)", total, dense))
    }

    private func printEpochs(_ workload: String, progress: (@Sendable (String) -> Void)?) throws {
        let figures = try Benchmarks.workloadEpochs(workload, dataDirectory: data, epochs: epochs, sparsity: sparsity, progress: progress)
        let dense = median(figures.denseEpochSeconds), masked = median(figures.maskedEpochSeconds)
        let name = workload == "w1" ? "W1 epoch (LeNet-300-100" : "W2 epoch (LeNet-5"
        print("\(name), Adam, batch 128, \(figures.trainRows) rows), median and best of \(epochs):")
        print(String(format: "  dense epoch   %.3f s, best %.3f s   (all: %@)  test acc %.4f", dense, figures.denseEpochSeconds.min()!,
                     figures.denseEpochSeconds.map { String(format: "%.3f", $0) }.joined(separator: ", "), figures.denseTestAccuracy))
        print(String(format: "  masked epoch  %.3f s, best %.3f s   (all: %@)  at sparsity %.4f, test acc %.4f", masked, figures.maskedEpochSeconds.min()!,
                     figures.maskedEpochSeconds.map { String(format: "%.3f", $0) }.joined(separator: ", "),
                     figures.maskedSparsity, figures.maskedTestAccuracy))
        print(String(format: "  masked / dense = %.3f (medians), %.3f (best epochs)", masked / dense,
                     figures.maskedEpochSeconds.min()! / figures.denseEpochSeconds.min()!))
    }

    private func printSgemmRow(_ label: String, _ core: String, _ threads: Int, _ square: Double, _ layer: Double) {
        print(label.padding(toLength: 44, withPad: " ", startingAt: 0)
              + core.padding(toLength: 12, withPad: " ", startingAt: 0)
              + String(threads).padding(toLength: 9, withPad: " ", startingAt: 0)
              + String(format: "%-8.1f%.1f", square, layer))
    }

    /// The core is fixed when OpenBLAS loads, so the generic figure comes from a child process.
    private func probeGenericCore() -> (core: String, threads: Int, square: Double, layer: Double)? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        process.arguments = ["sgemm-probe"]
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_CORETYPE"] = "Prescott"
        environment[RunEnvironment.reexecMarkerVariable] = "1"
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        do { try process.run() } catch { return nil }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let fields = output.split(separator: " ").map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) }
        guard process.terminationStatus == 0, fields.count == 4, let threads = Int(fields[1]),
              let square = Double(fields[2]), let layer = Double(fields[3]) else { return nil }
        return (fields[0], threads, square, layer)
    }
}

/// Hidden helper for `bench`: prints "<core> <threads> <gflops 1024³> <gflops W1 layer>".
struct SgemmProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sgemm-probe", shouldDisplay: false)

    func run() throws {
        FloatEnvironment.prepareForFloatWork(blasThreads: BLASRuntime.threadCount)
        print("\(BLASRuntime.coreName) \(BLASRuntime.threadCount) \(Benchmarks.sgemmGFLOPS(m: 1024, n: 1024, k: 1024)) \(Benchmarks.w1LayerGFLOPS())")
    }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let n = sorted.count
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
}
