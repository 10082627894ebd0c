import Testing
@testable import TopiaryData
@testable import TopiaryNN
@testable import TopiarySparsity
@testable import TopiaryTensor

extension AllTests {
@Suite struct PruningTests {
    func tinyModel(_ seed: UInt64) -> Sequential { seededMLP([12, 9, 7, 4], seed: seed) }

    func randomScores(_ targets: [PrunableMatrix], _ g: inout SeededGenerator) -> [Tensor] {
        targets.map { randomTensor($0.shape, &g) }
    }

    /// The obviously-correct selection: list alive weights as (score, position), sort, and
    /// prune the first round(s·N) − (already pruned).
    func referenceMasks(_ targets: [PrunableMatrix], _ scores: [Tensor], _ sparsity: Double) -> [[Float]] {
        var alive: [(Float, Int, Int)] = []
        var masks = targets.map { $0.mask.toArray() }
        var position = 0
        for (t, score) in scores.enumerated() {
            for i in 0..<score.count {
                if masks[t][i] == 1 { alive.append((score[i], position, t * 1_000_000 + i)) }
                position += 1
            }
        }
        let total = position
        let toPrune = Int((sparsity * Double(total)).rounded()) - (total - alive.count)
        alive.sort { ($0.0, $0.1) < ($1.0, $1.1) }
        for entry in alive.prefix(toPrune) { masks[entry.2 / 1_000_000][entry.2 % 1_000_000] = 0 }
        return masks
    }

    @Test func globalPruningMatchesReferenceAndOnlyShrinks() throws {
        let model = tinyModel(41)
        let targets = model.prunableMatrices
        var g = SeededGenerator(seed: 42)
        var previous = targets.map { $0.mask.toArray() }
        for sparsity in [0.3, 0.5, 0.75, 0.9, 0.97] {
            let scores = randomScores(targets, &g)
            let expected = referenceMasks(targets, scores, sparsity)
            try UnstructuredPruner(scope: .global).prune(targets, scores: scores, to: sparsity)
            #expect(targets.map { $0.mask.toArray() } == expected)
            let accounting = SparsityAccounting(targets)
            #expect(accounting.total - accounting.alive == Int((sparsity * Double(accounting.total)).rounded()))
            #expect(accounting.matches(target: sparsity, scope: .global))
            for (t, parameter) in targets.enumerated() {
                for i in 0..<parameter.count where previous[t][i] == 0 { #expect(parameter.mask[i] == 0) }
                for i in 0..<parameter.count where parameter.mask[i] == 0 { #expect(parameter.value[i] == 0) }
            }
            previous = targets.map { $0.mask.toArray() }
        }
    }

    @Test func perLayerPruningHitsEachLayer() throws {
        let model = tinyModel(43)
        let targets = model.prunableMatrices
        var g = SeededGenerator(seed: 44)
        for sparsity in [0.5, 0.8] {
            let scores = randomScores(targets, &g)
            let expected = targets.indices.map { referenceMasks([targets[$0]], [scores[$0]], sparsity)[0] }
            try UnstructuredPruner(scope: .perLayer).prune(targets, scores: scores, to: sparsity)
            #expect(targets.map { $0.mask.toArray() } == expected)
            for parameter in targets {
                #expect(parameter.count - parameter.aliveCount == Int((sparsity * Double(parameter.count)).rounded()))
            }
        }
    }

    @Test func tiesBreakByPositionAndNegativeScoresRankLowest() throws {
        var layout = ParameterStore.Layout()
        layout.add(layer: "a", role: .weight, shape: [2, 3])
        let store = ParameterStore(layout)
        let target = standaloneMatrix(store.parameters[0])
        try UnstructuredPruner(scope: .global).prune([target], scores: [Tensor(shape: [2, 3], values: [1, 1, 1, 1, 1, 1])], to: 0.5)
        #expect(target.mask.toArray() == [0, 0, 0, 1, 1, 1])
        let other = standaloneMatrix(ParameterStore(layout).parameters[0])
        try UnstructuredPruner(scope: .global).prune([other], scores: [Tensor(shape: [2, 3], values: [0.5, -3, 2, -0.0, 0, -1])], to: 0.5)
        #expect(other.mask.toArray() == [1, 0, 1, 0, 1, 0])
    }

    @Test func refusesToGrowMasksAndRejectsNaN() throws {
        let targets = tinyModel(45).prunableMatrices
        var g = SeededGenerator(seed: 46)
        try UnstructuredPruner(scope: .global).prune(targets, scores: randomScores(targets, &g), to: 0.6)
        #expect(throws: PruningError.self) {
            try UnstructuredPruner(scope: .global).prune(targets, scores: randomScores(targets, &g), to: 0.4)
        }
        let scores = randomScores(targets, &g)
        scores[1][3] = .nan
        #expect(throws: PruningError.invalidScore(parameter: "fc2.weight", index: 3)) {
            try UnstructuredPruner(scope: .global).prune(targets, scores: scores, to: 0.7)
        }
    }

