import Testing
@testable import TopiaryInference
@testable import TopiaryNN
@testable import TopiarySparsity
@testable import TopiaryTensor

extension AllTests {
/// Transformers (GPT-2, and Llama with grouped-query attention and rotary positions, its head
/// tied or not) as inference engines run them: whole windows equal the training forward, the
/// KV cache equals recomputing the window, and generation follows its stated window rule.
@Suite struct GenerationTests {
    static let configuration = GPTConfiguration(vocabulary: 23, context: 9, layers: 2, heads: 2, channels: 8)

    enum Family: String, CaseIterable, CustomTestStringConvertible {
        case gpt, llama, llamaUntied
        var testDescription: String { rawValue }
        /// 4 query heads share 2 key/value heads of size 2.
        static let llamaConfiguration = LlamaConfiguration(vocabulary: 23, context: 9, layers: 2, heads: 4, keyValueHeads: 2, channels: 8, intermediate: 12,
                                              ropeTheta: 100)
        /// Floats of keys and values a position adds per layer (C for GPT-2, NKV·hs for Llama).
        var keyValueWidth: Int { self == .gpt ? 8 : 4 }
    }

    /// A tiny model of `family` whose block matrices are pruned at random (`nOfM`: n of every
    /// m along fan-in instead), 1-D parameters (biases, norm gains) perturbed and matrices
    /// scaled up so every path carries signal and logits differ clearly.
    func prunedModel(_ family: Family, seed: UInt64, sparsity: Double, nOfM: (Int, Int)? = nil) throws -> Sequential {
        guard family != .gpt else { return try prunedGPT(seed: seed, sparsity: sparsity, nOfM: nOfM) }
        var g = SeededGenerator(seed: seed)
        var configuration = Family.llamaConfiguration
        configuration.tiedHead = family == .llama
        let model = try Sequential.llama(configuration, generator: &g)
        return prune(model, sparsity: sparsity, nOfM: nOfM, generator: &g)
    }

    /// A tiny GPT whose block matrices are pruned at random (`nOfM`: n of every m along fan-in
    /// instead), with nonzero biases and LayerNorm parameters so every path carries signal.
    func prunedGPT(seed: UInt64, sparsity: Double, nOfM: (Int, Int)? = nil, configuration: GPTConfiguration = configuration) throws -> Sequential {
        var g = SeededGenerator(seed: seed)
        return prune(try Sequential.gpt(configuration, generator: &g), sparsity: sparsity, nOfM: nOfM, generator: &g)
    }

    func prune(_ model: Sequential, sparsity: Double, nOfM: (Int, Int)?, generator g: inout SeededGenerator) -> Sequential {
        for parameter in model.parameters where parameter.shape.count == 1 {
            for i in 0..<parameter.count { parameter.value[i] += g.nextFloat(in: -0.3, 0.3) }
        }
        for parameter in model.parameters where parameter.shape.count == 2 {
            for i in 0..<parameter.count { parameter.value[i] *= 10 }   // N(0, 0.2): logits that differ clearly
        }
        for matrix in model.prunableMatrices {
            for i in 0..<matrix.count {
                if let (n, m) = nOfM { matrix.parameter.mask[i] = i % m < n ? 1 : 0 } else if g.nextUnitFloat() < Float(sparsity) {
                    matrix.parameter.mask[i] = 0
                }
            }
        }
        model.store.applyMasks()
        return model
    }

