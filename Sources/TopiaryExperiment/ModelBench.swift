import Foundation
import TopiaryData
import TopiaryInference
import TopiaryMetrics
import TopiaryNN
import TopiarySparsity
import TopiaryTensor

/// `topiary bench-model RUN_DIR`: re-measures every stage of a finished (or partial) run on
/// this machine from its checkpoints, with every engine, without training anything.
public final class ModelBench {
    public struct Row: Sendable {
        public let label: String
        public let sparsity: Double
        public let measurement: EngineMeasurement
        public let testAccuracy: Double
        public let int8TestAccuracy: Double
    }

    public let runDirectory: String
    public let report: RunReport
    private var loaded: (test: LabeledDataset, model: Sequential)?
    /// Checkpoint path → the stage whose row it ends with (read on first use).
    private var stageOfCheckpoint: [String: Int] = [:]

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

    /// The label a checkpoint file carries ("0003-stage3.bin" → "stage3").
    static func label(ofCheckpoint path: String) -> String {
        let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        return name.split(separator: "-", maxSplits: 1).last.map(String.init) ?? name
    }

    /// The checkpoints named by `labels` ("last" is the last accepted one), in run order;
    /// every checkpoint when `labels` is empty. An unknown label is an error listing the known ones.
    public func checkpointPaths(labels: [String]) throws -> [String] {
        let all = checkpointPaths
        guard !labels.isEmpty else { return all }
        let known = all.map(Self.label(ofCheckpoint:))
        var wanted = Set<String>()
        for label in labels {
            if label == "last", let last = known.last { wanted.insert(last); continue }
            guard known.contains(label) else {
                throw CheckpointError.mismatch(path: runDirectory + "/checkpoints",
                                               detail: "there is no accepted checkpoint '\(label)'; this run has \(known.joined(separator: ", ")) (or say last)")
            }
            wanted.insert(label)
        }
        return all.filter { wanted.contains(Self.label(ofCheckpoint: $0)) }
    }

    public func run(batchSizes: [Int], repetitions: Int, threads: Int, stages: [String] = [], progress: ((String) -> Void)?) throws -> [Row] {
        try checkpointPaths(labels: stages).map { path in
            try measure(checkpointAt: path, batchSizes: batchSizes, repetitions: repetitions, threads: threads, progress: progress)
        }
    }

    /// The run's test set and a model of its architecture, loaded once.
    private func testSetAndModel() throws -> (test: LabeledDataset, model: Sequential) {
        if let loaded { return loaded }
        let test = try ExperimentRunner.loadData(report.spec).test
        let loaded = (test, ExperimentRunner.makeModel(report.spec, for: test))
        self.loaded = loaded
        return loaded
    }

    /// One checkpoint's weights and masks timed with every engine; `accuracy: false` skips
    /// the two passes over the test set.
    public func measure(checkpointAt path: String, batchSizes: [Int], repetitions: Int, threads: Int,
                        accuracy: Bool = true, progress: ((String) -> Void)? = nil) throws -> Row {
        FloatEnvironment.prepareForFloatWork(blasThreads: threads)
        let (test, model) = try testSetAndModel()
        // Read again each time rather than kept: a large model's checkpoints do not all fit in memory.
        let checkpoint = try Checkpoint.read(from: path)
        guard let values = checkpoint.tensors["values"], let masks = checkpoint.tensors["masks"],
              values.shape == model.store.values.shape else {
            throw CheckpointError.mismatch(path: path, detail: "its tensors do not fit the run's model")
        }
        let label = checkpoint.header.label
        model.store.values.assign(from: values)
        model.store.masks.assign(from: masks)
        let sparsity = SparsityAccounting(model.weightParameters).sparsity
        progress?("\(label): sparsity \(String(format: "%.5f", sparsity))")
        let measurement = EngineMeasurement.measure(model, inputs: test.features.rowSlice(0, count: min(test.count, batchSizes.max()!)),
                                                    batchSizes: batchSizes, repetitions: repetitions, warmup: 20, threads: threads,
                                                    nOfM: report.spec.pruning.nOfM.map { ($0[0], $0[1]) })
        return Row(label: label, sparsity: sparsity, measurement: measurement,
                   testAccuracy: accuracy ? Evaluation.measure(measurement.prepared["dense"]!, on: test).accuracy : .nan,
                   int8TestAccuracy: accuracy ? Evaluation.measure(measurement.prepared["int8"]!, on: test).accuracy : .nan)
    }

    /// The accepted checkpoint written right after stage `stage` was measured (the last
    /// row it carries is that stage), or nil when the run kept none.
    public func checkpointPath(afterStage stage: Int) throws -> String? {
        if stageOfCheckpoint.isEmpty {
            for path in checkpointPaths {
                if let last = try Checkpoint.readHeader(from: path).progress.rows.last { stageOfCheckpoint[path] = last.stage }
            }
        }
        return checkpointPaths.last { stageOfCheckpoint[$0] == stage }
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
