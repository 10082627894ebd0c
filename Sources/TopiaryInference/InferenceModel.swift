import TopiaryNN
import TopiaryTensor

/// A model prepared for inference with one engine per layer (or the compacted model).
///
/// `predict` takes a batch-major input (B, features) and returns the logits (B, outputs).
/// A batch of one runs as vectors. Larger batches run batch-major when every layer can
/// (dense BLAS, as training does); otherwise the input is transposed once to
/// (features, B), every layer runs features-major, and the output is transposed back —
/// both transposes are part of the measured latency.
public final class InferenceModel: @unchecked Sendable {
    public let kernels: [any LayerKernel]
    /// Original input features to gather before the first layer (compaction), or nil.
    public let inputColumns: [Int]?
    public let inputFeatures: Int
    /// Threads for features-major work (BLAS threads are set process-wide).
    public var threads: Int
    private var buffers: [Int: [Tensor]] = [:]

    init(kernels: [any LayerKernel], inputColumns: [Int]?, inputFeatures: Int, threads: Int) {
        self.kernels = kernels
        self.inputColumns = inputColumns
        self.inputFeatures = inputFeatures
        self.threads = threads
    }

    public var outputFeatures: Int { kernels.last!.outFeatures }
    /// Bytes of all parameters in the engines' formats.
    public var bytes: Int { kernels.reduce(0) { $0 + $1.bytes } }
    public var engines: [InferenceEngine] { kernels.map(\.engine) }

    /// One engine for every layer; nil when the engine cannot serve this model (nm without
    /// N:M masks). For nm, layers whose masks are not N:M (excluded layers) run dense.
    public static func build(_ model: Sequential, engine: InferenceEngine, threads: Int,
                             nOfM: (n: Int, m: Int)? = nil) -> InferenceModel? {
        let stack = LinearStack(model)
        if engine == .nm {
            guard let nOfM else { return nil }
            let packed = stack.layers.map { makeKernel($0, .nm, nOfM: nOfM) }
            guard packed.contains(where: { $0 != nil }) else { return nil }
            let kernels = zip(stack.layers, packed).map { layer, kernel in kernel ?? makeKernel(layer, .dense)! }
            return InferenceModel(kernels: kernels, inputColumns: nil, inputFeatures: stack.inputFeatures, threads: threads)
        }
        if engine == .compact {
            let compacted = CompactedStack(stack)
            let kernels = compacted.stack.layers.map { DenseKernel(weight: $0.weight, bias: $0.bias, relu: $0.relu) as any LayerKernel }
            let gather = compacted.inputColumns.count == stack.inputFeatures ? nil : compacted.inputColumns
            return InferenceModel(kernels: kernels, inputColumns: gather, inputFeatures: stack.inputFeatures, threads: threads)
        }
        return build(model, engines: Array(repeating: engine, count: stack.layers.count), threads: threads)
    }

    /// A chosen engine per layer (the auto mode's result).
    public static func build(_ model: Sequential, engines: [InferenceEngine], threads: Int,
                             nOfM: (n: Int, m: Int)? = nil) -> InferenceModel? {
        let stack = LinearStack(model)
        require(engines.count == stack.layers.count, "\(engines.count) engines for \(stack.layers.count) layers")
        var kernels: [any LayerKernel] = []
        for (layer, engine) in zip(stack.layers, engines) {
            guard let kernel = makeKernel(layer, engine, nOfM: nOfM) else { return nil }
            kernels.append(kernel)
        }
        return InferenceModel(kernels: kernels, inputColumns: nil, inputFeatures: stack.inputFeatures, threads: threads)
    }

    /// One layer's kernel for a per-layer engine (nil when it does not apply).
    public static func makeKernel(_ layer: LinearStack.Layer, _ engine: InferenceEngine,
                                  nOfM: (n: Int, m: Int)? = nil) -> (any LayerKernel)? {
        switch engine {
        case .dense: return DenseKernel(weight: layer.weight, bias: layer.bias, relu: layer.relu)
        case .csr: return CSRKernel(weight: layer.weight, mask: layer.mask, bias: layer.bias, relu: layer.relu)
        case .sell: return SELLKernel(weight: layer.weight, mask: layer.mask, bias: layer.bias, relu: layer.relu)
        case .int8: return Int8Kernel(weight: layer.weight, bias: layer.bias, relu: layer.relu)
        case .int8CSR:
            return layer.weight.columns <= 65_536 ? Int8CSRKernel(weight: layer.weight, mask: layer.mask, bias: layer.bias, relu: layer.relu) : nil
        case .nm:
            guard let nOfM else { return nil }
            return NMKernel(weight: layer.weight, mask: layer.mask, bias: layer.bias, relu: layer.relu, n: nOfM.n, m: nOfM.m)
        case .compact: return nil
        }
    }

    /// Logits (B, outputs) for x (B, inputFeatures); valid until the next call.
    public func predict(_ x: Tensor) -> Tensor {
        require(x.rank == 2 && x.columns == inputFeatures, "expected (B, \(inputFeatures)), got \(x.shape)")
        let batch = x.rows
        let buffers = self.buffers(batch)
        var input = x
        if let inputColumns {
            input = buffers[0]
            for b in 0..<batch {
                let (source, target) = (x.pointer + b * x.columns, input.pointer + b * inputColumns.count)
                for (c, j) in inputColumns.enumerated() { target[c] = source[j] }
            }
        }
        if batch == 1 {
            var v = input.reshaped([input.count])
            for (k, kernel) in kernels.enumerated() {
                let y = buffers[1 + k].reshaped([kernel.outFeatures])
                kernel.apply(vector: v, into: y)
                v = y
            }
            return v.reshaped([1, outputFeatures])
        }
        if kernels.allSatisfy(\.supportsBatchMajor) {
            var h = input
            for (k, kernel) in kernels.enumerated() {
                kernel.apply(batchMajor: h, into: buffers[1 + k])
                h = buffers[1 + k]
            }
            return h
        }
        let transposed = buffers[1 + kernels.count]
        transpose(input, into: transposed)
        var ht = transposed
        for (k, kernel) in kernels.enumerated() {
            let yt = buffers[2 + kernels.count + k]
            kernel.apply(featureMajor: ht, into: yt, threads: threads)
            ht = yt
        }
        let output = buffers[2 + 2 * kernels.count]
        transpose(ht, into: output)
        return output
    }

    /// Scratch per batch size: gathered input, batch-major outputs, the transposed input,
    /// features-major outputs, the transposed logits.
    private func buffers(_ batch: Int) -> [Tensor] {
        if let cached = buffers[batch] { return cached }
        let firstIn = kernels[0].inFeatures
        var list = [Tensor(zeros: [batch, firstIn])]
        list += kernels.map { Tensor(zeros: [batch, $0.outFeatures]) }
        list.append(Tensor(zeros: [firstIn, batch]))
        list += kernels.map { Tensor(zeros: [$0.outFeatures, batch]) }
        list.append(Tensor(zeros: [batch, outputFeatures]))
        buffers[batch] = list
        return list
    }
}
