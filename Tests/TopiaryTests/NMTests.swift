import Foundation
import Testing
@testable import TopiaryInference
@testable import TopiaryNN
@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySparsity
@testable import TopiarySpec
@testable import TopiaryStudy
@testable import TopiaryTensor
@testable import TopiaryTraining

extension AllTests {
@Suite struct NMTests {
    func model(_ seed: UInt64) -> Sequential { seededMLP([64, 32, 16, 10], seed: seed) }

    /// Every group of M keeps the N highest-scored alive weights, exactly.
    @Test(arguments: [(2, 4), (1, 4), (4, 8), (3, 4)])
    func prunerMatchesReferenceInEveryGroup(n: Int, m: Int) throws {
        let model = model(91)
        let targets = model.prunableMatrices
        var g = SeededGenerator(seed: 92)
        let scores = targets.map { randomTensor($0.shape, &g) }
        try NMPruner(n: n, m: m).prune(targets, scores: scores)
        for (parameter, score) in zip(targets, scores) {
            #expect(NMPruner.isValid(parameter.mask, n: n, m: m))
            let columns = parameter.shape[1]
            for i in 0..<parameter.shape[0] {
                for start in stride(from: 0, to: columns, by: m) {
                    let group = Array(start..<min(start + m, columns))
                    let expected = Set(group.sorted { score[i * columns + $0] > score[i * columns + $1] }.prefix(n))
                    let kept = Set(group.filter { parameter.mask[i * columns + $0] != 0 })
                    #expect(kept == expected)
                    for j in group where !kept.contains(j) { #expect(parameter.value[i * columns + j] == 0) }
                }
            }
        }
        #expect(abs(SparsityAccounting(targets).sparsity - (1 - Double(n) / Double(m))) < 1e-12)
    }

    @Test func prunerOnlyShrinksMasks() throws {
        let model = model(93)
        let targets = model.prunableMatrices
        var g = SeededGenerator(seed: 94)
        try UnstructuredPruner(scope: .global).prune(targets, scores: targets.map { randomTensor($0.shape, &g) }, to: 0.6)
        let before = targets.map { $0.mask.toArray() }
        try NMPruner(n: 2, m: 4).prune(targets, scores: targets.map { randomTensor($0.shape, &g) })
        for (parameter, old) in zip(targets, before) {
            for i in 0..<parameter.count where old[i] == 0 { #expect(parameter.mask[i] == 0) }
            #expect(NMPruner.isValid(parameter.mask, n: 2, m: 4))
        }
    }

    @Test(arguments: [(2, 4), (1, 4), (4, 8)])
    func nmEngineMatchesDenseReference(n: Int, m: Int) throws {
        let model = model(95)
        var g = SeededGenerator(seed: 96)
        try NMPruner(n: n, m: m).prune(model.prunableMatrices, scores: model.prunableMatrices.map { randomTensor($0.shape, &g) })
        for batch in [1, 5] {
            let x = randomTensor([batch, 64], &g)
            let expected = model.forward(x).copy()
            let engine = try #require(InferenceModel.build(model, engine: .nm, threads: 1, nOfM: (n, m)))
            #expect(engine.kernels.allSatisfy { $0.engine == .nm })
            #expect(maxRelativeError(engine.predict(x), expected) < 2e-4)
        }
        // Masks that are not N:M: no nm engine.
        let dense = self.model(97)
        #expect(InferenceModel.build(dense, engine: .nm, threads: 1, nOfM: (2, 4)) == nil)
        #expect(InferenceModel.build(model, engine: .nm, threads: 1) == nil)
    }

    @Test func specAndRunWithTwoOfFour() throws {
        let stagesBlock = "  stages:\n    - { sparsity: 0.5, epochs: 1 }\n    - { sparsity: 0.8, epochs: 1 }"
        func error(_ block: String) -> SpecError? {
            do { _ = try ExperimentSpec.decode(yaml: validSpecYAML.replacingOccurrences(of: stagesBlock, with: block)); return nil }
            catch { return error as? SpecError }
        }
        #expect(error("  scope: nm\n  stages:\n    - { sparsity: 0.5, epochs: 1 }")?.keyPath == "pruning.n_of_m")
        #expect(error("  scope: nm\n  n_of_m: [2, 4]\n  stages:\n    - { sparsity: 0.6, epochs: 1 }")?.keyPath == "pruning.stages[0].sparsity")
        #expect(error("  n_of_m: [2, 4]\n  stages:\n    - { sparsity: 0.5, epochs: 1 }")?.keyPath == "pruning.n_of_m")
        let spec = try sliceSpec { $0.replacingOccurrences(of: stagesBlock, with: "  scope: nm\n  n_of_m: [2, 4]\n  stages:\n    - { sparsity: 0.5, epochs: 1 }") }
        let (directory, report) = try runSlice(spec)
        #expect(report.stages[1].sparsity == 0.5)
        let row = try readCSV(directory + "/stages.csv").rows[1]
        #expect(Double(row["latency_b1_nm_median_us"]!)! > 0 && Int(row["bytes_nm"]!)! > 0)
        #expect(try readCSV(directory + "/stages.csv").rows[0]["latency_b1_nm_median_us"] == "")  // dense: no nm
    }
}
}

extension AllTests {
@Suite struct ChannelPruningTests {
    func model(_ seed: UInt64) -> Sequential { seededMLP([20, 16, 12, 5], seed: seed) }

