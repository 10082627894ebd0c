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
        let adapters = try makeAdapters(adapterSpec, stageNumber: stageNumber)
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
        training.adapters = try finishAdapters(adapters, adapterSpec, stageNumber: stageNumber)
        return training
    }

    /// A stage's adapters on the targets, seeded per stage; the first pruning stage's from `init_from`.
    func makeAdapters(_ adapterSpec: AdapterSpec, stageNumber: Int) throws -> LowRankAdapters {
        let names = try adapterSpec.targetLayers(prunable: model.prunableMatrices.map(\.layerName), excluded: spec.pruning.excludeLayers)
        var generator = SeededGenerator(seed: spec.seed, stream: "adapters-stage\(stageNumber)")
        let adapters = LowRankAdapters(matrices: model.prunableMatrices.filter { names.contains($0.layerName) }, rank: adapterSpec.rank,
                                       alpha: Float(adapterSpec.alpha), form: adapterSpec.merge, dropout: Float(adapterSpec.dropout),
                                       generator: &generator)
        if let folder = adapterSpec.initFrom, let source = adapterSource, isFirstPruningStage,
           let mismatch = adapters.assign(peft: source.factors.mapValues { ($0.a, $0.b) }) {
            throw SpecError(file: options.specFile, keyPath: "adapters.init_from", problem: "\(folder) \(mismatch).")
        }
        return adapters
    }

    /// Whether the stage being retrained is the first after the dense one: every adaptive
    /// attempt at it (a rolled-back try included) starts from `init_from`.
    var isFirstPruningStage: Bool { report.stages.filter { $0.status == .accepted }.count == 1 }

    /// After a stage's adapter training: the unmasked merge measured, the masked merge made,
    /// the adapters saved in PEFT's layout under adapters/stageN (with `save`).
    func finishAdapters(_ adapters: LowRankAdapters, _ adapterSpec: AdapterSpec, stageNumber: Int) throws -> AdapterRecord {
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
        return AdapterRecord(rank: adapterSpec.rank, alpha: adapterSpec.alpha, merge: adapterSpec.merge.rawValue, dropout: adapterSpec.dropout,
                             path: adapters.path == .folded ? "folded" : "beside",
                             targets: adapters.targets.map(\.matrix.layerName),
                             unmaskedMergeSparsity: Double(unmaskedZeros) / Double(max(accounting.total, 1)),
                             unmaskedMergeMetrics: unmaskedMetrics.reduce(into: [:]) { $0["val_" + $1.key] = $1.value },
                             savedTo: savedTo)
    }

    /// Before any work: the targets' patterns match layers, and an `init_from` folder is a PEFT
    /// LoRA of the spec's rank and alpha whose modules and shapes fit the targets; returns
    /// that folder, read once.
    @discardableResult
    static func checkAdapters(_ adapterSpec: AdapterSpec, model: any Model, excluded: [String]) throws -> PEFTAdapterFolder? {
        let names = try adapterSpec.targetLayers(prunable: model.prunableMatrices.map(\.layerName), excluded: excluded)
        if adapterSpec.dropout > 0, let convolution = model.prunableMatrices.first(where: { names.contains($0.layerName) && $0.operation != .linear }) {
            throw SpecProblem(keyPath: "adapters.dropout", problem: "is \(adapterSpec.dropout), but \(convolution.layerName) is a convolution, and dropout is offered on linear targets only (PEFT drops a convolution's input pixels before the unroll, which the fan-in view does not see): set 0, or leave the convolutions out of adapters.targets.")
        }
        guard let folder = adapterSpec.initFrom else { return nil }
        let peft = try readAdapterSource(folder, adapterSpec)
        for matrix in model.prunableMatrices where names.contains(matrix.layerName) {
            guard let pair = peft.factors[matrix.layerName] else {
                throw SpecProblem(keyPath: "adapters.init_from", problem: "\(folder) has no factors for \(matrix.layerName). Set adapters.targets to the folder's modules (\(peft.factors.keys.sorted().joined(separator: ", "))).")
            }
            guard pair.a.count == adapterSpec.rank * matrix.fanIn, pair.b.count == matrix.rows * adapterSpec.rank else {
                throw SpecProblem(keyPath: "adapters.init_from", problem: "\(folder) has \(matrix.layerName) factors of shapes \(pair.a.shape) and \(pair.b.shape), which do not fit its \(matrix.rows) × \(matrix.fanIn) weight: adapters of another model?")
            }
        }
        if let extra = peft.factors.keys.sorted().first(where: { !names.contains($0) }) {
            throw SpecProblem(keyPath: "adapters.init_from", problem: "\(folder) adapts \(extra), which is not among adapters.targets (\(names.joined(separator: ", "))): add it to the targets.")
        }
        return peft
    }

    private static func readAdapterSource(_ folder: String, _ adapterSpec: AdapterSpec) throws -> PEFTAdapterFolder {
        let peft: PEFTAdapterFolder
        do {
            peft = try PEFTAdapterFolder.read(folder: folder)
        } catch let error as PEFTAdapterError {
            throw SpecProblem(keyPath: "adapters.init_from", problem: error.errorDescription ?? "\(error)")
        }
        guard peft.rank == adapterSpec.rank, peft.alpha == adapterSpec.alpha else {
            throw SpecProblem(keyPath: "adapters.init_from", problem: "\(folder) holds adapters of r \(peft.rank), lora_alpha \(peft.alpha), but the spec says rank \(adapterSpec.rank), alpha \(adapterSpec.alpha): make them the folder's.")
        }
        return peft
    }
}
