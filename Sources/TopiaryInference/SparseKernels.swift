import CTopiaryKernels
import TopiaryTensor

/// CSR weights: SpMV with gathers at batch 1, batch-streaming SpMM (features-major) above.
public final class CSRKernel: FormatKernel {
    public let engine = InferenceEngine.csr
    let matrix: CSRMatrix
    let bias: Tensor
    let relu: Bool

    public init(weight: Tensor, mask: Tensor, bias: Tensor, relu: Bool) {
        matrix = CSRMatrix(weights: weight, mask: mask)
        self.bias = bias.copy()
        self.relu = relu
    }

    public func apply(vector x: Tensor, into y: Tensor) {
        let m = matrix, r: Int32 = relu ? 1 : 0
        m.rowPointers.withUnsafeBufferPointer { rp in m.values.withUnsafeBufferPointer { v in
            if m.usesShortIndices {
                m.columnIndices16.withUnsafeBufferPointer { c in
                    topiary_csr16_spmv(m.rows, rp.baseAddress, c.baseAddress, v.baseAddress, x.pointer, bias.pointer, y.pointer, r)
                }
            } else {
                m.columnIndices32.withUnsafeBufferPointer { c in
                    topiary_csr32_spmv(m.rows, rp.baseAddress, c.baseAddress, v.baseAddress, x.pointer, bias.pointer, y.pointer, r)
                }
            }
        } }
    }

    public func apply(featureMajor xt: Tensor, into yt: Tensor, threads: Int) {
        let m = matrix, bias = bias, r: Int32 = relu ? 1 : 0, b = xt.columns
        forEachBatchBlock(b, threads: threads) { b0, b1 in
            m.rowPointers.withUnsafeBufferPointer { rp in m.values.withUnsafeBufferPointer { v in
                if m.usesShortIndices {
                    m.columnIndices16.withUnsafeBufferPointer { c in
                        topiary_csr16_spmm(m.rows, rp.baseAddress, c.baseAddress, v.baseAddress, xt.pointer, b,
                                           bias.pointer, yt.pointer, b, b0, b1, r)
                    }
                } else {
                    m.columnIndices32.withUnsafeBufferPointer { c in
                        topiary_csr32_spmm(m.rows, rp.baseAddress, c.baseAddress, v.baseAddress, xt.pointer, b,
                                           bias.pointer, yt.pointer, b, b0, b1, r)
                    }
                }
            } }
        }
    }
}

/// Dense int8 weights with per-row scales: an int8 GEMV at batch 1; above, the weights are
/// dequantized into a Float32 scratch per call and multiplied by BLAS (storage is int8;
/// the scratch is transient).
public final class Int8Kernel: FormatKernel {
    public let engine = InferenceEngine.int8
    let matrix: Int8Matrix
    let bias: Tensor
    let relu: Bool
    private let scratch: Tensor
    public var supportsBatchMajor: Bool { true }

    public init(weight: Tensor, bias: Tensor, relu: Bool) {
        matrix = Int8Matrix(weights: weight)
        self.bias = bias.copy()
        self.relu = relu
        scratch = Tensor(zeros: [weight.rows, weight.columns])
    }

    public func apply(vector x: Tensor, into y: Tensor) {
        let m = matrix
        m.q.withUnsafeBufferPointer { q in m.scales.withUnsafeBufferPointer { s in
            topiary_int8_gemv(m.rows, m.columns, q.baseAddress, s.baseAddress, x.pointer, bias.pointer, y.pointer, relu ? 1 : 0)
        } }
    }

    private func dequantize() {
        let m = matrix
        m.q.withUnsafeBufferPointer { q in m.scales.withUnsafeBufferPointer { s in
            topiary_int8_dequantize(m.rows, m.columns, q.baseAddress, s.baseAddress, scratch.pointer)
        } }
    }

    public func apply(featureMajor xt: Tensor, into yt: Tensor, threads: Int) {
        dequantize()
        DenseKernel.featureMajor(weight: scratch, bias: bias, relu: relu, xt, into: yt)
    }

    public func apply(batchMajor x: Tensor, into y: Tensor) {
        dequantize()
        DenseKernel.batchMajor(weight: scratch, bias: bias, relu: relu, x, into: y)
    }
}

/// int8 CSR: the int8 codes of the surviving weights with per-row scales.
public final class Int8CSRKernel: FormatKernel {
    public let engine = InferenceEngine.int8CSR
    let matrix: Int8CSRMatrix
    let bias: Tensor
    let relu: Bool