    func tokens(_ shape: [Int], seed: UInt64) -> Tensor {
        var g = SeededGenerator(seed: seed)
        return Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in Float(g.nextInt(below: Self.configuration.vocabulary)) })
    }

    @Test(arguments: Family.allCases)
    func everyEngineComputesTheTrainingForwardOnWholeWindows(family: Family) throws {
        for (sparsity, nOfM) in [(0.0, nil), (0.7, nil), (0.0, (2, 4) as (Int, Int)?)] {
            let model = try prunedModel(family, seed: 5, sparsity: sparsity, nOfM: nOfM)
            for batch in [1, 3] {
                let x = tokens([batch, Self.configuration.context], seed: 6)
                let expected = model.forward(x).copy()
                for engine in InferenceEngine.allCases where engine != .nm || nOfM != nil {
                    let prepared = try #require(InferenceModel.build(model, engine: engine, threads: 2, nOfM: nOfM.map { ($0.0, $0.1) }),
                                                "\(engine.rawValue)")
                    let actual = prepared.predict(x)
                    #expect(actual.shape == expected.shape)
                    let tolerance: Float = engine.isExact ? 2e-4 : 0.05
                    #expect(maxRelativeError(actual, expected) < tolerance, "\(family) \(engine.rawValue) sparsity \(sparsity) batch \(batch)")
                }
            }
        }
    }

    @Test(arguments: Family.allCases)
    func theKVCacheGivesTheLogitsOfTheWholeWindow(family: Family) throws {
        let model = try prunedModel(family, seed: 7, sparsity: 0.5)
        let context = Self.configuration.context, vocabulary = Self.configuration.vocabulary
        let x = tokens([2, context], seed: 8)
        let expected = model.forward(x).copy()                          // (2, T, V)
        for engine in [InferenceEngine.dense, .csr, .sell, .int8CSR] {
            let prepared = try #require(InferenceModel.build(model, engine: engine, threads: 1))
            let reference = prepared.predict(x).copy()
            prepared.startGeneration(batch: 2)
            // Fed in pieces of 3, 1, 1, 4 positions: every piece's logits equal the window's.
            var start = 0
            for piece in [3, 1, 1, 4] {
                let slice = Tensor(shape: [2, piece], values: (0..<2).flatMap { b in (0..<piece).map { x[b * context + start + $0] } })
                let logits = prepared.extend(slice)
                #expect(logits.shape == [2, piece, vocabulary])
                for b in 0..<2 {
                    for t in 0..<piece {
                        for v in 0..<vocabulary {
                            let want = reference[(b * context + start + t) * vocabulary + v]
                            #expect(abs(logits[(b * piece + t) * vocabulary + v] - want) <= 1e-4 * max(1, abs(want)))
                        }
                    }
                }
                start += piece
            }
            #expect(prepared.cachedPositions == context)
            // A whole window after a generation reads no cache of it.
            #expect(prepared.predict(x).toArray() == reference.toArray())
            #expect(prepared.kvCacheBytes == KVCache.bytes(layers: 2, batch: 2, context: context, channels: family.keyValueWidth))
            #expect(prepared.transformerShape.keyValueWidths == [family.keyValueWidth, family.keyValueWidth])
            #expect(prepared.transformerShape.vocabulary == vocabulary && prepared.context == context)
            if engine == .dense { #expect(maxRelativeError(reference, expected) < 2e-4) }
        }
    }

    /// Windows longer than a causal row block (32): a whole window of 70 and the same window
    /// fed as 40 then 30 positions (blocks after cached ones) give the training forward's logits.
    @Test func longWindowsAttendInCausalRowBlocks() throws {
        let configuration = GPTConfiguration(vocabulary: 23, context: 70, layers: 2, heads: 2, channels: 8)
        let model = try prunedGPT(seed: 11, sparsity: 0.3, configuration: configuration)
        var g = SeededGenerator(seed: 12)
        let x = Tensor(shape: [2, 70], values: (0..<140).map { _ in Float(g.nextInt(below: 23)) })
        let expected = model.forward(x).copy()                          // (2, 70, 23)
        let prepared = try #require(InferenceModel.build(model, engine: .dense, threads: 2))
        #expect(maxRelativeError(prepared.predict(x), expected) < 2e-4)
        prepared.startGeneration(batch: 2)
        var start = 0
        for piece in [40, 30] {
            let slice = Tensor(shape: [2, piece], values: (0..<2).flatMap { b in (0..<piece).map { x[b * 70 + start + $0] } })
            let logits = prepared.extend(slice)
            let want = Tensor(shape: [2, piece, 23], values: (0..<2).flatMap { b in
                (0..<(piece * 23)).map { expected[(b * 70 + start) * 23 + $0] } })
            #expect(maxRelativeError(logits, want) < 2e-4, "piece of \(piece) after \(start)")
            start += piece
        }
    }

    /// Greedy generation against the training model recomputing `referenceWindow` for every
    /// token, through several window restarts (9 positions, 30 new tokens).
    @Test(arguments: Family.allCases, [1, 4, 12])
    func greedyGenerationEqualsRecomputingTheWindow(family: Family, promptLength: Int) throws {
        let model = try prunedModel(family, seed: 9, sparsity: 0.3)
        let context = Self.configuration.context
        let prompt = tokens([promptLength], seed: 10).toArray().map { Int($0) }
        var sequence = prompt
        for _ in 0..<30 {
            let window = Array(InferenceModel.referenceWindow(sequence, promptCount: prompt.count, context: context))
            #expect(window.count >= 1 && window.count <= context)
            let padded = Tensor(shape: [1, context], values: window.map(Float.init) + Array(repeating: 0, count: context - window.count))
            let logits = model.forward(padded)                          // causal: padding after the window is unseen
            let row = (0..<Self.configuration.vocabulary).map { logits[(window.count - 1) * Self.configuration.vocabulary + $0] }
            sequence.append(row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }!)
        }
        for engine in [InferenceEngine.dense, .csr, .compact] {
            let prepared = try #require(InferenceModel.build(model, engine: engine, threads: 1))
            let generated = prepared.generate(prompt: prompt, count: 30, sampling: .greedy)
            #expect(generated == Array(sequence.dropFirst(prompt.count)), "\(family) \(engine.rawValue), prompt \(promptLength)")
        }
    }

    @Test func samplingIsSeededAndTopOneIsGreedy() throws {
        let model = try prunedGPT(seed: 11, sparsity: 0.2)
        let prepared = try #require(InferenceModel.build(model, engine: .dense, threads: 1))
        let prompt = [1, 2, 3]
        let greedy = prepared.generate(prompt: prompt, count: 20, sampling: .greedy)
        #expect(prepared.generate(prompt: prompt, count: 20, sampling: .sample(temperature: 0.7, topK: 1, seed: 3)) == greedy)
        let a = prepared.generate(prompt: prompt, count: 40, sampling: .sample(temperature: 1.5, topK: nil, seed: 4))
        #expect(prepared.generate(prompt: prompt, count: 40, sampling: .sample(temperature: 1.5, topK: nil, seed: 4)) == a)
        let b = prepared.generate(prompt: prompt, count: 40, sampling: .sample(temperature: 1.5, topK: nil, seed: 5))
        #expect(a != b)
        #expect(a.allSatisfy { (0..<Self.configuration.vocabulary).contains($0) })
        // Top-k 3: every token is among the 3 most likely at its step (checked on the first).
        var sampler = TokenSampler(.sample(temperature: 1, topK: 3, seed: 6))
        let logits: [Float] = [0, 5, 1, 4, 3, -2]
        for _ in 0..<200 {
            let token = logits.withUnsafeBufferPointer { sampler.next($0) }
            #expect([1, 3, 4].contains(token))
        }
        #expect(Sampling.sample(temperature: 0, topK: nil, seed: 1).problem != nil)
        #expect(Sampling.sample(temperature: .nan, topK: nil, seed: 1).problem != nil)
        #expect(Sampling.sample(temperature: 1, topK: 0, seed: 1).problem != nil)
    }

    /// Structured pruning of a GPT: whole heads (q, k, v rows, biases and proj's columns) and
    /// MLP neurons (fc rows and bias, proj's columns); the compacted model has the smaller
    /// matrices and computes what the masked one does, a dead head's v bias folded.
    @Test func headsAndNeuronsPruneAndCompactExactly() throws {
        let configuration = GPTConfiguration(vocabulary: 23, context: 9, layers: 2, heads: 4, channels: 16)
        let model = try prunedGPT(seed: 14, sparsity: 0, configuration: configuration)
        let targets = model.prunableMatrices
        var g = SeededGenerator(seed: 15)
        let scores = targets.map { matrix in Tensor(shape: [matrix.rows, matrix.fanIn], values: (0..<matrix.count).map { _ in g.nextUnitFloat() }) }
        let selection = ChannelSelection { model.channelCoupling(of: $0) }
        try selection.select(targets, scores: scores, to: 0.5)
        #expect(selection.miss(targets, target: 0.5) == nil)
        let (channels, heads) = (configuration.channels, configuration.heads)
        let hs = channels / heads
        for block in 0..<configuration.layers {
            let qkv = targets[4 * block], proj = targets[4 * block + 1], fc = targets[4 * block + 2], mlpProj = targets[4 * block + 3]
            let deadHeads = (0..<heads).filter { h in !CausalSelfAttention.headRows(h, width: channels, headSize: hs).contains { ChannelPruner.isAlive(qkv, row: $0) } }
            #expect(deadHeads.count == 2, "block \(block): \(deadHeads)")
            for h in deadHeads {
                for r in CausalSelfAttention.headRows(h, width: channels, headSize: hs) { #expect(model.parameter(named: "blocks.\(block).attn.qkv.bias")!.value[r] == 0) }
                for r in 0..<channels { for i in 0..<hs { #expect(proj.mask[r * channels + h * hs + i] == 0) } }
            }
            let deadNeurons = (0..<fc.rows).filter { !ChannelPruner.isAlive(fc, row: $0) }
            #expect(deadNeurons.count == fc.rows / 2)
            for n in deadNeurons { for r in 0..<mlpProj.rows { #expect(mlpProj.mask[r * mlpProj.fanIn + n] == 0) } }
            #expect((0..<proj.rows).allSatisfy { ChannelPruner.isAlive(proj, row: $0) } && (0..<mlpProj.rows).allSatisfy { ChannelPruner.isAlive(mlpProj, row: $0) })
        }
        model.store.applyMasks()
        // Block 0's surviving head 0 loses its weights but keeps a v bias: constant output to fold.
        let qkv0 = targets[0]
        let live = (0..<heads).first { h in CausalSelfAttention.headRows(h, width: channels, headSize: hs).contains { ChannelPruner.isAlive(qkv0, row: $0) } }!
        for r in CausalSelfAttention.headRows(live, width: channels, headSize: hs) {
            for j in 0..<channels { qkv0.parameter.mask[r * channels + j] = 0 }
        }
        model.store.applyMasks()
        let x = tokens([2, configuration.context], seed: 16)
        let expected = model.forward(x).copy()
        let compact = try #require(InferenceModel.build(model, engine: .compact, threads: 1))
        #expect(maxRelativeError(compact.predict(x), expected) < 2e-4)
        let shape = compact.transformerShape
        #expect(shape.attentionWidths == [hs, 2 * hs] && shape.channels == channels)
        #expect(compact.program.matrices[2].rows == 4 * channels / 2)   // mlp.fc of block 0: half its neurons
        let dense = try #require(InferenceModel.build(model, engine: .dense, threads: 1))
        #expect(compact.generate(prompt: [3, 1, 4], count: 12, sampling: .greedy) == dense.generate(prompt: [3, 1, 4], count: 12, sampling: .greedy))
    }

    /// A token (or any pass whose largest product is under 2^22 multiply-adds) of a small
    /// model runs on one BLAS thread; larger passes and convolutional programs keep the
    /// threads they are given.
    @Test func smallPassesRunOnOneBLASThread() throws {
        let prepared = try #require(InferenceModel.build(try prunedGPT(seed: 3, sparsity: 0), engine: .dense, threads: 2))
        // The largest product per row is mlp.fc's (and mlp.proj's) 4C × C = 256.
        #expect(prepared.blasThreads(forRows: 1, given: 2) == 1)
        #expect(prepared.blasThreads(forRows: (1 << 22) / 256 - 1, given: 2) == 1)
        #expect(prepared.blasThreads(forRows: (1 << 22) / 256, given: 2) == 2)
        // Rows are what the matrices see: B·T for token windows, and for one matrix timed
        // alone on its (B, T, C) input (per-matrix latency) too, not B.
        #expect(prepared.matrixRows(tokens([2, 9], seed: 1)) == 18)
        let alone = InferenceModel(program: InferenceProgram(steps: [.matrix(0)], matrices: prepared.program.matrices, inputShape: [9, 8], outputShape: []),
                                   kernels: prepared.kernels, threads: 2)
        #expect(alone.matrixRows(Tensor(zeros: [2, 9, 8])) == 18)
        var g = SeededGenerator(seed: 4)
        let cnn = try Sequential(inputShape: [1, 8, 8], layers: [Convolution(name: "conv", spatialDimensions: 2, inChannels: 1, outChannels: 2,
                                                                            kernel: 3, stride: 1, padding: 0, bias: true)], generator: &g)
        let convolutional = try #require(InferenceModel.build(cnn, engine: .dense, threads: 2))
        #expect(convolutional.blasThreads(forRows: 1, given: 2) == 2)
    }

    @Test(arguments: Family.allCases)
    func perMatrixInputsCoverEveryTransformerMatrix(family: Family) throws {
        let model = try prunedModel(family, seed: 12, sparsity: 0.5)
        let prepared = try #require(InferenceModel.build(model, engine: .dense, threads: 1))
        let inputs = prepared.matrixInputs(tokens([2, Self.configuration.context], seed: 13))
        #expect(inputs.count == (family == .gpt ? 8 : 14) + (family == .llamaUntied ? 1 : 0))
        for (matrix, input) in zip(prepared.program.matrices, inputs) {
            #expect(input.count == 2 * Self.configuration.context * matrix.fanIn, "\(matrix.name)")
        }
    }
}
}