    func context(_ model: Sequential, batches: Int) -> ScoringContext {
        var g = SeededGenerator(seed: 47)
        let data = Dataset(inputs: randomTensor([40, 12], &g),
                                  labels: (0..<40).map { Int32($0 % 4) }, classCount: 4)
        return ScoringContext(model: model, task: ClassificationTask(), calibration: BatchIterator(dataset: data, batchSize: 8),
                              calibrationBatches: batches, generator: SeededGenerator(seed: 48))
    }

    @Test func magnitudeScoresAreAbsoluteValues() throws {
        let model = tinyModel(49)
        var ctx = context(model, batches: 1)
        let scores = try MagnitudeScorer().scores(for: model.prunableMatrices, context: &ctx)
        for (parameter, score) in zip(model.prunableMatrices, scores) {
            #expect((0..<parameter.count).allSatisfy { score[$0] == abs(parameter.value[$0]) })
        }
    }

    /// Σ over the first K batches of |w·g|, with each batch's gradient from a fresh
    /// forward/backward, accumulated in Double.
    @Test func taylorScoresMatchPerBatchReference() throws {
        let model = tinyModel(50)
        let targets = model.prunableMatrices
        var ctx = context(model, batches: 3)
        let scores = try TaylorScorer().scores(for: targets, context: &ctx)

        var reference = targets.map { [Double](repeating: 0, count: $0.count) }
        let loss = SoftmaxCrossEntropy()
        ctx.calibration.forEachBatch(order: Array(0..<24)) { batch in
            model.store.zeroGrads()
            model.backward(loss.lossAndGradient(logits: model.forward(batch.inputs), labels: batch.labels).gradient)
            for (t, p) in targets.enumerated() {
                for i in 0..<p.count { reference[t][i] += abs(Double(p.value[i]) * Double(p.grad[i])) }
            }
        }
        for (t, score) in scores.enumerated() {
            for i in 0..<score.count { #expect(abs(Double(score[i]) - reference[t][i]) <= 1e-6 * max(1, reference[t][i])) }
        }
        // A different K gives different scores: the count is honoured.
        var more = context(model, batches: 5)
        #expect(try TaylorScorer().scores(for: targets, context: &more)[0].toArray() != scores[0].toArray())
    }

    @Test func randomScoresAreSeeded() throws {
        let model = tinyModel(51)
        var a = context(model, batches: 1), b = context(model, batches: 1)
        let first = try RandomScorer().scores(for: model.prunableMatrices, context: &a)
        let second = try RandomScorer().scores(for: model.prunableMatrices, context: &b)
        #expect(first.map { $0.toArray() } == second.map { $0.toArray() })
    }

    @Test func registryKnowsEveryScorerByItsName() {
        for name in ScorerRegistry.names { #expect(ScorerRegistry.make(name)?.name == name) }
        #expect(ScorerRegistry.make("obs-typo") == nil)
    }
}
}

extension AllTests {
@Suite struct LayerConstraintTests {
    @Test func minimumDensityKeepsEveryLayerAboveItWithExactTotal() throws {
        var g = SeededGenerator(seed: 151)
        let model = Sequential.multilayerPerceptron(inputFeatures: 12, hiddenSizes: [9, 7], outputs: 4, generator: &g)
        let targets = model.prunableMatrices
        // fc3's weights score lowest of all: without a minimum it would be emptied first.
        let scores = targets.enumerated().map { index, p -> Tensor in
            let t = randomTensor(p.shape, &g)
            if index == 2 { scaleInPlace(t, by: 1e-3) }
            for i in 0..<t.count { t[i] = abs(t[i]) }
            return t
        }
        try UnstructuredPruner(scope: .global, minimumDensity: 0.25).prune(targets, scores: scores, to: 0.7)
        let accounting = SparsityAccounting(targets)
        #expect(accounting.total - accounting.alive == Int((0.7 * Double(accounting.total)).rounded()))
        #expect(targets[2].aliveCount == 7)  // ceil(0.25 · 28) kept
        for t in targets { #expect(Double(t.aliveCount) >= 0.25 * Double(t.count) - 1e-9) }
        #expect(throws: PruningError.minimumDensityUnreachable(target: 0.9, minimumDensity: 0.25)) {
            try UnstructuredPruner(scope: .global, minimumDensity: 0.25).prune(targets, scores: scores, to: 0.9)
        }
    }

