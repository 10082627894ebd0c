import Testing
@testable import TopiaryData
@testable import TopiaryNN
@testable import TopiarySparsity
@testable import TopiaryTensor

/// Scorers against slow, obviously-correct references on a tiny model.
extension AllTests {
@Suite struct ScorerTests {
    func setUp(batches: Int = 3) -> (Sequential, ScoringContext, Dataset) {
        var g = SeededGenerator(seed: 101)
        let model = Sequential.multilayerPerceptron(inputFeatures: 12, hiddenSizes: [9, 7], outputs: 4, generator: &g)
        let data = Dataset(inputs: randomTensor([40, 12], &g), labels: (0..<40).map { Int32($0 % 4) }, classCount: 4)
        let context = ScoringContext(model: model, task: ClassificationTask(), calibration: BatchIterator(dataset: data, batchSize: 8),
                                     calibrationBatches: batches, generator: SeededGenerator(seed: 102))
        return (model, context, data)
    }

    /// Gradient of one sample's own loss, by a forward/backward on that sample alone.
    func perSampleGradients(_ model: Sequential, _ data: Dataset, sample: Int) -> [[Double]] {
        model.store.zeroGrads()
        let x = data.inputs.rowSlice(sample, count: 1).copy()
        model.backward(SoftmaxCrossEntropy().lossAndGradient(logits: model.forward(x), labels: [data.labels[sample]]).gradient)
        return model.prunableMatrices.map { $0.grad.toArray().map(Double.init) }
    }

    /// ½ w² · mean_s (∂L_s/∂w)², per-sample gradients from an explicit loop.
    @Test func fisherMatchesPerSampleLoop() throws {
        var (model, context, data) = setUp()
        let targets = model.prunableMatrices
        let scores = try FisherScorer().scores(for: targets, context: &context)
        var sums = targets.map { [Double](repeating: 0, count: $0.count) }
        for s in 0..<24 {
            for (t, g) in perSampleGradients(model, data, sample: s).enumerated() {
                for i in 0..<g.count { sums[t][i] += g[i] * g[i] }
            }
        }
        for (t, parameter) in targets.enumerated() {
            for i in 0..<parameter.count {
                let w = Double(parameter.value[i])
                let expected = 0.5 * w * w * sums[t][i] / 24
                #expect(abs(Double(scores[t][i]) - expected) <= 1e-4 * max(expected, 1e-6), "\(parameter.name)[\(i)]")
            }
        }
        // Not the square of the mean gradient: that would differ.
        let meanSquared = sums[0][0] / 24
        #expect(meanSquared > 0)
    }

