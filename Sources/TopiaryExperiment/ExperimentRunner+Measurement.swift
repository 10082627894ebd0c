import Foundation
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
        let accounting = SparsityAccounting(targets)
        let excluded = Set(spec.pruning.excludeLayers)
        let prunedLayers = Set(targets.map(\.layerName))
        let layers = model.weightParameters.map { parameter in
            let alive = countNonzeros(parameter.mask)
            return LayerRecord(layer: parameter.layerName, parameter: parameter.name,
                               rows: parameter.shape[0], columns: parameter.shape[1], total: parameter.count,
                               nonzeros: alive, sparsity: 1 - Double(alive) / Double(parameter.count),
                               excluded: excluded.contains(parameter.layerName), denseBytes: 4 * parameter.count,
                               csrBytes: MemoryFootprint.csrBytes(rows: parameter.shape[0], columns: parameter.shape[1], nonzeros: alive))
        }
        let latency = spec.measurement.latencyBatchSizes.map { batch in
            LatencyRecord(batchSize: batch, engine: "dense", measureLatency(batch: batch))
        }
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
            peakRSSBytes: ProcessMemory.peakResidentBytes, layers: layers)
    }

    /// Whole-model dense forward latency on `batch` test rows (repeated if the test set is smaller).
    private func measureLatency(batch: Int) -> LatencyStatistics {
        let inputs = Tensor(zeros: [batch, data.test.featureCount])
        let d = data.test.featureCount
        for r in 0..<batch {
            (inputs.pointer + r * d).update(from: data.test.features.pointer + (r % data.test.count) * d, count: d)
        }
        return LatencyHarness.measure(warmup: spec.measurement.latencyWarmup,
                                      repetitions: spec.measurement.latencyRepetitions) { _ = model.forward(inputs) }
    }
}
