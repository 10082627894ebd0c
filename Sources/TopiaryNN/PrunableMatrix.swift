import TopiaryTensor

/// A weight that pruning acts on, seen as a matrix (outputs × fan-in): a Linear's (out, in),
/// a convolution's (out_channels, in_channels·kh·kw), an attention projection's (out, in).
/// Every scorer, granularity and inference engine is written against this view, never
/// against a layer type.
///
/// Row i is output unit i (neuron, channel); column j is one input the unit reads (a
/// feature, or one channel at one kernel offset). `positions` is how many times per sample the
/// matrix is applied (1 for an MLP, Hₒ·Wₒ for a convolution, T for a sequence), so a matrix
/// costs 2 · rows · fanIn · positions FLOPs per sample.
public final class PrunableMatrix: @unchecked Sendable {
    public let parameter: Parameter
    public let rows: Int
    public let fanIn: Int
    /// Applications per sample (output positions of a convolution), for FLOPs.
    public let positions: Int
    /// What kind of operation applies it, for inference engines and FLOP accounting.
    public let operation: Operation
    /// The layer's inputs in fan-in layout, for data-driven scorers.
    public let observer: FanInObserver
    /// A path added beside the product (LoRA adapters in their own path); nil normally.
    public var branch: (any FanInBranch)?

    public enum Operation: Sendable, Equatable {
        case linear
        case convolution(ConvolutionGeometry)
    }

    public init(parameter: Parameter, rows: Int, fanIn: Int, positions: Int, operation: Operation,
                observer: FanInObserver) {
        require(rows * fanIn == parameter.count, "\(parameter.name): \(rows) × \(fanIn) does not view \(parameter.shape)")
        self.parameter = parameter
        self.rows = rows
        self.fanIn = fanIn
        self.positions = positions
        self.operation = operation
        self.observer = observer
    }

    public var name: String { parameter.name }
    public var layerName: String { parameter.layerName }
    public var count: Int { parameter.count }
    /// (rows, fanIn) views of the weight, its gradient and its mask.
    public var value: Tensor { parameter.value.reshaped([rows, fanIn]) }
    public var grad: Tensor { parameter.grad.reshaped([rows, fanIn]) }
    public var mask: Tensor { parameter.mask.reshaped([rows, fanIn]) }
    public var aliveCount: Int { countNonzeros(parameter.mask) }
    /// Multiply-adds ×2 per sample, dense.
    public var denseFLOPs: Int { 2 * count * positions }
    /// Counting surviving weights only.
    public var effectiveFLOPs: Int { 2 * aliveCount * positions }
}

/// A convolution's shape: what a kernel of the unrolled matrix slides over.
public struct ConvolutionGeometry: Sendable, Equatable, Codable {
    public var inChannels: Int, outChannels: Int
    public var kernel: [Int]
    public var stride: [Int]
    public var padding: [Int]
    /// Per-sample input spatial size ([H, W], or [L] for 1-D).
    public var inputSize: [Int]
    public var outputSize: [Int]
    public init(inChannels: Int, outChannels: Int, kernel: [Int], stride: [Int], padding: [Int], inputSize: [Int], outputSize: [Int]) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.inputSize = inputSize
        self.outputSize = outputSize
    }
}

/// Where scorers listen to a layer: its input as rows of fan-in (a Linear's samples, a
/// convolution's unrolled patches), and in backward the same rows with the gradient of the
/// layer's output at each row. Calibration only: the closures are nil during training.
public final class FanInObserver: @unchecked Sendable {
    /// (inputs (N, fanIn), samples B): N = B · positions, rows of one sample contiguous.
    public var onForward: ((Tensor, Int) -> Void)?
    /// (inputs (N, fanIn), output gradient (N, rows), samples B).
    public var onBackward: ((Tensor, Tensor, Int) -> Void)?
    public init() {}

    public var isListening: Bool { onForward != nil || onBackward != nil }
}