    @Test func snipIsNormalisedWeightTimesSummedGradient() throws {
        var (model, context, data) = setUp()
        let targets = model.prunableMatrices
        let scores = try SNIPScorer().scores(for: targets, context: &context)
        var gradients = targets.map { [Double](repeating: 0, count: $0.count) }
        let loss = SoftmaxCrossEntropy()
        for b in 0..<3 {
            model.store.zeroGrads()
            let x = data.inputs.rowSlice(b * 8, count: 8).copy()
            model.backward(loss.lossAndGradient(logits: model.forward(x), labels: Array(data.labels[(b * 8)..<(b * 8 + 8)])).gradient)
            for (t, p) in targets.enumerated() { for i in 0..<p.count { gradients[t][i] += Double(p.grad[i]) } }
        }
        let raw = zip(targets, gradients).map { p, g in (0..<p.count).map { abs(Double(p.value[$0]) * g[$0]) } }
        let total = raw.flatMap { $0 }.reduce(0, +)
        for t in targets.indices { for i in 0..<targets[t].count { #expect(abs(Double(scores[t][i]) - raw[t][i] / total) < 1e-6) } }
        #expect(abs(scores.flatMap { $0.toArray() }.reduce(0, +) - 1) < 1e-4)
    }

    @Test func wandaIsMagnitudeTimesInputNorm() throws {
        var (model, context, data) = setUp(batches: 2)
        let targets = model.prunableMatrices
        let scores = try WandaScorer().scores(for: targets, context: &context)
        // Inputs of each Linear over the first 16 rows, by running the layers by hand.
        var inputs = data.inputs.rowSlice(0, count: 16).copy()
        for (t, layer) in model.layers.enumerated() {
            guard let linear = layer as? Linear else { inputs = ReLUProbe.apply(inputs); continue }
            let parameter = targets.first { $0.offset == linear.weight.offset }!
            let (rows, columns) = (parameter.shape[0], parameter.shape[1])
            for j in 0..<columns {
                var norm = 0.0
                for r in 0..<16 { norm += Double(inputs[r * columns + j]) * Double(inputs[r * columns + j]) }
                for i in 0..<rows {
                    let expected = abs(Double(parameter.value[i * columns + j])) * norm.squareRoot()
                    let index = targets.firstIndex { $0.offset == parameter.offset }!
                    #expect(abs(Double(scores[index][i * columns + j]) - expected) <= 1e-5 * max(1, expected))
                }
            }
            let next = Tensor(zeros: [16, rows])
            naiveMatmul(inputs, linear.weight.value, transposeB: true, into: next)
            for r in 0..<16 { for i in 0..<rows { next[r * rows + i] += linear.bias!.value[i] } }
            inputs = next
            _ = t
        }
    }

    @Test func perRowScopePrunesEveryRowExactly() throws {
        let (model, _, _) = setUp()
        var g = SeededGenerator(seed: 103)
        let targets = model.prunableMatrices
        let scores = targets.map { randomTensor($0.shape, &g) }
        try UnstructuredPruner(scope: .perRow).prune(targets, scores: scores, to: 0.5)
        for (parameter, score) in zip(targets, scores) {
            let (rows, columns) = (parameter.shape[0], parameter.shape[1])
            for i in 0..<rows {
                let kept = (0..<columns).filter { parameter.mask[i * columns + $0] != 0 }
                #expect(columns - kept.count == Int((0.5 * Double(columns)).rounded()))
                let lowestKept = kept.map { score[i * columns + $0] }.min() ?? .infinity
                let highestPruned = (0..<columns).filter { !kept.contains($0) }.map { score[i * columns + $0] }.max() ?? -.infinity
                #expect(highestPruned <= lowestKept)
            }
        }
        #expect(SparsityAccounting(targets).matches(target: 0.5, scope: .perRow))
    }
}
}

enum ReLUProbe {
    static func apply(_ x: Tensor) -> Tensor {
        let y = Tensor(zeros: x.shape)
        naiveReluForward(x, into: y)
        return y
    }
}

extension AllTests {
@Suite struct ScoreAgreementTests {
    @Test func spearmanAndJaccardAtKnownPoints() {
        let a: [Float] = [1, 2, 3, 4, 5]
        #expect(abs(ScoreAgreement.spearman(a, a) - 1) < 1e-12)
        #expect(abs(ScoreAgreement.spearman(a, a.reversed()) + 1) < 1e-12)
        #expect(abs(ScoreAgreement.spearman(a, [10, 20, 30, 40, 50]) - 1) < 1e-12)  // ranks, not values
        // Ties share their mean rank: [1, 1, 2] → ranks [1.5, 1.5, 3].
        #expect(ScoreAgreement.ranks([1, 1, 2]) == [1.5, 1.5, 3])
        #expect(ScoreAgreement.spearman([1, 1, 1], a.prefix(3).map { $0 }) == 0)  // constant side
        #expect(ScoreAgreement.jaccard(a, a, keep: 2) == 1)
        #expect(ScoreAgreement.jaccard(a, a.reversed(), keep: 2) == 0)             // {3,4} vs {0,1}
        #expect(abs(ScoreAgreement.jaccard([1, 2, 3, 4], [1, 4, 3, 2], keep: 2) - 1.0 / 3) < 1e-12)  // {2,3} vs {1,2}
    }