    public init(weight: Tensor, mask: Tensor, bias: Tensor, relu: Bool) {
        require(weight.columns <= 65_536, "int8 CSR keeps 16-bit column indices; \(weight.columns) columns is too many")
        matrix = Int8CSRMatrix(quantized: Int8Matrix(weights: weight), mask: mask)
        self.bias = bias.copy()
        self.relu = relu
    }

    public func apply(vector x: Tensor, into y: Tensor) {
        let m = matrix
        m.structure.rowPointers.withUnsafeBufferPointer { rp in m.structure.columnIndices16.withUnsafeBufferPointer { c in
            m.q.withUnsafeBufferPointer { q in m.scales.withUnsafeBufferPointer { s in
                topiary_int8_csr16_spmv(m.structure.rows, rp.baseAddress, c.baseAddress, q.baseAddress, s.baseAddress,
                                        x.pointer, bias.pointer, y.pointer, relu ? 1 : 0)
            } }
        } }
    }

    public func apply(featureMajor xt: Tensor, into yt: Tensor, threads: Int) {
        let m = matrix, bias = bias, r: Int32 = relu ? 1 : 0, b = xt.columns
        forEachBatchBlock(b, threads: threads) { b0, b1 in
            m.structure.rowPointers.withUnsafeBufferPointer { rp in m.structure.columnIndices16.withUnsafeBufferPointer { c in
                m.q.withUnsafeBufferPointer { q in m.scales.withUnsafeBufferPointer { s in
                    topiary_int8_csr16_spmm(m.structure.rows, rp.baseAddress, c.baseAddress, q.baseAddress, s.baseAddress,
                                            xt.pointer, b, bias.pointer, yt.pointer, b, b0, b1, r)
                } }
            } }
        }
    }
}

/// A kernel with only a one-sample routine: a larger batch runs it sample by sample,
/// batch-major (there is no features-major path).
protocol SampleBySampleKernel: FormatKernel {
    func apply(_ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>)
}

extension SampleBySampleKernel {
    public var supportsBatchMajor: Bool { true }
    public var supportsFeatureMajor: Bool { false }
    public func apply(vector x: Tensor, into y: Tensor) { apply(x.pointer, y.pointer) }
    public func apply(featureMajor xt: Tensor, into yt: Tensor, threads: Int) {
        fatalError("\(engine.rawValue) runs batch-major")
    }
    public func apply(batchMajor x: Tensor, into y: Tensor) {
        for b in 0..<x.rows { apply(x.pointer + b * inFeatures, y.pointer + b * outFeatures) }
    }
}

/// SELL-16/32 weights: batch-1 SpMV with register permutes; a larger batch runs one sample
/// at a time (the format has no batch kernel).
public final class SELLKernel: SampleBySampleKernel {
    public let engine = InferenceEngine.sell
    let matrix: SELLMatrix
    let bias: Tensor
    let relu: Bool

    public init(weight: Tensor, mask: Tensor, bias: Tensor, relu: Bool) {
        matrix = SELLMatrix(weights: weight, mask: mask)
        self.bias = bias.copy()
        self.relu = relu
    }

    func apply(_ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        let m = matrix
        m.chunkWindows.withUnsafeBufferPointer { cw in m.windowIndex.withUnsafeBufferPointer { wi in
            m.windowSlots.withUnsafeBufferPointer { ws in m.values.withUnsafeBufferPointer { v in
                m.offsets.withUnsafeBufferPointer { o in m.rowOrder.withUnsafeBufferPointer { order in
                    topiary_sell_spmv(m.rows, m.columns, cw.baseAddress, wi.baseAddress, ws.baseAddress, v.baseAddress,
                                      o.baseAddress, order.baseAddress, x, bias.pointer, y, relu ? 1 : 0)
                } }
            } }
        } }
    }
}

/// N:M-packed weights: batch 1 with one permute per row and 32-column window; a larger batch
/// runs one sample at a time.
public final class NMKernel: SampleBySampleKernel {
    public let engine = InferenceEngine.nm
    let matrix: NMMatrix
    let bias: Tensor
    let relu: Bool

    public init?(weight: Tensor, mask: Tensor, bias: Tensor, relu: Bool, n: Int, m: Int) {
        guard let matrix = NMMatrix(weights: weight, mask: mask, n: n, m: m) else { return nil }
        self.matrix = matrix
        self.bias = bias.copy()
        self.relu = relu
    }

    func apply(_ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        let m = matrix
        m.values.withUnsafeBufferPointer { v in m.offsets.withUnsafeBufferPointer { o in
            topiary_nm_spmv(m.rows, m.columns, m.windows, v.baseAddress, o.baseAddress, x, bias.pointer, y, relu ? 1 : 0)
        } }
    }
}