    @Test func layerTargetsScaleWithTheStages() throws {
        let stagesBlock = "  stages:\n    - { sparsity: 0.5, epochs: 1 }\n    - { sparsity: 0.8, epochs: 1 }"
        let spec = try sliceSpec {
            $0.replacingOccurrences(of: stagesBlock, with: "  scope: per_layer\n  calibration_split: validation\n  layer_targets: { fc1: 0.9, fc2: 0.5 }\n  stages:\n    - { sparsity: 0.4, epochs: 1 }\n    - { sparsity: 0.8, epochs: 1 }")
        }
        let (_, report) = try runSlice(spec)
        func sparsity(_ stage: Int, _ layer: String) -> Double { report.stages[stage].layers.first { $0.layer == layer }!.sparsity }
        #expect(abs(sparsity(1, "fc1") - 0.45) * 25088 <= 0.5 && abs(sparsity(1, "fc2") - 0.25) * 512 <= 0.5)
        #expect(abs(sparsity(1, "fc3") - 0.4) * 160 <= 0.5)
        #expect(abs(sparsity(2, "fc1") - 0.9) * 25088 <= 0.5 && abs(sparsity(2, "fc2") - 0.5) * 512 <= 0.5)
        #expect(abs(sparsity(2, "fc3") - 0.8) * 160 <= 0.5)
        #expect(report.spec.pruning.calibrationSplit == .validation)
        let bad = "  scope: per_layer\n  layer_targets: { fc9: 0.9 }\n  stages:\n    - { sparsity: 0.5, epochs: 1 }"
        var options = RunOptions()
        options.runDirectory = temporaryDirectory("targets") + "/run"
        #expect(throws: SpecError.self) { try ExperimentRunner(spec: try sliceSpec { $0.replacingOccurrences(of: stagesBlock, with: bad) }, options: options) }
        let global = "  layer_targets: { fc1: 0.9 }\n  stages:\n    - { sparsity: 0.5, epochs: 1 }"
        #expect(throws: SpecError.self) { try ExperimentSpec.decode(yaml: validSpecYAML.replacingOccurrences(of: stagesBlock, with: global)) }
    }
}
}

@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySpec
@testable import TopiaryStudy
@testable import TopiaryTraining

extension AllTests {
@Suite struct MaskSelectionTests {
    /// Each granularity's check accepts what its own selection produced, and catches a mask
    /// that misses the target (one pruned weight revived; one neuron too many kept).
    @Test func everySelectionsCheckAcceptsItsOwnMasksAndCatchesAMiss() throws {
        let cases: [(String, any MaskSelection, Double)] = [
            ("global", UnstructuredSelection(scope: .global), 0.75),
            ("global, minimum density", UnstructuredSelection(scope: .global, minimumDensity: 0.2), 0.75),
            ("per layer", UnstructuredSelection(scope: .perLayer), 0.6),
            ("per row", UnstructuredSelection(scope: .perRow), 0.5),
            ("layer targets", LayerTargetSelection(finalTargets: ["fc1": 0.9, "fc3": 0.3], lastStage: 0.8), 0.4),
            ("2:4", NMSelection(n: 2, m: 4), 0.5),
        ]
        for (name, selection, target) in cases {
            let model = seededMLP([16, 12, 8, 4], seed: 5)
            var generator = SeededGenerator(seed: 9)
            let targets = model.prunableMatrices
            try selection.select(targets, scores: targets.map { randomTensor($0.shape, &generator) }, to: target)
            #expect(selection.miss(targets, target: target) == nil, "\(name)")
            let pruned = (0..<targets[0].count).filter { targets[0].mask[$0] == 0 }
            for i in pruned.prefix(3) { targets[0].mask[i] = 1 }   // three weights back: a miss at every scope
            #expect(selection.miss(targets, target: target) != nil, "\(name) missed a revived weight")
        }
        let model = seededMLP([16, 12, 8, 4], seed: 5)
        var generator = SeededGenerator(seed: 9)
        let neurons = ChannelSelection { model.channelCoupling(of: $0) }
        let targets = model.prunableMatrices
        try neurons.select(targets, scores: targets.map { randomTensor($0.shape, &generator) }, to: 0.5)
        #expect(neurons.miss(targets, target: 0.5) == nil && ChannelPruner.channelSparsity(targets[2]) == 0)
        let columns = targets[0].shape[1]
        let dead = try #require((0..<targets[0].shape[0]).first { row in (0..<columns).allSatisfy { targets[0].mask[row * columns + $0] == 0 } })
        targets[0].mask[dead * columns] = 1   // a removed neuron partly back
        #expect(neurons.miss(targets, target: 0.5) != nil)
        #expect(LayerTargetSelection(finalTargets: ["fc1": 0.9], lastStage: 0.8).target(for: "fc1", stage: 0.4) == 0.45)
    }
}
}
