import Foundation
import TopiaryData
import TopiaryMetrics
import TopiaryNN
import TopiaryRun
import TopiarySparsity
import TopiarySpec
import TopiaryTensor

/// `topiary sensitivity SPEC`: how much each layer tolerates pruning on its own. After the
/// spec's dense training, every prunable layer in turn is pruned (the spec's scorer within
/// the layer, calibrated as a run is: pruning.calibration_split, movement since dense
/// training) to each sparsity of a grid, with no retraining, from the same dense weights;
/// the task's deciding metric on the validation split (decisions) and the test set
/// (reporting) is recorded.
public struct SensitivityAnalysis {
    public struct Point: Codable, Sendable, Equatable {
        public let layer: String
        public let sparsity: Double
        public let validation: Double
        public let test: Double
        /// How much worse validation is than dense, in the metric's change unit (accuracy points).
        public let worsening: Double
    }

    public struct Result: Codable, Sendable {
        public let spec: ExperimentSpec
        public let metric: MetricDefinition
        public let denseValidation: Double
        public let denseTest: Double
        public let layerSizes: [String: Int]
        public let points: [Point]
        enum CodingKeys: String, CodingKey {
            case spec, metric, denseValidation = "dense_validation", denseTest = "dense_test", layerSizes = "layer_sizes", points
        }
    }

    public static let defaultGrid = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98]

    /// Trains dense per the spec (its training section) and sweeps the grid.
    public static func run(spec rawSpec: ExperimentSpec, grid: [Double], options: RunOptions) throws -> Result {
        precondition(!grid.isEmpty && grid.allSatisfy { $0 >= 0 && $0 < 1 }, "grid sparsities must lie in [0, 1)")
        let runner = try ExperimentRunner(spec: rawSpec, options: options)
        let spec = runner.spec
        let model = runner.model
        try runner.trainDense()
        let dense = model.store.values.copy(), denseMasks = model.store.masks.copy()
        let metric = runner.task.decidingMetric
        func evaluate(_ data: Dataset) -> Double { Evaluation.measure(model, task: runner.task, on: data)[metric.name]! }
        let denseVal = evaluate(runner.data.validation), denseTest = evaluate(runner.data.test)
        let scorer = try ScorerRegistry.make(spec.pruning.scorer, options: spec.pruning.scorerOptions ?? [:])!
        var points: [Point] = []
        for target in runner.targets {
            for sparsity in grid.sorted() {
                model.store.values.assign(from: dense)
                model.store.masks.assign(from: denseMasks)
                var context = runner.scoringContext(generator: SeededGenerator(seed: spec.seed, stream: "sensitivity"))
                let scores = try scorer.scores(for: [target], context: &context)
                try UnstructuredPruner(scope: .perLayer).prune([target], scores: scores, to: sparsity)
                let validation = evaluate(runner.data.validation)
                points.append(Point(layer: target.layerName, sparsity: sparsity, validation: validation, test: evaluate(runner.data.test),
                                    worsening: metric.worsening(from: denseVal, to: validation)))
                options.progress?(String(format: "%@ at %.2f: validation %@ %.4f", target.layerName, sparsity, metric.name, validation))
            }
        }
        return Result(spec: spec.spec, metric: metric, denseValidation: denseVal, denseTest: denseTest,
                      layerSizes: Dictionary(uniqueKeysWithValues: runner.targets.map { ($0.layerName, $0.count) }), points: points)
    }

    /// Per-layer targets reaching `globalSparsity` over the layers: one tolerated worsening
    /// of the validation metric for all layers, each taking the highest grid sparsity within it;
    /// the smallest drop that reaches the global target (bisection). nil when even the
    /// grid's highest sparsities do not reach it.
    public static func targets(_ result: Result, globalSparsity: Double) -> [String: Double]? {
        let layers = result.layerSizes.keys.sorted()
        let total = Double(result.layerSizes.values.reduce(0, +))
        func choice(_ drop: Double) -> [String: Double] {
            Dictionary(uniqueKeysWithValues: layers.map { layer in
                let within = result.points.filter { $0.layer == layer && $0.worsening <= drop }
                return (layer, within.map(\.sparsity).max() ?? 0)
            })
        }
        func reached(_ c: [String: Double]) -> Double { layers.reduce(0) { $0 + c[$1]! * Double(result.layerSizes[$1]!) } / total }
        let worst = max(result.points.map(\.worsening).max() ?? 0, 0) + 1
        guard reached(choice(worst)) >= globalSparsity else { return nil }
        var (low, high) = (-1e-9, worst)
        for _ in 0..<50 {
            let middle = (low + high) / 2
            if reached(choice(middle)) >= globalSparsity { high = middle } else { low = middle }
        }
        return choice(high)
    }

    /// `val_drop` is the worsening in the metric's change unit (accuracy points, or a fraction).
    public static func csv(_ result: Result) -> String {
        let name = result.metric.name
        var text = "layer,sparsity,val_\(name),test_\(name),val_drop\n"
        for p in result.points { text += "\(p.layer),\(p.sparsity),\(p.validation),\(p.test),\(p.worsening)\n" }
        return text
    }
}
