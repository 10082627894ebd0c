import Foundation
import TopiaryData
import TopiaryInference
import TopiaryMetrics
import TopiaryNN
import TopiaryReport
import TopiarySparsity
import TopiaryTensor
import TopiaryTraining

extension ExperimentRunner {
    /// Rows evaluated at once: up to 1000, fewer when one row's outputs are large (a
    /// language model's (T, V) logits), so a batch's outputs stay within 2²⁵ floats.
    var evaluationBatchSize: Int { max(1, min(1000, (1 << 25) / max(1, model.outputCount))) }

    /// The task's metrics on the test and validation splits, sparsity per layer, latency,
    /// memory: one stage row.
    func measure(stage: Int, target: Double, training: TrainingOutcome, scoreSeconds: Double,
                 selectSeconds: Double) throws -> StageRecord {
        let test = Evaluation.measure(model, task: task, on: data.test, batchSize: evaluationBatchSize)
        let validation = Evaluation.measure(model, task: task, on: data.validation, batchSize: evaluationBatchSize)
        for (split, evaluation) in [("test", test), ("validation", validation)] where !(evaluation["loss"] ?? .nan).isFinite {
            throw TrainingError.nonFiniteEvaluation(stage: stage, split: split, loss: evaluation["loss"] ?? .nan)
        }
        var metrics: [String: Double] = [:]
        for (name, value) in test { metrics["test_" + name] = value }
        for (name, value) in validation { metrics["val_" + name] = value }
        for evaluation in data.evaluations {
            for (name, value) in Evaluation.measure(model, task: task, on: evaluation.data, batchSize: evaluationBatchSize) { metrics[evaluation.name + "_" + name] = value }
        }
        let accounting = SparsityAccounting(targets)
        let excluded = Set(spec.pruning.excludeLayers)
        let engines = measureEngines()
        let latency = engines.whole.map { LatencyRecord(batchSize: $0.batchSize, engine: $0.engine, $0.statistics) }
        let layers = model.prunableMatrices.map { matrix in
            let alive = matrix.aliveCount
            let measured = engines.perLayer.filter { $0.layer == matrix.layerName }
            var record = LayerRecord(layer: matrix.layerName, parameter: matrix.name,
                                     rows: matrix.rows, columns: matrix.fanIn, total: matrix.count,
                                     nonzeros: alive, sparsity: 1 - Double(alive) / Double(matrix.count),
                                     excluded: excluded.contains(matrix.layerName), denseBytes: 4 * matrix.count,
                                     csrBytes: MemoryFootprint.csrBytes(rows: matrix.rows, columns: matrix.fanIn, nonzeros: alive))
            record.latency = measured.map { LatencyRecord(batchSize: $0.batchSize, engine: $0.engine.rawValue, $0.statistics) }
            record.bytesByEngine = Dictionary(measured.map { ($0.engine.rawValue, $0.bytes) }, uniquingKeysWith: { a, _ in a })
            return record
        }
        if let int8 = engines.prepared[InferenceEngine.int8.rawValue] {
            for (name, value) in Evaluation.measure(int8, task: task, on: data.test, batchSize: evaluationBatchSize) { metrics["int8_test_" + name] = value }
        }
        let generation = measureGeneration(engines)
        let trainSeconds = training.epochSeconds.reduce(0, +)
        let deciding = task.decidingMetric.name
        options.progress?("stage \(stage): sparsity \(String(format: "%.5f", accounting.sparsity)), test \(deciding) \(String(format: "%.4f", test[deciding]!)), validation \(String(format: "%.4f", validation[deciding]!))")
        let flops = model.matrixFLOPs
        var record = StageRecord(
            stage: stage, targetSparsity: target, sparsity: accounting.sparsity, nonzeros: accounting.alive,
            prunableWeights: accounting.total, metrics: metrics, trainLoss: training.lastLoss,
            epochs: training.epochs,
            trainEpochSeconds: training.epochs > 0 ? trainSeconds / Double(training.epochs) : nil,
            trainSeconds: trainSeconds, scoreSeconds: scoreSeconds, selectSeconds: selectSeconds, latency: latency,
            denseBytes: MemoryFootprint.denseBytes(model.parameters),
            csrBytes: MemoryFootprint.csrBytes(model.parameters, sparse: targets),
            peakRSSBytes: ProcessMemory.peakResidentBytes, layers: layers,
            bytesByEngine: engines.bytes,
            bestEngine: Dictionary(uniqueKeysWithValues: spec.measurement.latencyBatchSizes.compactMap { batch in
                engines.bestEngine(batch: batch).map { (String(batch), $0) } }),
            autoEngines: Dictionary(uniqueKeysWithValues: engines.autoEngines.map { (String($0.key), $0.value.map(\.rawValue)) }),
            flopsDense: flops.dense,
            flopsEffective: flops.effective,
            latencyThreads: latencyThreads, generation: generation)
        if training.steps > 0 || training.epochs > 0 {
            record.training = TrainingRecord(trainableParameters: training.trainableParameters, optimizerStateBytes: training.optimizerStateBytes,
                                             steps: training.steps, stepSeconds: training.steps > 0 ? trainSeconds / Double(training.steps) : nil,
                                             adapters: training.adapters)
        }
        record.device = try measureDevice()
        return record
    }

    /// Threads for latency measurement: --latency-threads, else the run's threads.
    var latencyThreads: Int { options.latencyThreads ?? spec.threads }

    /// A language model's generation at batch 1 with every engine measured whole, and with
    /// auto's batch-1 choice; nil for other models or `generation_tokens: 0`.
    private func measureGeneration(_ engines: EngineMeasurement) -> GenerationRecord? {
        let measurement = spec.measurement
        guard measurement.generationTokens > 0, let dense = engines.prepared[InferenceEngine.dense.rawValue], let context = dense.context else {
            return nil
        }
        let codec = data.tokenizer.map(TokenCodec.bpe) ?? .bytes
        let prompt = measurement.generationPrompt.map { codec.encode($0).suffix(context) }
            ?? (0..<min(16, data.test.inputs.sampleCount)).map { Int(data.test.inputs[$0]) }
        let models = EngineMeasurement.wholeEngines.map(\.rawValue).compactMap { engine in engines.prepared[engine].map { (engine, $0) } }
            + (engines.preparedAuto[1].map { [("auto", $0)] } ?? [])
        return withLatencyThreads {
            GenerationMeasurement.measure(models, prompt: Array(prompt), newTokens: measurement.generationTokens,
                                          repetitions: measurement.generationRepetitions)
        }.map { GenerationRecord($0, prompt: Array(prompt), codec: codec) }
    }

    /// `body` with BLAS at the latency threads, the run's threads restored after.
    private func withLatencyThreads<T>(_ body: () -> T) -> T {
        BLASRuntime.withThreadCount(latencyThreads, body)
    }

    /// Every engine's whole-model and per-layer latency on real test rows.
    private func measureEngines() -> EngineMeasurement {
        let rows = min(data.test.count, spec.measurement.latencyBatchSizes.max()!)
        return withLatencyThreads {
            EngineMeasurement.measure(model, inputs: data.test.inputs.rowSlice(0, count: rows),
                                      batchSizes: spec.measurement.latencyBatchSizes,
                                      repetitions: spec.measurement.latencyRepetitions,
                                      warmup: spec.measurement.latencyWarmup, threads: latencyThreads,
                                      nOfM: spec.pruning.nOfM.map { ($0[0], $0[1]) }, engines: spec.measurement.engines)
        }
    }
}