    @Test func runWritesScoresCSV() throws {
        let spec = try sliceSpec {
            $0.replacingOccurrences(of: "scorer: magnitude", with: "scorer: magnitude\n  compare_scorers: [magnitude, taylor, random]")
        }
        let (directory, report) = try runSlice(spec)
        let (header, rows) = try readCSV(directory + "/scores.csv")
        #expect(header == ["stage", "layer", "scorer_a", "scorer_b", "spearman", "jaccard"])
        #expect(rows.count == 2 * 3 * 3)  // stages 1–2 × layers × pairs
        for row in rows {
            let rho = Double(row["spearman"]!)!, overlap = Double(row["jaccard"]!)!
            #expect(rho >= -1 && rho <= 1 && overlap >= 0 && overlap <= 1)
        }
        let magnitudeRandom = rows.filter { $0["scorer_a"] == "magnitude" && $0["scorer_b"] == "random" && $0["layer"] == "fc1" }
        #expect(magnitudeRandom.allSatisfy { abs(Double($0["spearman"]!)!) < 0.2 })
        #expect(report.stages[1].scoreAgreement.count == 9 && report.stages[0].scoreAgreement.isEmpty)
    }
}
}

import Foundation
@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySpec
@testable import TopiaryStudy
@testable import TopiaryTraining
extension AllTests {
@Suite struct SensitivityTests {
    @Test func sweepsEveryLayerFromTheSameDenseWeights() throws {
        var options = RunOptions()
        options.runDirectory = temporaryDirectory("sens") + "/unused"
        let result = try SensitivityAnalysis.run(spec: try sliceSpec(), grid: [0.5, 0.95], options: options)
        #expect(result.points.count == 3 * 2)
        #expect(Set(result.points.map(\.layer)) == ["fc1", "fc2", "fc3"])
        // Pruning 95 % of the 160-weight output layer alone hurts more than 50 % of it.
        let fc3 = result.points.filter { $0.layer == "fc3" }.sorted { $0.sparsity < $1.sparsity }
        #expect(fc3[1].validation < fc3[0].validation && fc3[1].worsening > fc3[0].worsening)
        #expect(result.denseValidation > 0.5 && result.metric.name == "accuracy")
        #expect(!FileManager.default.fileExists(atPath: options.runDirectory!))  // writes nothing itself
    }

