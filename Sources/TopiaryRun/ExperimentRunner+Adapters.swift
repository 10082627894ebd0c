import Foundation
import TopiaryFormats
import TopiaryMetrics
import TopiaryNN
import TopiaryReport
import TopiarySparsity
import TopiarySpec
import TopiaryTensor

extension ExperimentRunner {
    /// One stage's retraining through LoRA adapters (`adapters:`): made on the pruned base
    /// (B = 0, so the model starts unchanged), trained `epochs` with the retraining optimizer
    /// on the adapters alone, measured as a plain unmasked merge would leave the model, then
    /// merged through the masks and saved in PEFT's layout under adapters/stageN.
    func retrainThroughAdapters(_ adapterSpec: AdapterSpec, stageNumber: Int, epochs: Int) throws -> TrainingOutcome {
        let names = try adapterSpec.targetLayers(prunable: model.prunableMatrices.map(\.layerName), excluded: spec.pruning.excludeLayers)
        let matrices = model.prunableMatrices.filter { names.contains($0.layerName) }
        var generator = SeededGenerator(seed: spec.seed, stream: "adapters-stage\(stageNumber)")
        let adapters = LowRankAdapters(matrices: matrices, rank: adapterSpec.rank, alpha: Float(adapterSpec.alpha), form: adapterSpec.merge,
                                       generator: &generator)
        let retraining = spec.retraining
        var training: TrainingOutcome
        do {
            training = try train(epochs: epochs, batchSize: retraining.batchSize, optimizer: retraining.optimizer.makeOptimizer(for: adapters.store),
                                 settings: retraining.optimizer, schedule: retraining.lrSchedule, phase: "stage \(stageNumber) (lora)",
                                 reparametrization: adapters)
        } catch {
            // The model is left merged and its weights trainable again, as after a stage.
            adapters.merge()
            throw error
        }
        let unmaskedMetrics = adapters.withUnmaskedMerge {
            Evaluation.measure(model, task: task, on: data.validation, batchSize: evaluationBatchSize)
        }
        adapters.merge()
        let zeros = Dictionary(uniqueKeysWithValues: adapters.unmaskedMergeZeros().map { ($0.name, $0.unmasked) })
        let accounting = SparsityAccounting(targets)
        let unmaskedZeros = targets.reduce(0) { total, matrix in total + (zeros[matrix.name] ?? matrix.count - matrix.aliveCount) }
        var savedTo: String?
        if adapterSpec.save {
            let relative = "adapters/stage\(stageNumber)"
            let folder = PEFTAdapterFolder(rank: adapterSpec.rank, alpha: adapterSpec.alpha, delta: adapterSpec.merge.rawValue,
                                           baseModel: spec.model.initFrom ?? spec.name,
                                           factors: adapters.peftFactors().mapValues { PEFTAdapterFolder.Factors(a: $0.a, b: $0.b) })
            try folder.write(to: runDirectory + "/" + relative)
            savedTo = relative
        }
        training.adapters = AdapterRecord(rank: adapterSpec.rank, alpha: adapterSpec.alpha, merge: adapterSpec.merge.rawValue, targets: names,
                                          unmaskedMergeSparsity: Double(unmaskedZeros) / Double(max(accounting.total, 1)),
                                          unmaskedMergeMetrics: unmaskedMetrics.reduce(into: [:]) { $0["val_" + $1.key] = $1.value },
                                          savedTo: savedTo)
        return training
    }
}
