import TopiaryNN
import TopiaryTensor

/// A model prepared for inference: an `InferenceProgram` with one engine's kernel per
/// matrix (or the compacted program with dense kernels).
///
/// `predict` takes batch-first inputs (B, inputShape…) and returns (B, outputShape…). A
/// Linear at one row runs as a vector. Consecutive Linears stay in whatever layout their
/// kernels take: batch-major (B, features) when they can, else features-major (features, B),
/// where the input is transposed once and back once at the end of the run — both transposes
/// are part of the measured latency. A convolution unrolls a chunk of samples into
/// (fan-in, positions) columns and applies its kernel features-major (the natural layout of
/// patches), or batch-major through one transpose for sample-by-sample formats.
public final class InferenceModel: @unchecked Sendable {
    public let program: InferenceProgram
    public let kernels: [any LayerKernel]
    /// Threads for features-major work (BLAS threads are set process-wide).
    public var threads: Int
    private var buffers: [ActivationBuffer] = []
    private var nextBuffer = 0
    /// Direct kernels for stride-1 convolutions whose kernel is dense (dense and compact
    /// engines), by matrix index: made on first use.
    private var directConvolutions: [Int: WideConvolution] = [:]
    /// Samples in the current call, for steps that need (B, T, C) back from (B·T, C) rows.
    var batch = 1
    /// Positions already in the KV caches: where the next tokens' positions start.
    var positionOffset = 0
    /// Per attention (its qkv matrix index): the caches of a running generation, and those a
    /// whole-window `predict` fills and reads once (kept only to reuse their memory).
    var generationCaches: [Int: KVCache] = [:]
    var windowCaches: [Int: KVCache] = [:]
    var generating = false
    /// Sees each matrix's batch-first input (per-matrix timing's real activations).
    var capture: ((Int, Tensor) -> Void)?

    /// Multiply-adds of the largest matrix product at one row: fan-in × outputs of the largest
    /// Linear or tied head; nil when the program has a convolution (whose rows per sample
    /// vary by layer), which keeps the BLAS threads it is given.
    let largestRowMultiplyAdds: Int?

    init(program: InferenceProgram, kernels: [any LayerKernel], threads: Int) {
        self.program = program
        self.kernels = kernels
        self.threads = threads
        largestRowMultiplyAdds = InferenceModel.largestRowMultiplyAdds(program)
        context = program.allSteps.lazy.compactMap { step -> Int? in
            switch step {
            case .positionEmbedding(let table): return table.rows
            case .groupedAttention(let attention): return attention.rotary.preparedPositions
            default: return nil
            }
        }.first
    }

    public var inputShape: [Int] { program.inputShape }
    /// Bytes of all matrices in the engines' formats, plus every other parameter the steps
    /// hold (affine and norm parameters) as Float32.
    public var bytes: Int { kernels.reduce(0) { $0 + $1.bytes } + 4 * InferenceModel.otherParameters(program.steps) }
    public var engines: [InferenceEngine] { kernels.map(\.engine) }

    static func otherParameters(_ steps: [InferenceStep]) -> Int {
        steps.reduce(0) { sum, step in
            switch step {
            case .channelAffine(let scale, let shift): return sum + scale.count + shift.count
            case .layerNorm(let gain, let shift, _): return sum + gain.count + shift.count
            case .rmsNorm(let gain, _): return sum + gain.count
            case .tokenEmbedding(let table), .positionEmbedding(let table): return sum + table.count
            case .residual(let body, let shortcut): return sum + otherParameters(body) + otherParameters(shortcut)
            default: return sum
            }
        }
    }

    /// One engine for every matrix; nil when it cannot serve this model (nm without N:M
    /// masks). For nm, matrices whose masks are not N:M run dense. `compact` runs the
    /// compacted program with dense kernels.
    public static func build(_ program: InferenceProgram, engine: InferenceEngine, threads: Int,
                             nOfM: (n: Int, m: Int)? = nil) -> InferenceModel? {
        if engine == .compact {
            let compacted = program.compacted()
            return InferenceModel(program: compacted, kernels: compacted.matrices.map { makeKernel($0, .dense)! }, threads: threads)
        }
        if engine == .nm {
            guard let nOfM else { return nil }
            let packed = program.matrices.map { makeKernel($0, .nm, nOfM: nOfM) }
            guard packed.contains(where: { $0 != nil }) else { return nil }
            let kernels = zip(program.matrices, packed).map { matrix, kernel in kernel ?? makeKernel(matrix, .dense)! }
            return InferenceModel(program: program, kernels: kernels, threads: threads)
        }
        return build(program, engines: Array(repeating: engine, count: program.matrices.count), threads: threads)
    }

