import Testing
@testable import TopiaryInference
@testable import TopiaryNN
@testable import TopiaryTensor

extension AllTests {
@Suite struct InferenceEngineTests {
    /// A random MLP with random masks at `sparsity`, some fully pruned rows, and optionally a
    /// fully pruned hidden layer.
    func prunedModel(_ sizes: [Int], sparsity: Double, seed: UInt64, killLayer: Int? = nil) -> Sequential {
        var g = SeededGenerator(seed: seed)
        let model = Sequential.multilayerPerceptron(inputFeatures: sizes[0], hiddenSizes: Array(sizes.dropFirst().dropLast()),
                                                    outputs: sizes.last!, generator: &g)
        for (index, parameter) in model.prunableMatrices.enumerated() {
            for i in 0..<parameter.count where g.nextUnitFloat() < Float(sparsity) || index == killLayer { parameter.mask[i] = 0 }
            let (rows, columns) = (parameter.shape[0], parameter.shape[1])
            if rows > 2 { for j in 0..<columns { parameter.mask[j] = 0 } }  // row 0 empty: a dead neuron
        }
        // Nonzero biases so dead neurons still emit a constant the compaction must fold.
        for parameter in model.parameters where parameter.role == .bias {
            for i in 0..<parameter.count { parameter.value[i] = g.nextFloat(in: -0.5, 0.5) }
        }
        model.store.applyMasks()
        return model
    }

    func expectMatches(_ engine: InferenceEngine, _ model: Sequential, reference: Sequential, batch: Int, seed: UInt64) throws {
        var g = SeededGenerator(seed: seed)
        let x = randomTensor([batch, model.inputCount], &g)
        let expected = reference.forward(x).copy()
        let prepared = try #require(InferenceModel.build(model, engine: engine, threads: 2))
        let actual = prepared.predict(x)
        #expect(actual.shape == expected.shape)
        #expect(maxRelativeError(actual, expected) < 2e-4, "\(engine.rawValue) batch \(batch)")
        // A second call (cached buffers) gives the same answer.
        #expect(prepared.predict(x).toArray() == actual.toArray())
    }

    /// The int8 reference: the same model with every weight replaced by scale_i · q_ij.
    func dequantizedCopy(_ model: Sequential, sizes: [Int], seed: UInt64) -> Sequential {
        let copy = seededMLP(sizes, seed: seed)
        copy.store.values.assign(from: model.store.values)
        copy.store.masks.assign(from: model.store.masks)
        for parameter in copy.prunableMatrices { parameter.value.assign(from: Int8Matrix(weights: parameter.value).dequantized()) }
        return copy
    }

    @Test(arguments: [[5, 9, 3], [1, 7, 1], [17, 33, 5, 3], [784, 300, 100, 10]])
    func everyEngineMatchesTheDenseReference(sizes: [Int]) throws {
        for (sparsity, kill) in [(0.0, nil), (0.6, nil), (0.97, nil), (0.5, 1 as Int?)] where kill == nil || sizes.count > 3 {
            let model = prunedModel(sizes, sparsity: sparsity, seed: 81, killLayer: kill)
            let int8Reference = dequantizedCopy(model, sizes: sizes, seed: 81)
            for batch in [1, 7, 300] {
                for engine in [InferenceEngine.dense, .csr, .sell, .compact] {
                    try expectMatches(engine, model, reference: model, batch: batch, seed: 82)
                }
                for engine in [InferenceEngine.int8, .int8CSR] {
                    try expectMatches(engine, model, reference: int8Reference, batch: batch, seed: 82)
                }
            }
        }
    }

    /// SELL orders rows by fill (most nonzeros first, ties by row) so a chunk pads little;
    /// the order is a permutation and the kernel writes each lane to its own row.
    @Test func sellOrdersRowsByFill() {
        let weights = Tensor(zeros: [5, 40]), mask = Tensor(zeros: [5, 40])
        for (row, count) in [(0, 1), (1, 7), (2, 0), (3, 7), (4, 3)] {
            for column in 0..<count { mask[row * 40 + column * 5] = 1; weights[row * 40 + column * 5] = Float(row + 1) }
        }
        let matrix = SELLMatrix(weights: weights, mask: mask)
        #expect(matrix.rowOrder == [1, 3, 4, 0, 2])
        let kernel = SELLKernel(weight: weights, mask: mask, bias: Tensor(zeros: [5]), relu: false)
        let x = Tensor(zeros: [40]), y = Tensor(zeros: [5])
        x.fill(1)
        kernel.apply(vector: x, into: y)
        #expect(y.toArray() == [1, 14, 0, 28, 15])
    }

    @Test func csrKernelMatchesNaiveReferenceWithLongIndices() {
        var g = SeededGenerator(seed: 83)
        // 70,000 columns: 32-bit column indices.
        let weights = Tensor(zeros: [3, 70_000]), mask = Tensor(zeros: [3, 70_000])
        for _ in 0..<200 { let i = g.nextInt(below: weights.count); mask[i] = 1; weights[i] = g.nextFloat(in: -1, 1) }
        let x = randomTensor([70_000], &g)
        let kernel = CSRKernel(weight: weights, mask: mask, bias: Tensor(zeros: [3]), relu: false)
        #expect(!kernel.matrix.usesShortIndices && kernel.matrix.nonzeros == countNonzeros(mask))
        let y = Tensor(zeros: [3])
        kernel.apply(vector: x, into: y)
        let expected = kernel.matrix.naiveMultiply(x.toArray())
        for i in 0..<3 { #expect(abs(y[i] - expected[i]) < 1e-4 * max(1, abs(expected[i]))) }
    }

    @Test func compactionShrinksAndKeepsTheFunction() throws {
        let model = prunedModel([40, 30, 20, 4], sparsity: 0.9, seed: 84)
        let compacted = try #require(InferenceProgram(model)).compacted()
        let layers = compacted.matrices
        #expect(layers[0].rows < 30 && layers[1].rows < 20 && layers[2].rows == 4)
        #expect(layers[0].fanIn <= 40)
        // Every kept neuron reads something and is read by something.
        for (l, layer) in layers.enumerated().dropLast() {
            let next = layers[l + 1]
            for r in 0..<layer.rows {
                #expect((0..<layer.fanIn).contains { layer.mask[r * layer.fanIn + $0] != 0 })
                #expect((0..<next.rows).contains { next.mask[$0 * next.fanIn + r] != 0 })
            }
        }
    }

    @Test func formatsCountTheirBytes() {
        var g = SeededGenerator(seed: 85)
        let w = randomTensor([10, 20], &g), mask = Tensor(zeros: [10, 20])
        for i in stride(from: 0, to: 200, by: 4) { mask[i] = 1 }
        #expect(CSRMatrix(weights: w, mask: mask).bytes == 50 * 6 + 4 * 11)
        #expect(Int8Matrix(weights: w).bytes == 200 + 40)
        #expect(Int8CSRMatrix(quantized: Int8Matrix(weights: w), mask: mask).bytes == 50 * 3 + 44 + 40)
        // Quantization error is at most half a step per weight.
        let q = Int8Matrix(weights: w), back = q.dequantized()
        for i in 0..<10 { for j in 0..<20 { #expect(abs(back[i * 20 + j] - w[i * 20 + j]) <= q.scales[i] / 2 + 1e-7) } }
    }
}
}
