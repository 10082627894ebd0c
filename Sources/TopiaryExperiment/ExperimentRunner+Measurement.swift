import Foundation
import TopiaryInference
import TopiaryMetrics
import TopiaryNN
import TopiarySparsity
import TopiaryTensor

extension ExperimentRunner {
    /// Test and validation accuracy, sparsity per layer, latency, memory: one stage row.
    func measure(stage: Int, target: Double, training: TrainingOutcome, scoreSeconds: Double,
                 selectSeconds: Double) throws -> StageRecord {
        let test = Evaluation.measure(model, on: data.test)
        let validation = Evaluation.measure(model, on: data.validation)
        for (split, evaluation) in [("test", test), ("validation", validation)] where !evaluation.loss.isFinite {
            throw TrainingError.nonFiniteEvaluation(stage: stage, split: split, loss: evaluation.loss)
        }
        let accounting = SparsityAccounting(targets)
        let excluded = Set(spec.pruning.excludeLayers)
        let prunedLayers = Set(targets.map(\.layerName))
        let engines = measureEngines()
        let latency = engines.whole.map { LatencyRecord(batchSize: $0.batchSize, engine: $0.engine, $0.statistics) }
        let layers = model.weightParameters.map { parameter in
            let alive = countNonzeros(parameter.mask)
            let measured = engines.perLayer.filter { $0.layer == parameter.layerName }
            var record = LayerRecord(layer: parameter.layerName, parameter: parameter.name,
                                     rows: parameter.shape[0], columns: parameter.shape[1], total: parameter.count,
                                     nonzeros: alive, sparsity: 1 - Double(alive) / Double(parameter.count),
                                     excluded: excluded.contains(parameter.layerName), denseBytes: 4 * parameter.count,
                                     csrBytes: MemoryFootprint.csrBytes(rows: parameter.shape[0], columns: parameter.shape[1], nonzeros: alive))
            record.latency = measured.map { LatencyRecord(batchSize: $0.batchSize, engine: $0.engine.rawValue, $0.statistics) }
            record.bytesByEngine = Dictionary(measured.map { ($0.engine.rawValue, $0.bytes) }, uniquingKeysWith: { a, _ in a })
            return record
        }
        let int8Accuracy = Evaluation.measure(engines.prepared["int8"]!, on: data.test).accuracy
        let trainSeconds = training.epochSeconds.reduce(0, +)
        options.progress?("stage \(stage): sparsity \(String(format: "%.5f", accounting.sparsity)), test accuracy \(String(format: "%.4f", test.accuracy)), validation \(String(format: "%.4f", validation.accuracy))")
        return StageRecord(
            stage: stage, targetSparsity: target, sparsity: accounting.sparsity, nonzeros: accounting.alive,
            prunableWeights: accounting.total, testAccuracy: test.accuracy, testLoss: test.loss,
            valAccuracy: validation.accuracy, valLoss: validation.loss, trainLoss: training.lastLoss,
            epochs: training.epochs,
            trainEpochSeconds: training.epochs > 0 ? trainSeconds / Double(training.epochs) : nil,
            trainSeconds: trainSeconds, scoreSeconds: scoreSeconds, selectSeconds: selectSeconds, latency: latency,
            denseBytes: MemoryFootprint.denseBytes(model.parameters),
            csrBytes: MemoryFootprint.csrBytes(model.parameters, sparseLayers: prunedLayers),
            peakRSSBytes: ProcessMemory.peakResidentBytes, layers: layers,
            bytesByEngine: engines.bytes,
            bestEngine: Dictionary(uniqueKeysWithValues: spec.measurement.latencyBatchSizes.compactMap { batch in
                engines.bestEngine(batch: batch).map { (String(batch), $0) } }),
            autoEngines: Dictionary(uniqueKeysWithValues: engines.autoEngines.map { (String($0.key), $0.value.map(\.rawValue)) }),
            int8TestAccuracy: int8Accuracy,
            flopsDense: 2 * layers.reduce(0) { $0 + $1.total },
            flopsEffective: 2 * layers.reduce(0) { $0 + $1.nonzeros },
            latencyThreads: latencyThreads)
    }

    /// Threads for latency measurement: --latency-threads, else the run's threads.
    var latencyThreads: Int { options.latencyThreads ?? spec.threads! }

    /// Every engine's whole-model and per-layer latency on real test rows.
    private func measureEngines() -> EngineMeasurement {
        let runThreads = BLASRuntime.threadCount
        BLASRuntime.setThreadCount(latencyThreads)
        defer { BLASRuntime.setThreadCount(runThreads) }
        let rows = min(data.test.count, spec.measurement.latencyBatchSizes.max()!)
        return EngineMeasurement.measure(model, inputs: data.test.features.rowSlice(0, count: rows),
                                         batchSizes: spec.measurement.latencyBatchSizes,
                                         repetitions: spec.measurement.latencyRepetitions,
                                         warmup: spec.measurement.latencyWarmup, threads: latencyThreads,
                                         nOfM: spec.pruning.nOfM.map { ($0[0], $0[1]) })
    }
}