    /// `model` prepared with one engine (see `build(_:engine:threads:nOfM:)` on a program);
    /// nil also when the model has no inference plan.
    public static func build(_ model: any Model, engine: InferenceEngine, threads: Int, nOfM: (n: Int, m: Int)? = nil) -> InferenceModel? {
        InferenceProgram(model).flatMap { build($0, engine: engine, threads: threads, nOfM: nOfM) }
    }

    /// A chosen engine per matrix (the auto mode's result).
    public static func build(_ program: InferenceProgram, engines: [InferenceEngine], threads: Int,
                             nOfM: (n: Int, m: Int)? = nil) -> InferenceModel? {
        require(engines.count == program.matrices.count, "\(engines.count) engines for \(program.matrices.count) matrices")
        var kernels: [any LayerKernel] = []
        for (matrix, engine) in zip(program.matrices, engines) {
            guard let kernel = makeKernel(matrix, engine, nOfM: nOfM) else { return nil }
            kernels.append(kernel)
        }
        return InferenceModel(program: program, kernels: kernels, threads: threads)
    }

    /// One matrix's kernel for a per-matrix engine (nil when it does not apply).
    public static func makeKernel(_ matrix: InferenceMatrix, _ engine: InferenceEngine,
                                  nOfM: (n: Int, m: Int)? = nil) -> (any LayerKernel)? {
        let (w, k, b, relu) = (matrix.weight, matrix.mask, matrix.bias, matrix.relu)
        switch engine {
        case .dense: return DenseKernel(weight: w, bias: b, relu: relu)
        case .csr: return CSRKernel(weight: w, mask: k, bias: b, relu: relu)
        case .sell: return SELLKernel(weight: w, mask: k, bias: b, relu: relu)
        case .int8: return Int8Kernel(weight: w, bias: b, relu: relu)
        case .int8CSR: return w.columns <= 65_536 ? Int8CSRKernel(weight: w, mask: k, bias: b, relu: relu) : nil
        case .nm:
            guard let nOfM else { return nil }
            return NMKernel(weight: w, mask: k, bias: b, relu: relu, n: nOfM.n, m: nOfM.m)
        case .compact: return nil
        }
    }

    /// Outputs (B, outputShape…) for x (B, inputShape…); valid until the next call.
    public func predict(_ x: Tensor) -> Tensor {
        require(Array(x.shape.dropFirst()) == program.inputShape || (x.rank == 2 && x.columns == program.inputShape.reduce(1, *)),
                "expected (B, \(program.inputShape)), got \(x.shape)")
        nextBuffer = 0
        (batch, positionOffset, generating) = (x.shape[0], 0, false)   // a whole window ends any generation
        let input = x.reshaped([x.shape[0]] + program.inputShape)
        let rows = matrixRows(x)
        let result = withBLASThreads(forRows: rows) { batchMajor(run(program.steps, Flow(tensor: input, featureMajor: false))) }
        return program.outputShape.isEmpty ? result : result.reshaped([x.shape[0]] + program.outputShape)
    }

    /// Positions a window (and a generation's cache) holds: the position table's rows, or the
    /// positions rotary tables were prepared for; nil for models without attention.
    public let context: Int?

    /// Of a transformer program: residual width, vocabulary (the tied head's rows, else the
    /// last matrix's), and per block the width queries attend with (NH·hs: smaller than the
    /// residual width once compaction dropped heads) and the cached key/value width (NKV·hs).
    public var transformerShape: (channels: Int, vocabulary: Int, attentionWidths: [Int], keyValueWidths: [Int]) {
        let attentions = program.attentionCaches
        let vocabulary = program.allSteps.lazy.compactMap { step -> Int? in
            if case .tiedHead(let table) = step { return table.rows }
            return nil
        }.first ?? program.matrices.last?.rows ?? 0
        return (attentions.last.map { program.matrices[$0.key].fanIn } ?? 0, vocabulary, attentions.map(\.queryWidth),
                attentions.map { $0.keyValueHeads * $0.headSize })
    }

    /// Starts generating `batch` sequences: empty KV caches for every attention.
    public func startGeneration(batch: Int) {
        require(batch >= 1, "generation needs at least one sequence, got \(batch)")
        guard let context else { preconditionFailure("a model without positions (no attention) has nothing to cache") }
        generationCaches = caches(batch: batch, context: context, reusing: generationCaches)
        (generating, self.batch, positionOffset) = (true, batch, 0)
    }

