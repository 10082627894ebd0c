import CTopiaryKernels
import TopiaryTensor

/// One weight matrix (rows × fan-in) plus its bias and an optional fused ReLU, prepared for an
/// engine: a Linear layer, or a convolution applied to unrolled patches.
///
/// Layouts: a batch of one is a vector; larger batches run either batch-major (B, features),
/// as training does, or features-major (features, B), where a sparse row's nonzeros each
/// add a contiguous row of the input to the output (a convolution's unrolled patches are
/// features-major already: (fan-in, positions)).
public protocol LayerKernel: AnyObject, Sendable {
    var engine: InferenceEngine { get }
    var inFeatures: Int { get }
    var outFeatures: Int { get }
    /// Bytes of this layer's parameters in the engine's format (values, indices, scales, bias).
    var bytes: Int { get }
    /// y (out) = act(W x + b) for x (in): a batch of one.
    func apply(vector x: Tensor, into y: Tensor)
    /// yt (out, B) = act(W xt + b) for xt (in, B), with `threads` workers.
    func apply(featureMajor xt: Tensor, into yt: Tensor, threads: Int)
    /// y (B, out) = act(x Wᵀ + b) for x (B, in); nil when the engine has no batch-major path.
    var supportsBatchMajor: Bool { get }
    func apply(batchMajor x: Tensor, into y: Tensor)
    /// Whether `apply(featureMajor:)` exists (sample-by-sample formats have none).
    var supportsFeatureMajor: Bool { get }
}

/// A kernel over one weight-matrix format plus a Float32 bias: its shape and bytes follow
/// from the format.
protocol FormatKernel: LayerKernel {
    associatedtype Format: WeightMatrixFormat
    var matrix: Format { get }
    var bias: Tensor { get }
}

extension FormatKernel {
    public var inFeatures: Int { matrix.columns }
    public var outFeatures: Int { matrix.rows }
    public var bytes: Int { matrix.bytes + 4 * bias.count }
}

extension LayerKernel {
    public var supportsBatchMajor: Bool { false }
    public var supportsFeatureMajor: Bool { true }
    public func apply(batchMajor x: Tensor, into y: Tensor) {
        fatalError("\(engine.rawValue) has no batch-major path")
    }
}

/// Batch columns per work item of a features-major SpMM: 64 floats (256 bytes) of each input
/// row (784 rows: 200 KiB), so the block of the input stays in L2 while every row of W streams
/// over it, and the 64 outputs of a row stay in registers.
let spmmBlock = 64

/// Splits batch columns [0, B) into cache blocks spread over `threads` workers.
func forEachBatchBlock(_ batch: Int, threads: Int, _ body: @Sendable (Int, Int) -> Void) {
    let blocks = (batch + spmmBlock - 1) / spmmBlock
    parallelChunks(count: blocks * 16, parts: min(threads, blocks)) { range in
        var block = range.lowerBound / 16
        while block * 16 < range.upperBound {
            body(block * spmmBlock, min((block + 1) * spmmBlock, batch))
            block += 1
        }
    }
}

/// Adds `bias` to every column of yt (out, B) and applies ReLU when asked.
func finishFeatureMajor(_ yt: Tensor, bias: Tensor, relu: Bool) {
    let b = yt.columns
    for i in 0..<yt.rows {
        let row = yt.pointer + i * b
        let value = bias[i]
        simdMap(b, row, row, { relu ? ($0 + value).replacing(with: 0, where: $0 + value .< 0) : $0 + value },
                { relu ? max($0 + value, 0) : $0 + value })
    }
}

/// Dense Float32 weights through BLAS.
public final class DenseKernel: LayerKernel {
    public let engine = InferenceEngine.dense
    let weight: Tensor
    let bias: Tensor
    let relu: Bool
    public var inFeatures: Int { weight.columns }
    public var outFeatures: Int { weight.rows }
    public var bytes: Int { 4 * (weight.count + bias.count) }
    public var supportsBatchMajor: Bool { true }

    public init(weight: Tensor, bias: Tensor, relu: Bool) {
        self.weight = weight.copy()
        self.bias = bias.copy()
        self.relu = relu
    }

    public func apply(vector x: Tensor, into y: Tensor) {
        apply(batchMajor: x.reshaped([1, inFeatures]), into: y.reshaped([1, outFeatures]))  // GEMV inside
    }

    public func apply(featureMajor xt: Tensor, into yt: Tensor, threads: Int) {
        DenseKernel.featureMajor(weight: weight, bias: bias, relu: relu, xt, into: yt)
    }

    public func apply(batchMajor x: Tensor, into y: Tensor) {
        DenseKernel.batchMajor(weight: weight, bias: bias, relu: relu, x, into: y)
    }

    /// yt (out, B) = act(W xt + b) through BLAS, for any Float32 `weight` (out, in).
    static func featureMajor(weight: Tensor, bias: Tensor, relu: Bool, _ xt: Tensor, into yt: Tensor) {
        matmul(weight, xt, into: yt)
        finishFeatureMajor(yt, bias: bias, relu: relu)
    }

    /// y (B, out) = act(x Wᵀ + b) through BLAS, for any Float32 `weight` (out, in).
    static func batchMajor(weight: Tensor, bias: Tensor, relu: Bool, _ x: Tensor, into y: Tensor) {
        broadcastRow(bias, into: y)
        matmul(x, weight, transposeB: true, into: y, beta: 1)
        if relu { reluForward(y, into: y) }
    }
}
