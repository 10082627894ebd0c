import TopiaryTensor

/// The boundary everything above the layers is written against: named parameters in one
/// store, forward/backward over batch-first tensors, and the matrices pruning may act on.
/// An MLP, a CNN and a transformer are just models.
public protocol Model: AnyObject {
    var store: ParameterStore { get }
    /// One sample's input shape ([784], [1, 28, 28], [6, 100], [T]).
    var inputShape: [Int] { get }
    /// One sample's output shape ([10] logits, [1] a regression target, [T, V] token logits).
    var outputShape: [Int] { get }
    /// Outputs (B, outputShape…) for inputs (B, inputShape…); valid until the next forward.
    func forward(_ input: Tensor) -> Tensor
    /// Backpropagates dLoss/dOutput, accumulating every trainable parameter's gradient.
    func backward(_ outputGradient: Tensor)
    /// Training (batch statistics, dropout) or evaluation behaviour.
    func setTraining(_ training: Bool)
    /// Every matrix pruning may act on, in model order; the spec's `exclude_layers` narrows it.
    var prunableMatrices: [PrunableMatrix] { get }
    /// For structured pruning: what else goes when a matrix loses output row r (its
    /// companions, and the columns of the matrices that read that row's output). Nil for a
    /// matrix whose rows cannot be removed alone (the output layer; a residual branch).
    func channelCoupling(of matrix: PrunableMatrix) -> ChannelCoupling?
    /// The operations inference engines run, in order; nil when the model has no plan that
    /// engines understand (it is then measured with its own forward only).
    var inferencePlan: [InferenceOperation]? { get }
    /// The prunable matrices grouped into the blocks sequential calibration visits in order
    /// (a transformer block's attention and MLP matrices together; an MLP's Linears one by
    /// one): block k is calibrated on inputs that pass through blocks < k already pruned.
    var calibrationBlocks: [[PrunableMatrix]] { get }
    /// A one-line description ("784-300-100-10", "conv2d(6,5x5) relu maxpool2 …").
    var architectureDescription: String { get }
    /// The states of the model's own random generators (dropout), which a checkpoint keeps so
    /// a resumed run draws what an uninterrupted one would.
    var randomState: [[UInt64]] { get set }
}

extension Model {
    public var calibrationBlocks: [[PrunableMatrix]] { prunableMatrices.map { [$0] } }
    public var randomState: [[UInt64]] {
        get { [] }
        set {}
    }
    public var parameters: [Parameter] { store.parameters }
    public var inputCount: Int { inputShape.reduce(1, *) }
    public var outputCount: Int { outputShape.reduce(1, *) }
    public func parameter(named name: String) -> Parameter? { store.parameter(named: name) }
    /// FLOPs per sample of the prunable matrices (dense, and counting surviving weights).
    public var matrixFLOPs: (dense: Int, effective: Int) {
        prunableMatrices.reduce((0, 0)) { ($0.0 + $1.denseFLOPs, $0.1 + $1.effectiveFLOPs) }
    }
}

/// Structured pruning's bookkeeping for one matrix: when its output row r goes, these go too.
public struct ChannelCoupling: @unchecked Sendable {
    /// Parameters indexed by the same row (bias, BatchNorm gain and shift, running stats).
    public let companions: [Parameter]
    /// Matrices that read this one's outputs, with the columns each output row feeds.
    public let consumers: [(matrix: PrunableMatrix, columnsOfRow: [[Int]])]
    /// |γ|/√(σ²+ε) per row when a BatchNorm follows: the factor that row's output is scaled
    /// by, so a channel's importance is judged on what the network really sees (nil: none).
    public let rowScale: (() -> [Float])?
    /// The rows that go together as one unit (an attention head's q, k and v rows); nil:
    /// every row is a unit of its own (a neuron, a filter).
    public let units: [[Int]]?

    public init(companions: [Parameter], consumers: [(matrix: PrunableMatrix, columnsOfRow: [[Int]])], rowScale: (() -> [Float])? = nil,
                units: [[Int]]? = nil) {
        self.companions = companions
        self.consumers = consumers
        self.rowScale = rowScale
        self.units = units
    }

    /// The removable units of a matrix with `rows` rows.
    public func units(rows: Int) -> [[Int]] { units ?? (0..<rows).map { [$0] } }
}