    /// Feeds the next n tokens (B, n) of every sequence (ids as floats) and returns their
    /// logits (B, n, V); valid until the next call. Their positions follow those fed since
    /// `startGeneration`, at most `context` in all.
    public func extend(_ tokens: Tensor) -> Tensor {
        require(generating, "extend needs startGeneration first")
        require(tokens.rank == 2 && tokens.shape[0] == batch && tokens.shape[1] >= 1,
                "expected (\(batch), n ≥ 1) tokens, got \(tokens.shape)")
        require(positionOffset + tokens.shape[1] <= context!,
                "\(positionOffset) cached + \(tokens.shape[1]) new positions exceed the context of \(context!)")
        nextBuffer = 0
        let logits = withBLASThreads(forRows: matrixRows(tokens)) { batchMajor(run(program.steps, Flow(tensor: tokens, featureMajor: false))) }
        positionOffset += tokens.shape[1]
        return logits.reshaped([batch, tokens.shape[1], logits.count / (batch * tokens.shape[1])])
    }

    /// Positions the running generation's caches hold.
    public var cachedPositions: Int { generating ? positionOffset : 0 }
    /// Bytes of the running generation's KV caches.
    public var kvCacheBytes: Int { generationCaches.values.reduce(0) { $0 + $1.bytes } }

    /// One cache per attention step for (batch, context), reusing `existing` when it fits.
    func caches(batch: Int, context: Int, reusing existing: [Int: KVCache]) -> [Int: KVCache] {
        var result: [Int: KVCache] = [:]
        for attention in program.attentionCaches {
            if let old = existing[attention.key], old.batch == batch, old.context == context { result[attention.key] = old; continue }
            result[attention.key] = KVCache(batch: batch, heads: attention.keyValueHeads, context: context, headSize: attention.headSize)
        }
        return result
    }

    /// A tensor between steps: batch-first, or features-major (features, rows) inside a run of
    /// Linears whose kernels work that way.
    struct Flow {
        let tensor: Tensor
        let featureMajor: Bool
    }

    func buffer(_ shape: [Int]) -> Tensor {
        if nextBuffer == buffers.count { buffers.append(ActivationBuffer()) }
        defer { nextBuffer += 1 }
        return buffers[nextBuffer].tensor(shape)
    }

    func batchMajor(_ flow: Flow) -> Tensor {
        guard flow.featureMajor else { return flow.tensor }
        let y = buffer([flow.tensor.columns, flow.tensor.rows])
        transpose(flow.tensor, into: y)
        return y
    }

