import Foundation
import TopiaryData
import TopiaryInference
import TopiaryMetrics
import TopiaryNN
import TopiaryReport
import TopiaryRun
import TopiarySparsity
import TopiaryTensor

/// `topiary bench-model RUN_DIR`: re-measures every stage of a finished (or partial) run on
/// this machine from its checkpoints, with every engine, without training anything.
public final class ModelBench {
    public struct Row: Sendable {
        public let label: String
        public let sparsity: Double
        public let measurement: EngineMeasurement
        /// The task's deciding metric on the test set, float and int8 (NaN when not measured).
        public let testMetric: Double
        public let int8TestMetric: Double
    }

    public let runDirectory: String
    public let report: RunReport
    private var loaded: (test: Dataset, model: any Model, task: any Task)?
    /// Checkpoint path → the stage whose row it ends with (read on first use).
    private var stageOfCheckpoint: [String: Int] = [:]

    public init(runDirectory: String) throws {
        self.runDirectory = runDirectory
        do { report = try RunReport.read(from: runDirectory) } catch {
            throw CheckpointError.notARunFolder(directory: runDirectory)
        }
    }

    /// Accepted checkpoints in order (stage 0 first); not rejected attempts nor a federated
    /// phase's checkpoints between rounds.
    public var checkpointPaths: [String] {
        let directory = runDirectory + "/checkpoints"
        return ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".bin") && ExperimentRunner.isKeptStage($0) }.sorted().map { directory + "/" + $0 }
    }

    /// The label a checkpoint file carries ("0003-stage3.bin" → "stage3").
    public static func label(ofCheckpoint path: String) -> String {
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

    /// The run's test set, a model of its architecture and its task, loaded once, as the run did.
    private func testSetAndModel() throws -> (test: Dataset, model: any Model, task: any Task) {
        if let loaded { return loaded }
        let spec = report.spec.resolved
        let task = spec.task.make()
        let built = try ExperimentRunner.makeModel(spec, task: task, data: try DataLoading.load(spec))
        let loaded = (built.data.test, built.model, task)
        self.loaded = loaded
        return loaded
    }

    /// The run's test set and task, loaded as the run loaded them.
    public func testSetAndTask() throws -> (test: Dataset, task: any Task) {
        let loaded = try testSetAndModel()
        return (loaded.test, loaded.task)
    }

    /// One checkpoint's weights and masks timed with every engine; `accuracy: false` skips
    /// the two passes over the test set.
    public func measure(checkpointAt path: String, batchSizes: [Int], repetitions: Int, threads: Int,
                        accuracy: Bool = true, progress: ((String) -> Void)? = nil) throws -> Row {
        FloatEnvironment.prepareForFloatWork(blasThreads: threads)
        let (test, model, task) = try testSetAndModel()
        // Read again each time rather than kept: a large model's checkpoints do not all fit in memory.
        let checkpoint = try Checkpoint.read(from: path)
        try CheckpointLayout.restoreParameters(model.store, from: checkpoint.tensors, path: path)
        let label = checkpoint.header.label
        let excluded = Set(report.spec.pruning.excludeLayers)
        let sparsity = SparsityAccounting(model.prunableMatrices.filter { !excluded.contains($0.layerName) }).sparsity
        progress?("\(label): sparsity \(String(format: "%.5f", sparsity))")
        let measurement = EngineMeasurement.measure(model, inputs: test.inputs.rowSlice(0, count: min(test.count, batchSizes.max()!)),
                                                    batchSizes: batchSizes, repetitions: repetitions, warmup: 20, threads: threads,
                                                    nOfM: report.spec.pruning.nOfM.map { ($0[0], $0[1]) })
        let name = task.decidingMetric.name
        func metric(_ engine: String) -> Double {
            guard accuracy, let prepared = measurement.prepared[engine] else { return .nan }
            return Evaluation.measure(prepared, task: task, on: test)[name]!
        }
        return Row(label: label, sparsity: sparsity, measurement: measurement, testMetric: metric("dense"), int8TestMetric: metric("int8"))
    }

    /// One checkpoint's model prepared for inference with `engine`; nil when the engine
    /// cannot serve it (nm without N:M masks). `auto` is not an engine here: name one.
    public func inferenceModel(checkpointAt path: String, engine: InferenceEngine, threads: Int) throws -> InferenceModel? {
        FloatEnvironment.prepareForFloatWork(blasThreads: threads)
        return InferenceModel.build(try model(checkpointAt: path), engine: engine, threads: threads,
                                    nOfM: report.spec.pruning.nOfM.map { ($0[0], $0[1]) })
    }

    /// How the run's model maps text to tokens (bytes, or the BPE of the GGUF it started from).
    public func tokenCodec() throws -> TokenCodec { try TextTokens.codec(for: report.spec.resolved) }

    /// One checkpoint's model as an inference program (BatchNorm folded, ReLU fused), for
    /// exports; nil when the model has no inference plan.
    public func inferenceProgram(checkpointAt path: String) throws -> InferenceProgram? {
        InferenceProgram(try model(checkpointAt: path))
    }

    /// One checkpoint's parameters as named tensors (PyTorch's names; with `masks`, each
    /// mask that prunes anything as `<name>_mask`, as torch.nn.utils.prune names it).
    public func parameterTensors(checkpointAt path: String, masks: Bool) throws -> [(name: String, tensor: Tensor)] {
        CheckpointLayout.parameterTensors(try model(checkpointAt: path).store)
            .filter { masks || !$0.0.hasSuffix(CheckpointLayout.maskSuffix) }
            .map { (name: $0.0, tensor: $0.1) }
    }

    /// A model of the run's architecture holding one checkpoint's weights and masks. A GPT is
    /// built from its spec alone (its shape is there), without reading any text.
    private func model(checkpointAt path: String) throws -> any Model {
        let model: any Model
        let modelSpec = report.spec.resolved.model
        if let configuration = modelSpec.gptConfiguration, loaded == nil {
            var generator = SeededGenerator(seed: 0, stream: "init")
            model = try ModelFactory.make(modelSpec, dataShape: [configuration.context], outputs: configuration.vocabulary,
                                          generator: &generator)
        } else if modelSpec.isLlama, let context = modelSpec.blockSize, loaded == nil {
            // Shape from the GGUF the run started from; the weights from the checkpoint below.
            var generator = SeededGenerator(seed: 0, stream: "init")
            model = try ModelFactory.make(modelSpec, dataShape: [context], outputs: 0, generator: &generator)
        } else {
            model = try testSetAndModel().model
        }
        let checkpoint = try Checkpoint.read(from: path)
        try CheckpointLayout.restoreParameters(model.store, from: checkpoint.tensors, path: path)
        return model
    }

    /// The checkpoint `stage` names: a stage number (0 = dense; the checkpoint written after
    /// that stage), a label as in checkpoints/ (e.g. stage2), or last.
    public func checkpointPath(stage: String) throws -> String {
        if let number = Int(stage) {
            guard let found = try checkpointPath(afterStage: number) else {
                throw CheckpointError.mismatch(path: runDirectory + "/checkpoints",
                                               detail: "there is no accepted checkpoint after stage \(number); see the checkpoints/ folder, or say --stage last")
            }
            return found
        }
        return try checkpointPaths(labels: [stage])[0]
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
        var text = "stage,sparsity,batch,engine,median_us,p95_us,min_us,bytes,speedup_vs_dense,test_metric,int8_test_metric\n"
        for row in rows {
            for whole in row.measurement.whole {
                let dense = row.measurement.latency(engine: "dense", batch: whole.batchSize)!.medianMicroseconds
                text += "\(row.label),\(row.sparsity),\(whole.batchSize),\(whole.engine),\(whole.statistics.medianMicroseconds),"
                text += "\(whole.statistics.p95Microseconds),\(whole.statistics.minMicroseconds),"
                text += "\(row.measurement.bytes[whole.engine].map(String.init) ?? ""),\(dense / whole.statistics.medianMicroseconds),"
                text += "\(row.testMetric),\(row.int8TestMetric)\n"
            }
        }
        return text
    }
}