    @Test func derivedTargetsReachTheGlobalSparsityWithTheSmallestDrop() {
        let accuracy = ClassificationTask.accuracy
        func p(_ layer: String, _ s: Double, _ acc: Double) -> SensitivityAnalysis.Point {
            .init(layer: layer, sparsity: s, validation: acc, test: acc, worsening: accuracy.worsening(from: 0.9, to: acc))
        }
        // "big" (900 weights) tolerates pruning, "small" (100) does not.
        let result = SensitivityAnalysis.Result(
            spec: try! sliceSpec().resolved.spec, metric: accuracy, denseValidation: 0.9, denseTest: 0.9,
            layerSizes: ["big": 900, "small": 100],
            points: [p("big", 0.5, 0.9), p("big", 0.8, 0.895), p("big", 0.9, 0.85),
                     p("small", 0.5, 0.8), p("small", 0.8, 0.6), p("small", 0.9, 0.5)])
        let targets = SensitivityAnalysis.targets(result, globalSparsity: 0.7)!
        #expect(targets == ["big": 0.8, "small": 0])      // 0.72 ≥ 0.7 with a 0.5-point drop
        #expect(SensitivityAnalysis.targets(result, globalSparsity: 0.95) == nil)
    }
}
}

extension AllTests {
@Suite struct SynFlowTests {
    /// With every parameter positive, ReLU is the identity, so for a 2-layer network
    /// h = |W1|·1 + |b1|, ∂R/∂W1_ij = Σ_k |W2_ki| and ∂R/∂W2_ki = h_i.
    @Test func matchesClosedFormOnTwoLayers() throws {
        var g = SeededGenerator(seed: 121)
        let model = Sequential.multilayerPerceptron(inputFeatures: 5, hiddenSizes: [4], outputs: 3, generator: &g)
        let (w1, w2) = (model.prunableMatrices[0], model.prunableMatrices[1])
        let b1 = model.parameters.first { $0.layerName == "fc1" && $0.role == .bias }!
        w1.mask[2] = 0
        model.store.applyMasks()
        let before = model.store.values.toArray()
        var context = ScoringContext(model: model, task: ClassificationTask(), calibration: BatchIterator(dataset: Dataset(inputs: Tensor(zeros: [1, 5]), labels: [0], classCount: 3), batchSize: 1),
                                     calibrationBatches: 1, generator: SeededGenerator(seed: 1))
        let scores = try SynFlowScorer().scores(for: [w1, w2], context: &context)
        #expect(model.store.values.toArray() == before)  // weights restored
        for i in 0..<4 {
            let column = (0..<3).map { abs(Double(w2.value[$0 * 4 + i])) }.reduce(0, +)
            var h = abs(Double(b1.value[i]))
            for j in 0..<5 { h += abs(Double(w1.value[i * 5 + j])) }
            for j in 0..<5 {
                let expected = abs(Double(w1.value[i * 5 + j])) * column
                #expect(abs(Double(scores[0][i * 5 + j]) - expected) < 1e-5)
            }
            for k in 0..<3 { #expect(abs(Double(scores[1][k * 4 + i]) - abs(Double(w2.value[k * 4 + i])) * h) < 1e-5) }
        }
        #expect(scores[0][2] == 0)  // a pruned weight carries no flow
    }
}
}

extension AllTests {
@Suite struct SavedScoresTests {
    @Test func scoresAreSavedPerStageAndLayer() throws {
        let spec = try sliceSpec { $0.replacingOccurrences(of: "scorer: magnitude", with: "scorer: magnitude\n  save_scores: true") }
        let (directory, _) = try runSlice(spec)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory + "/scores").sorted()
        #expect(files == ["0000-fc1.bin", "0000-fc2.bin", "0000-fc3.bin", "0001-fc1.bin", "0001-fc2.bin", "0001-fc3.bin"])
        let saved = try Checkpoint.read(from: directory + "/scores/0000-fc2.bin")
        #expect(saved.tensors["scores"]!.shape == [16, 32] && saved.tensors["mask"]!.shape == [16, 32])
        // Magnitude scores before the first pruning: |w| of the dense model, all alive.
        #expect(saved.tensors["scores"]!.toArray().allSatisfy { $0 >= 0 } && countNonzeros(saved.tensors["mask"]!) == 512)
    }
}
}

extension AllTests {
@Suite struct MovementTests {
    @Test func accumulatesMinusWeightTimesGradient() throws {
        var g = SeededGenerator(seed: 131)
        let model = Sequential.multilayerPerceptron(inputFeatures: 6, hiddenSizes: [5], outputs: 3, generator: &g)
        let targets = model.prunableMatrices
        let accumulators = targets.map { Tensor(zeros: $0.shape) }
        var reference = targets.map { [Double](repeating: 0, count: $0.count) }
        for _ in 0..<3 {
            for p in targets { for i in 0..<p.count { p.grad[i] = g.nextFloat(in: -1, 1) } }
            MovementScorer.accumulate(targets, into: accumulators)
            for (t, p) in targets.enumerated() { for i in 0..<p.count { reference[t][i] -= Double(p.value[i]) * Double(p.grad[i]) } }
            for p in targets { for i in 0..<p.count { p.value[i] += 0.01 } }  // weights move between steps
        }
        for t in targets.indices { for i in 0..<targets[t].count { #expect(abs(Double(accumulators[t][i]) - reference[t][i]) < 1e-5) } }
        var context = ScoringContext(model: model, task: ClassificationTask(), calibration: BatchIterator(dataset: Dataset(inputs: Tensor(zeros: [1, 6]), labels: [0], classCount: 3), batchSize: 1),
                                     calibrationBatches: 1, generator: SeededGenerator(seed: 1))
        #expect(throws: ScoringError.movementNeedsTraining) { try MovementScorer().scores(for: targets, context: &context) }
        context.movement = targets.map { Tensor(zeros: $0.shape) }
        #expect(throws: ScoringError.movementNeedsTraining) { try MovementScorer().scores(for: targets, context: &context) }
        context.movement = accumulators
        #expect(try MovementScorer().scores(for: targets, context: &context)[0].toArray() == accumulators[0].toArray())
    }

    @Test func movementRunsNeedTrainingBeforeTheFirstPruning() throws {
        let spec = try sliceSpec {
            $0.replacingOccurrences(of: "scorer: magnitude", with: "scorer: movement").replacingOccurrences(of: "  epochs: 2\n  batch_size: 64", with: "  epochs: 0\n  batch_size: 64")
        }
        #expect(throws: ScoringError.movementNeedsTraining) { try runSlice(spec) }
    }
}
}

extension AllTests {
@Suite struct OBSTests {
    /// Inputs with correlated features (a low-rank part plus noise), as real activations are.
    func inputs(_ g: inout SeededGenerator, n: Int = 200, d: Int = 24) -> Tensor {
        let basis = randomTensor([4, d], &g), coefficients = randomTensor([n, 4], &g)
        let x = Tensor(zeros: [n, d])
        matmul(coefficients, basis, into: x)
        for i in 0..<x.count { x[i] += 0.1 * g.nextFloat(in: -1, 1) }
        return x
    }