    private func run(_ steps: [InferenceStep], _ input: Flow) -> Flow {
        var flow = input
        for step in steps {
            switch step {
            case .matrix(let m):
                flow = program.matrices[m].geometry == nil ? linear(m, flow) : Flow(tensor: convolution(m, batchMajor(flow)), featureMajor: false)
            case .activation(let activation):
                let y = buffer(flow.tensor.shape)
                activation.forward(flow.tensor.pointer, y.pointer, count: y.count)
                flow = Flow(tensor: y, featureMajor: flow.featureMajor)
            case .channelAffine(let scale, let shift):
                flow = Flow(tensor: InferenceOps.channelAffine(flow.tensor, scale, shift, featureMajor: flow.featureMajor, buffer(flow.tensor.shape)),
                            featureMajor: flow.featureMajor)
            case .maxPool(let geometry):
                let x = batchMajor(flow)
                flow = Flow(tensor: InferenceOps.pool(x, geometry, maximum: true, into: buffer(Array(x.shape.prefix(2)) + geometry.outputSize), threads: threads), featureMajor: false)
            case .averagePool(let geometry):
                let x = batchMajor(flow)
                flow = Flow(tensor: InferenceOps.pool(x, geometry, maximum: false, into: buffer(Array(x.shape.prefix(2)) + geometry.outputSize), threads: threads), featureMajor: false)
            case .globalAveragePool:
                let x = batchMajor(flow)
                flow = Flow(tensor: InferenceOps.globalAverage(x, into: buffer(Array(x.shape.prefix(2)))), featureMajor: false)
            case .flatten:
                flow = Flow(tensor: batchMajor(flow).asRows, featureMajor: false)
            case .residual(let body, let shortcut):
                let x = Flow(tensor: batchMajor(flow), featureMajor: false)
                let b = batchMajor(run(body, x)), s = batchMajor(run(shortcut, x))
                let y = buffer(b.shape)
                simdMap(y.count, b.pointer, s.pointer, y.pointer, { $0 + $1 }, { $0 + $1 })
                flow = Flow(tensor: y, featureMajor: false)
            case .layerNorm(let gain, let shift, let epsilon):
                let x = batchMajor(flow)
                flow = Flow(tensor: InferenceOps.layerNorm(x, gain, shift, epsilon, into: buffer(x.shape)), featureMajor: false)
            case .tokenEmbedding(let table):
                let ids = batchMajor(flow), features = table.columns
                let y = buffer(ids.shape + [features])
                for i in 0..<ids.count {
                    let id = Int(ids[i])
                    require(Float(id) == ids[i] && id >= 0 && id < table.rows, "token \(ids[i]) is outside 0..<\(table.rows)")
                    (y.pointer + i * features).update(from: table.pointer + id * features, count: features)
                }
                flow = Flow(tensor: y, featureMajor: false)
            case .positionEmbedding(let table):
                let x = batchMajor(flow), features = table.columns
                let positions = x.count / (batch * features)
                require(positionOffset + positions <= table.rows, "positions \(positionOffset) ..< \(positionOffset + positions) exceed the context of \(table.rows)")
                let y = buffer([batch, positions, features])
                for b in 0..<batch {
                    simdMap(positions * features, x.pointer + b * positions * features, table.pointer + positionOffset * features,
                            y.pointer + b * positions * features, { $0 + $1 }, { $0 + $1 })
                }
                flow = Flow(tensor: y, featureMajor: false)
            case .attention(let qkv, let proj, let heads):
                flow = attention(qkv: qkv, proj: proj, heads: heads, flow)
            case .groupedAttention(let attention):
                flow = groupedAttention(attention, flow)
            case .rmsNorm(let gain, let epsilon):
                let x = batchMajor(flow), y = buffer(x.shape), n = gain.count
                gain.withUnsafeBufferPointer { gain in
                    for r in 0..<(x.count / n) {
                        _ = RMSNorm.normalize(x.pointer + r * n, gain: gain.baseAddress!, count: n, epsilon: epsilon, into: y.pointer + r * n)
                    }
                }
                flow = Flow(tensor: y, featureMajor: false)
            case .gatedMLP(let gate, let up, let down):
                let x = Flow(tensor: batchMajor(flow), featureMajor: false)
                let g = batchMajor(linear(gate, x)), u = batchMajor(linear(up, x))
                let h = buffer(g.shape)
                GatedMLP.gatedActivation(gate: g.pointer, up: u.pointer, activated: h.pointer, into: h.pointer, count: h.count)
                flow = linear(down, Flow(tensor: h, featureMajor: false))
            case .tiedHead(let table):
                let x = batchMajor(flow), (vocabulary, features) = (table.rows, table.columns)
                let rows = x.count / features
                let y = buffer([rows, vocabulary])
                matmul(x.reshaped([rows, features]), table, transposeB: true, into: y)
                flow = Flow(tensor: y, featureMajor: false)
            case .scale(let factor):
                let y = buffer(flow.tensor.shape)
                simdMap(y.count, flow.tensor.pointer, y.pointer, { $0 * factor }, { $0 * factor })
                flow = Flow(tensor: y, featureMajor: flow.featureMajor)
            case .gather(let columns):
                let x = batchMajor(flow).asRows
                let y = buffer([x.rows, columns.count])
                for b in 0..<x.rows {
                    let (source, target) = (x.pointer + b * x.columns, y.pointer + b * columns.count)
                    for (c, j) in columns.enumerated() { target[c] = source[j] }
                }
                flow = Flow(tensor: y, featureMajor: false)
            }
        }
        return flow
    }

    /// A Linear over the last axis: a vector at one row, else batch-major or features-major
    /// as the kernel (and the layout it is handed) allows.
    func linear(_ m: Int, _ flow: Flow) -> Flow {
        if let capture { capture(m, batchMajor(flow)) }
        return applyLinear(m, flow)
    }