    func prune(_ model: Sequential, scores: [Tensor], to fraction: Double, norm: ChannelPruner.Norm = .l2) throws {
        let targets = model.prunableMatrices
        try ChannelPruner(norm: norm).prune(targets, scores: scores, couplings: targets.map(model.channelCoupling), to: fraction)
    }

    @Test func removesTheLowestRowsWithTheirBiasesAndTheirReadersColumns() throws {
        let model = model(111)
        var g = SeededGenerator(seed: 112)
        let targets = model.prunableMatrices
        let scores = targets.map { randomTensor($0.shape, &g) }
        // Expected channels from the scores as they were (rows of consumers change as we go).
        let expected = zip(targets, scores).dropLast().map { matrix, score in
            let norm = { (i: Int) in (0..<matrix.fanIn).map { score[i * matrix.fanIn + $0] * score[i * matrix.fanIn + $0] }.reduce(0, +) }
            return Set((0..<matrix.rows).sorted { norm($0) < norm($1) }.prefix(matrix.rows / 2))
        }
        try prune(model, scores: scores, to: 0.5)
        for (index, matrix) in targets.dropLast().enumerated() {
            let bias = model.parameter(named: matrix.layerName + ".bias")!
            let reader = targets[index + 1]
            for i in 0..<matrix.rows {
                let dead = !ChannelPruner.isAlive(matrix, row: i)
                #expect(dead == expected[index].contains(i))
                if dead {
                    #expect(bias.value[i] == 0 && bias.mask[i] == 0)
                    #expect((0..<reader.rows).allSatisfy { reader.mask[$0 * reader.fanIn + i] == 0 })
                }
            }
            #expect(ChannelPruner.channelSparsity(matrix) == 0.5)
        }
        // The output layer keeps its rows (its columns follow the last hidden layer).
        #expect(ChannelPruner.channelSparsity(targets.last!) == 0 && countNonzeros(targets.last!.mask) == 5 * 6)
        #expect(model.channelCoupling(of: targets.last!) == nil)
    }

