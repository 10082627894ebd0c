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

    init(program: InferenceProgram, kernels: [any LayerKernel], threads: Int) {
        self.program = program
        self.kernels = kernels
        self.threads = threads
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
        let input = x.reshaped([x.shape[0]] + program.inputShape)
        let result = run(program.steps, Flow(tensor: input, featureMajor: false))
        return batchMajor(result)
    }

    /// A tensor between steps: batch-first, or features-major (features, rows) inside a run of
    /// Linears whose kernels work that way.
    struct Flow {
        let tensor: Tensor
        let featureMajor: Bool
    }

    private func buffer(_ shape: [Int]) -> Tensor {
        if nextBuffer == buffers.count { buffers.append(ActivationBuffer()) }
        defer { nextBuffer += 1 }
        return buffers[nextBuffer].tensor(shape)
    }

    private func batchMajor(_ flow: Flow) -> Tensor {
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
    private func linear(_ m: Int, _ flow: Flow) -> Flow {
        let kernel = kernels[m]
        if flow.featureMajor {
            if kernel.supportsFeatureMajor {
                let yt = buffer([kernel.outFeatures, flow.tensor.columns])
                kernel.apply(featureMajor: flow.tensor, into: yt, threads: threads)
                return Flow(tensor: yt, featureMajor: true)
            }
            return linear(m, Flow(tensor: batchMajor(flow), featureMajor: false))
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
        require(x.rank == 2, "features-major Linears run on (B, features) inputs, got \(x.shape)")
        let xt = buffer([kernel.inFeatures, rows])
        transpose(x, into: xt)
        return linear(m, Flow(tensor: xt, featureMajor: true))
    }

    /// A convolution on (B, C, spatial…). Dense stride-1 kernels run directly on wide rows
    /// (as training does, `WideConvolution`); others unroll chunks of samples to (fan-in,
    /// chunk·P) for their kernel.
    private func convolution(_ m: Int, _ x: Tensor) -> Tensor {
        let kernel = kernels[m], matrix = program.matrices[m]
        let unroll = matrix.unroll!, geometry = matrix.geometry!
        let (k, p, batch) = (unroll.patchSize, unroll.positions, x.shape[0])
        let y = buffer([batch, geometry.outChannels] + geometry.outputSize)
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

    /// The input each matrix step receives when the dense program runs on `x`, batch-first
    /// (what per-matrix timing feeds each engine's kernel).
    public func matrixInputs(_ x: Tensor) -> [Tensor] {
        var captured = [Tensor?](repeating: nil, count: program.matrices.count)
        func walk(_ steps: [InferenceStep], _ input: Tensor) -> Tensor {
            var value = input
            for step in steps {
                if case .matrix(let m) = step { captured[m] = value.copy() }
                if case .residual(let body, let shortcut) = step {
                    let b = walk(body, value).copy(), s = walk(shortcut, value)
                    let y = Tensor(zeros: b.shape)
                    simdMap(y.count, b.pointer, s.pointer, y.pointer, { $0 + $1 }, { $0 + $1 })
                    value = y
                    continue
                }
                nextBuffer = 0
                value = batchMajor(run([step], Flow(tensor: value, featureMajor: false))).copy()
            }
            return value
        }
        _ = walk(program.steps, x.reshaped([x.shape[0]] + program.inputShape))
        return captured.map { $0! }
    }

    /// One call of matrix `m` with `kernel` on `input` (a batch-first activation), as `predict`
    /// runs it: for per-matrix timing. A Linear whose kernel works features-major is timed on
    /// an input already in that layout (inside a run of such Linears there is no transpose).
    public func matrixCall(_ m: Int, kernel: any LayerKernel, input: Tensor) -> () -> Void {
        let rows = input.shape.dropLast().reduce(1, *)
        if program.matrices[m].geometry == nil, rows > 1, !kernel.supportsBatchMajor {
            let xt = Tensor(zeros: [kernel.inFeatures, rows]), yt = Tensor(zeros: [kernel.outFeatures, rows])
            transpose(input.reshaped([rows, kernel.inFeatures]), into: xt)
            let threads = threads
            return { kernel.apply(featureMajor: xt, into: yt, threads: threads) }
        }
        let single = InferenceModel(program: InferenceProgram(steps: [.matrix(m)], matrices: program.matrices, inputShape: Array(input.shape.dropFirst()),
                                                              outputShape: []),
                                    kernels: kernels.enumerated().map { $0.offset == m ? kernel : $0.element }, threads: threads)
        return { _ = single.predict(input) }
    }
}
