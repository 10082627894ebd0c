import TopiaryTensor

/// A computation beside a prunable matrix's product, reading the same fan-in inputs: the
/// layer's output becomes W·x + f(x). LoRA's adapter path B·A·dropout(x) is one; it lets the
/// base weight stay untouched (and skip its gradient) while only the branch trains.
///
/// Inputs come in one of two layouts, as the layer holds them: a Linear's `.rows`, x (N, fanIn)
/// and y (N, rows); a convolution's unrolled `.columns`, x (fanIn, N) and y (rows, N).
public protocol FanInBranch: AnyObject {
    /// y += f(x). `training` is the layer's mode (dropout draws only in training).
    func forward(_ x: Tensor, addingTo y: Tensor, layout: FanInLayout, training: Bool)
    /// Accumulates the branch's own parameter gradients from dy (the layer's output gradient,
    /// same layout as y) and, when `dx` is given, adds ∂f/∂x · dy into it (same layout as x).
    /// Called after the forward of the same inputs, before the next forward.
    func backward(_ x: Tensor, outputGradient dy: Tensor, addingTo dx: Tensor?, layout: FanInLayout)
}

public enum FanInLayout: Sendable {
    /// x (N, fanIn), y (N, rows): one input vector per row.
    case rows
    /// x (fanIn, N), y (rows, N): one input vector per column (im2col).
    case columns
}