    /// Channels left: max(1, round(rows · (1 − fraction))), halves to even, as the W2
    /// reference counts (6 filters at 75 % keep 2; 84 neurons at 62.5 % keep 32).
    @Test func channelCountsRoundAsTheReference() throws {
        for (rows, fraction, kept) in [(6, 0.75, 2), (6, 0.625, 2), (6, 0.25, 4), (16, 0.75, 4), (84, 0.625, 32), (120, 0.625, 45), (3, 0.9, 1)] {
            let model = seededMLP([8, rows, 4], seed: 5)
            let targets = model.prunableMatrices
            var g = SeededGenerator(seed: 6)
            try prune(model, scores: targets.map { randomTensor($0.shape, &g) }, to: fraction)
            let alive = (0..<rows).filter { ChannelPruner.isAlive(targets[0], row: $0) }.count
            #expect(alive == kept, "\(rows) rows at \(fraction)")
        }
    }

    /// The compacted model computes exactly what the masked model computes: removed neurons
    /// output 0, so with the same summation (Double, in index order) the logits are equal.
    @Test func compactedModelEqualsMaskedModelExactly() throws {
        let model = model(113)
        var g = SeededGenerator(seed: 114)
        try prune(model, scores: model.prunableMatrices.map { randomTensor($0.shape, &g) }, to: 0.5)
        let program = try #require(InferenceProgram(model)), compacted = program.compacted()
        #expect(compacted.matrices.map(\.rows) == [8, 6, 5])
        let x = randomTensor([4, 20], &g)
        #expect(NaiveInference.run(compacted, x).toArray() == NaiveInference.run(program, x).toArray())
        // And the compact engine (BLAS on the smaller matrices) agrees to rounding.
        let engine = try #require(InferenceModel.build(model, engine: .compact, threads: 1))
        #expect(maxRelativeError(engine.predict(x), model.forward(x).copy()) < 1e-5)
        #expect(engine.bytes < InferenceModel.build(model, engine: .dense, threads: 1)!.bytes / 2)
    }

    @Test func runWithChannelScope() throws {
        let stagesBlock = "  stages:\n    - { sparsity: 0.5, epochs: 1 }\n    - { sparsity: 0.8, epochs: 1 }"
        // `neurons` is the earlier name of the scope and still reads.
        let spec = try sliceSpec { $0.replacingOccurrences(of: stagesBlock, with: "  scope: neurons\n  stages:\n    - { sparsity: 0.25, epochs: 1 }\n    - { sparsity: 0.5, epochs: 1 }") }
        #expect(spec.pruning.scope == .channels)
        let (_, report) = try runSlice(spec)
        let last = report.stages.last!
        #expect(last.layers.first { $0.layer == "fc1" }!.nonzeros == 784 * 16)   // 16 of 32 neurons left
        #expect(last.layers.first { $0.layer == "fc2" }!.nonzeros == 8 * 16)     // 8 of 16 rows, 16 of 32 columns
        #expect(last.layers.first { $0.layer == "fc3" }!.nonzeros == 10 * 8)     // all rows, the 8 live columns
        #expect(last.bytesByEngine["compact"]! < last.bytesByEngine["dense"]! * 6 / 10)
    }
}
}

/// The algorithmic reference for an inference program of Linears (the MLP's): Double sums in
/// index order, the gather, the bias, the fused ReLU.
enum NaiveInference {
    static func run(_ program: InferenceProgram, _ input: Tensor) -> Tensor {
        var h = input
        for step in program.steps {
            switch step {
            case .gather(let columns):
                let y = Tensor(zeros: [h.rows, columns.count])
                for r in 0..<h.rows { for (c, j) in columns.enumerated() { y[r * columns.count + c] = h[r * h.columns + j] } }
                h = y
            case .matrix(let m):
                let layer = program.matrices[m]
                let y = Tensor(zeros: [h.rows, layer.rows])
                naiveMatmul(h, layer.weight, transposeB: true, into: y)
                for r in 0..<h.rows { for i in 0..<layer.rows { y[r * layer.rows + i] += layer.bias[i] } }
                if layer.relu { naiveReluForward(y, into: y) }
                h = y
            default:
                fatalError("NaiveInference runs Linear programs only")
            }
        }
        return h
    }
}