    @Test func choleskyFactorInvertsTheDampenedHessian() throws {
        var g = SeededGenerator(seed: 141)
        let x = inputs(&g)
        let u = try OBSScorer().choleskyOfInverseHessian(inputs: x)
        let d = x.columns
        let h = Tensor(zeros: [d, d])
        naiveMatmul(x, transposeA: true, x, into: h, alpha: 2 / Float(x.rows))
        var mean: Float = 0
        for i in 0..<d { mean += h[i * d + i] }
        for i in 0..<d { h[i * d + i] += 0.01 * mean / Float(d) }
        let inverse = Tensor(zeros: [d, d]), identity = Tensor(zeros: [d, d])
        naiveMatmul(u, transposeA: true, u, into: inverse)
        naiveMatmul(h, inverse, into: identity)
        for i in 0..<d { for j in 0..<d { #expect(abs(identity[i * d + j] - (i == j ? 1 : 0)) < 2e-3) } }
        for i in 0..<d { for j in 0..<i { #expect(u[i * d + j] == 0) } }
    }

    /// Same mask, lower ‖WX − ŴX‖ than masking alone; exact count; pruned weights exactly 0;
    /// per layer, per row and 2:4.
    @Test(arguments: ["per_layer", "per_row", "nm"])
    func reconstructionBeatsMaskingAtTheSameMask(_ granularity: String) throws {
        var g = SeededGenerator(seed: 142)
        let x = inputs(&g)
        var layout = ParameterStore.Layout()
        layout.add(layer: "fc", role: .weight, shape: [10, 24])
        let store = ParameterStore(layout)
        let w = standaloneMatrix(store.parameters[0])
        for i in 0..<w.count { w.value[i] = g.nextFloat(in: -1, 1) }
        w.mask[5] = 0; w.value[5] = 0                 // an already-pruned weight stays pruned
        let original = w.value.copy()
        let scorer = OBSScorer(blockSize: 8)          // several blocks: the lazy updates are exercised
        let selection: any MaskSelection = granularity == "nm" ? NMSelection(n: 2, m: 4)
            : UnstructuredSelection(scope: granularity == "per_row" ? .perRow : .perLayer)
        try scorer.reconstruct(w, u: try scorer.choleskyOfInverseHessian(inputs: x), sparsity: 0.5, selection: selection)
        #expect(w.count - countNonzeros(w.mask) == 120 && w.mask[5] == 0)
        #expect(selection.miss([w], target: 0.5) == nil)
        for i in 0..<w.count where w.mask[i] == 0 { #expect(w.value[i] == 0) }
        let masked = Tensor(zeros: w.shape)
        multiply(original, w.mask, into: masked.reshaped([10, 24]))
        func error(_ candidate: Tensor) -> Double {
            let y = Tensor(zeros: [x.rows, 10]), yHat = Tensor(zeros: [x.rows, 10])
            naiveMatmul(x, original, transposeB: true, into: y)
            naiveMatmul(x, candidate, transposeB: true, into: yHat)
            return (0..<y.count).reduce(0.0) { $0 + Double((y[$1] - yHat[$1]) * (y[$1] - yHat[$1])) }
        }
        let (obs, plain) = (error(w.value), error(masked))
        #expect(obs < 0.5 * plain, "OBS \(obs) vs masking \(plain)")
    }

    /// OBS prunes layer by layer: global and channel scopes are refused.
    @Test func obsNeedsALayerwiseScope() {
        #expect(throws: SpecError.self) {
            try ExperimentSpec.decode(yaml: validSpecYAML.replacingOccurrences(of: "scorer: magnitude", with: "scorer: obs"))
        }
    }
}
}

extension AllTests {
@Suite struct ScorerOptionTests {
    let stagesBlock = "  stages:\n    - { sparsity: 0.5, epochs: 1 }\n    - { sparsity: 0.8, epochs: 1 }"

    func error(_ block: String) -> SpecError? {
        do { _ = try ExperimentSpec.decode(yaml: validSpecYAML.replacingOccurrences(of: "  scorer: magnitude\n", with: block)); return nil }
        catch { return error as? SpecError }
    }

    @Test func optionsAreValidatedPerScorer() throws {
        #expect(error("  scorer: obs\n  scope: per_layer\n  scorer_options: { dampening: 0.05, block_size: 64 }\n") == nil)
        #expect(error("  scorer: obs\n  scope: per_layer\n  scorer_options: { damping: 0.05 }\n")?.problem.contains("Allowed: dampening, block_size") == true)
        #expect(error("  scorer: obs\n  scope: per_layer\n  scorer_options: { dampening: 2 }\n")?.keyPath == "pruning.scorer_options")
        #expect(error("  scorer: obs\n  scope: per_layer\n  scorer_options: { block_size: 1.5 }\n")?.keyPath == "pruning.scorer_options")
        #expect(error("  scorer: magnitude\n  scorer_options: { dampening: 0.1 }\n")?.problem.contains("takes no options") == true)
        let configured = try ScorerRegistry.make("obs", options: ["dampening": 0.05, "block_size": 64]) as? OBSScorer
        #expect(configured?.dampening == 0.05 && configured?.blockSize == 64)
    }
}
}