    private func applyLinear(_ m: Int, _ flow: Flow) -> Flow {
        let kernel = kernels[m]
        if flow.featureMajor {
            if kernel.supportsFeatureMajor {
                let yt = buffer([kernel.outFeatures, flow.tensor.columns])
                kernel.apply(featureMajor: flow.tensor, into: yt, threads: threads)
                return Flow(tensor: yt, featureMajor: true)
            }
            return applyLinear(m, Flow(tensor: batchMajor(flow), featureMajor: false))
        }
        let x = flow.tensor
        // From the shape, not count / fan-in: a compacted matrix can have no columns left.
        let rows = x.shape.dropLast().reduce(1, *)
        let outShape = Array(x.shape.dropLast()) + [kernel.outFeatures]
        if rows == 1 {
            let y = buffer(outShape)
            kernel.apply(vector: x.reshaped([kernel.inFeatures]), into: y.reshaped([kernel.outFeatures]))
            return Flow(tensor: y, featureMajor: false)
        }
        if kernel.supportsBatchMajor {
            let y = buffer(outShape)
            kernel.apply(batchMajor: x.reshaped([rows, kernel.inFeatures]), into: y.reshaped([rows, kernel.outFeatures]))
            return Flow(tensor: y, featureMajor: false)
        }
        let xt = buffer([kernel.inFeatures, rows])
        transpose(x.reshaped([rows, kernel.inFeatures]), into: xt)
        return applyLinear(m, Flow(tensor: xt, featureMajor: true))
    }

    /// A convolution on (B, C, spatial…). Dense stride-1 kernels run directly on wide rows
    /// (as training does, `WideConvolution`); others unroll chunks of samples to (fan-in,
    /// chunk·P) for their kernel.
    private func convolution(_ m: Int, _ x: Tensor) -> Tensor {
        let kernel = kernels[m], matrix = program.matrices[m]
        capture?(m, x)
        let unroll = matrix.unroll!, geometry = matrix.geometry!
        let (k, p, batch) = (unroll.patchSize, unroll.positions, x.shape[0])
        let y = buffer([batch, geometry.outChannels] + geometry.outputSize)
        if k == 0 || matrix.rows == 0 {
            // Compaction removed every input channel (or every filter): each output is its
            // activated bias at every position.
            for b in 0..<batch {
                for c in 0..<matrix.rows {
                    let value = matrix.relu ? max(matrix.bias[c], 0) : matrix.bias[c]
                    (y.pointer + (b * matrix.rows + c) * p).update(repeating: value, count: p)
                }
            }
            return y
        }
        if kernel.engine == .dense, unroll.strideHeight == 1, unroll.strideWidth == 1, matrix.rows > 0 {
            let direct = directConvolutions[m] ?? WideConvolution(unroll, outputs: matrix.rows)
            directConvolutions[m] = direct
            direct.forward(x, weight: matrix.weight, bias: matrix.bias, rectify: matrix.relu, into: y, threads: threads)
            return y
        }
        let perChunk = max(1, (1 << 16) / (k * p))
        let columns = buffer([k, min(perChunk, batch) * p])
        let staging = buffer([geometry.outChannels, min(perChunk, batch) * p])
        let transposedColumns = kernel.supportsFeatureMajor ? nil : buffer([min(perChunk, batch) * p, k])
        let batchOutput = kernel.supportsFeatureMajor ? nil : buffer([min(perChunk, batch) * p, geometry.outChannels])
        var start = 0
        while start < batch {
            let n = min(perChunk, batch - start)
            let col = Tensor(storage: columns.storage, offset: 0, shape: [k, n * p])
            for j in 0..<n {
                im2col(x.pointer + (start + j) * unroll.imageSize, unroll, into: col.pointer + j * p, columnStride: n * p)
            }
            if kernel.supportsFeatureMajor {
                if n == 1 {
                    kernel.apply(featureMajor: col, into: Tensor(storage: y.storage, offset: y.offset + start * geometry.outChannels * p,
                                                                 shape: [geometry.outChannels, p]), threads: threads)
                } else {
                    let out = Tensor(storage: staging.storage, offset: 0, shape: [geometry.outChannels, n * p])
                    kernel.apply(featureMajor: col, into: out, threads: threads)
                    for j in 0..<n {
                        for c in 0..<geometry.outChannels {
                            (y.pointer + ((start + j) * geometry.outChannels + c) * p).update(from: out.pointer + c * n * p + j * p, count: p)
                        }
                    }
                }
            } else {
                let rows = Tensor(storage: transposedColumns!.storage, offset: 0, shape: [n * p, k])
                transpose(col, into: rows)
                let out = Tensor(storage: batchOutput!.storage, offset: 0, shape: [n * p, geometry.outChannels])
                kernel.apply(batchMajor: rows, into: out)
                for j in 0..<n {
                    let sample = Tensor(storage: y.storage, offset: y.offset + (start + j) * geometry.outChannels * p, shape: [geometry.outChannels, p])
                    transpose(Tensor(storage: out.storage, offset: j * p * geometry.outChannels, shape: [p, geometry.outChannels]), into: sample)
                }
            }
            start += n
        }
        return y
    }
}
