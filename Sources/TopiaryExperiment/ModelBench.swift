import Foundation
import TopiaryData
import TopiaryInference
import TopiaryMetrics
import TopiaryNN
import TopiarySparsity
import TopiaryTensor

/// `topiary bench-model RUN_DIR`: re-measures every stage of a finished (or partial) run on
/// this machine from its checkpoints, with every engine, without training anything.
public struct ModelBench {
    public struct Row: Sendable {
        public let label: String
        public let sparsity: Double
        public let measurement: EngineMeasurement
        public let testAccuracy: Double
        public let int8TestAccuracy: Double
    }

    public let runDirectory: String
    public let report: RunReport

    public init(runDirectory: String) throws {
        self.runDirectory = runDirectory
        do { report = try RunReport.read(from: runDirectory) } catch {
            throw CheckpointError.nothingToResume(directory: runDirectory)
        }
    }

    /// Accepted checkpoints in order (stage 0 first).
    public var checkpointPaths: [String] {
        let directory = runDirectory + "/checkpoints"
        return ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".bin") && !$0.contains("rejected") }.sorted().map { directory + "/" + $0 }
    }

    public func run(batchSizes: [Int], repetitions: Int, threads: Int, progress: ((String) -> Void)?) throws -> [Row] {
        let spec = report.spec
        FloatEnvironment.prepareForFloatWork(blasThreads: threads)
        let test = try ExperimentRunner.loadData(spec).test
        let model = ExperimentRunner.makeModel(spec, for: test)
        var rows: [Row] = []
        for path in checkpointPaths {
            let checkpoint = try Checkpoint.read(from: path)
            guard let values = checkpoint.tensors["values"], let masks = checkpoint.tensors["masks"],
                  values.shape == model.store.values.shape else {
                throw CheckpointError.mismatch(path: path, detail: "its tensors do not fit the run's model")
            }
            model.store.values.assign(from: values)
            model.store.masks.assign(from: masks)
            let sparsity = SparsityAccounting(model.weightParameters).sparsity
            progress?("\(checkpoint.header.label): sparsity \(String(format: "%.5f", sparsity))")
            let measurement = EngineMeasurement.measure(model, inputs: test.features.rowSlice(0, count: min(test.count, batchSizes.max()!)),
                                                        batchSizes: batchSizes, repetitions: repetitions, warmup: 20, threads: threads,
                                                        nOfM: spec.pruning.nOfM.map { ($0[0], $0[1]) })
            rows.append(Row(label: checkpoint.header.label, sparsity: sparsity, measurement: measurement,
                            testAccuracy: Evaluation.measure(measurement.prepared["dense"]!, on: test).accuracy,
                            int8TestAccuracy: Evaluation.measure(measurement.prepared["int8"]!, on: test).accuracy))
        }
        return rows
    }

    /// CSV: one row per stage × batch size × engine.
    public static func csv(_ rows: [Row]) -> String {
        var text = "stage,sparsity,batch,engine,median_us,p95_us,min_us,bytes,speedup_vs_dense,test_accuracy,int8_test_accuracy\n"
        for row in rows {
            for whole in row.measurement.whole {
                let dense = row.measurement.latency(engine: "dense", batch: whole.batchSize)!.medianMicroseconds
                text += "\(row.label),\(row.sparsity),\(whole.batchSize),\(whole.engine),\(whole.statistics.medianMicroseconds),"
                text += "\(whole.statistics.p95Microseconds),\(whole.statistics.minMicroseconds),"
                text += "\(row.measurement.bytes[whole.engine].map(String.init) ?? ""),\(dense / whole.statistics.medianMicroseconds),"
                text += "\(row.testAccuracy),\(row.int8TestAccuracy)\n"
            }
        }
        return text
    }
}
