import TopiaryTensor

/// A model whose forward runs in segments (its top-level layers), so sequential calibration
/// can run block k alone on the cached outputs of blocks < k instead of the whole model once
/// per block: for a 30-block transformer, two passes in all instead of thirty.
public protocol SegmentedForward: Model {
    /// Segments in order; running all of them is `forward`.
    var forwardSegmentCount: Int { get }
    /// The segment whose layers apply `matrix`; nil when the model does not hold it.
    func segment(holding matrix: PrunableMatrix) -> Int?
    /// Runs segments `range` on `input` — the model's input (B, inputShape…) for a range
    /// starting at 0, else the output of segment `range.lowerBound − 1`. The result is valid
    /// until the next forward.
    func forward(segments range: Range<Int>, _ input: Tensor) -> Tensor
}

extension Sequential: SegmentedForward {
    public var forwardSegmentCount: Int { chain.layers.count }

    public func segment(holding matrix: PrunableMatrix) -> Int? {
        chain.layers.firstIndex { layer in layer.allLayers.contains { $0.prunableMatrices.contains { $0 === matrix } } }
    }

    public func forward(segments range: Range<Int>, _ input: Tensor) -> Tensor {
        var x = range.lowerBound == 0 ? input.reshaped([input.shape[0]] + inputShape) : input
        for layer in chain.layers[range] { x = layer.forward(x) }
        return x
    }
}
