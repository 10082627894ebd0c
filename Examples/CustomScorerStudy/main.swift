// A study script outside Topiary's own code: it defines a scorer and a model, registers
// both by name, builds the experiment spec in Swift and runs the staged prune-retrain
// pipeline, then prints one line per stage from the report.
//
//   swift run custom-scorer-study [--data FILE] [--out FOLDER] [--epochs N]
//
// Data: scikit-learn's handwritten digits as Debian's python3-sklearn ships them (1,797 rows
// of 64 pixel counts and the class in column 65, no header).
import Foundation
import Topiary

/// LAMP (Lee et al., "Layer-adaptive sparsity for the magnitude-based pruning", ICLR 2021):
/// a weight's square divided by the sum of the squares of every weight in its layer that is
/// at least as large. Scores are comparable across layers (the largest weight of each layer
/// scores 1), so global selection on them sets per-layer sparsity without a hand-tuned budget.
struct LAMPScorer: ImportanceScorer {
    let name = "lamp"

    func scores(for targets: [PrunableMatrix], context: inout ScoringContext) throws -> [Tensor] {
        targets.map { matrix in
            let count = matrix.count
            let weights = matrix.parameter.value.pointer
            let squares = (0..<count).map { Double(weights[$0]) * Double(weights[$0]) }
            // Ascending by magnitude; ties broken by index so scores are deterministic.
            let order = (0..<count).sorted { squares[$0] != squares[$1] ? squares[$0] < squares[$1] : $0 < $1 }
            let score = Tensor(zeros: [matrix.rows, matrix.fanIn])
            var atLeastAsLarge = 0.0    // Σ w_v² over v at or after this position in `order`
            for position in stride(from: count - 1, through: 0, by: -1) {
                let index = order[position]
                atLeastAsLarge += squares[index]
                score.pointer[index] = atLeastAsLarge > 0 ? Float(squares[index] / atLeastAsLarge) : 0
            }
            return score
        }
    }
}

/// An MLP with a LayerNorm after the first Linear and GELU activations: the LayerNorm gain is
/// a parameter but not a prunable matrix, so no scorer ever sees it.
func normalisedGELUNetwork(_ context: inout ModelRegistry.Context) throws -> any Model {
    let inputs = context.dataShape.reduce(1, *)
    let width = context.spec.hiddenSizes?.first ?? 96
    return try Sequential(inputShape: [inputs], layers: [
        Linear(name: "fc1", inFeatures: inputs, outFeatures: width),
        LayerNorm(name: "norm1", features: width),
        ActivationLayer(name: "gelu1", .gelu),
        Linear(name: "fc2", inFeatures: width, outFeatures: width / 2),
        ActivationLayer(name: "gelu2", .gelu),
        Linear(name: "fc3", inFeatures: width / 2, outFeatures: context.outputs),
    ], generator: &context.generator)
}

struct StudyArguments {
    var data = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"
    var out = "notebooks-out/custom-scorer-study/lamp"
    var epochs = 30

    init(_ arguments: [String]) throws {
        var rest = arguments.dropFirst()
        while let flag = rest.popFirst() {
            guard let value = rest.popFirst() else { throw StudyError("\(flag) needs a value.") }
            switch flag {
            case "--data": data = value
            case "--out": out = value
            case "--epochs":
                guard let n = Int(value), n >= 1 else { throw StudyError("--epochs must be a whole number >= 1, got '\(value)'.") }
                epochs = n
            default: throw StudyError("unknown option \(flag). Options: --data FILE, --out FOLDER, --epochs N.")
            }
        }
    }
}

struct StudyError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func runStudy() throws {
    let arguments = try StudyArguments(CommandLine.arguments)
    try ScorerRegistry.register("lamp") { LAMPScorer() }
    ModelRegistry.register("normalised-gelu") { try normalisedGELUNetwork(&$0) }

    var data = DataSpec()
    data.dataset = .csv
    data.train = arguments.data
    data.header = false
    data.label = "c64"
    data.testFraction = 0.2
    data.validationSize = 150
    let retrainingEpochs = max(1, arguments.epochs / 2)
    let written = ExperimentSpec(
        name: "custom-scorer-study", seed: 0, threads: 1, data: data,
        model: ModelSpec(architecture: "normalised-gelu", hiddenSizes: [96]),
        training: TrainingSpec(epochs: arguments.epochs, batchSize: 32, optimizer: OptimizerSpec(name: .adam, learningRate: 0.001)),
        pruning: PruningSpec(
            scorer: "lamp", scope: .global,
            retraining: RetrainingSpec(optimizer: OptimizerSpec(name: .adam, learningRate: 0.0005)),
            stages: [0.5, 0.75, 0.9].map { StageSpec(sparsity: $0, epochs: retrainingEpochs) },
            compareScorers: ["lamp", "magnitude"]),
        measurement: {
            var measurement = MeasurementSpec()
            measurement.latencyBatchSizes = [1, 256]
            measurement.latencyRepetitions = 50
            measurement.latencyWarmup = 5
            return measurement
        }())
    // The decoder's checks, with key paths, for a spec that never was YAML.
    let spec = try ExperimentSpec.validated(written, file: "CustomScorerStudy/main.swift")

    var options = RunOptions()
    options.runDirectory = arguments.out
    options.specFile = "CustomScorerStudy/main.swift"
    let report = try ExperimentRunner(spec: spec, options: options).run()

    // Within a layer LAMP orders weights exactly as magnitude does (Spearman 1 against the
    // magnitude scores); what it changes is how much each layer loses under global selection.
    print("stage  sparsity  test_accuracy  layer sparsity (spearman vs magnitude)")
    for stage in report.stages {
        let agreement = Dictionary(stage.scoreAgreement.map { ($0.layer, $0.spearman) }, uniquingKeysWith: { a, _ in a })
        let layers = stage.layers.map { layer in
            "\(layer.layer) " + String(format: "%.3f", layer.sparsity) + (agreement[layer.layer].map { String(format: " (%.3f)", $0) } ?? "")
        }
        print(String(format: "%5d  %8.4f  %13.4f  ", stage.stage, stage.sparsity, stage.metric("test", "accuracy") ?? .nan)
              + layers.joined(separator: ", "))
    }
    print("report: \(arguments.out)/report.json")
}

// OpenBLAS's kernels for this CPU (AVX-512 where it has it): re-executes once if needed.
BLASBootstrap.chooseKernelsForThisCPU()
do {
    try runStudy()
} catch {
    FileHandle.standardError.write(Data("custom-scorer-study: \((error as? LocalizedError)?.errorDescription ?? "\(error)")\n".utf8))
    exit(1)
}
