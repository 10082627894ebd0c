import CTopiaryKernels
import TopiaryTensor

/// The direct path of a stride-1 convolution: the "wide row" kernels of
/// `topiary_direct_convolution.h`, the batch split into one contiguous range of samples per
/// worker.
///
/// Layouts, per sample (floats; Hp, Wp the padded input size, Ho = Hp − kh + 1,
/// Wo = Wp − kw + 1, a 1-D convolution has Hp = kh = 1):
/// - padded input: C planes of Hp·Wp, kept from forward for backward, zero borders; the whole
///   buffer ends in `slack` zeros the kernels may read past the last plane.
/// - wide output: O rows of `wideStride` ≥ round_up(Ho·Wp, 16); position y·Wp + x holds
///   output (y, x) for x < Wo, the other columns are dropped when copying out.
/// - wide gradient: O rows of `gradientStride` = front + round_up(Hp·Wp, 16): `front` zeros
///   ((kh − 1)·Wp + kw − 1, the furthest a tap reaches back), Ho·Wp gradients with the
///   garbage columns zeroed, zeros to the end. The weight gradient reads it from `front` on;
///   the input gradient correlates it with offsets −(ky·Wp + kx) into a padded (C, Hp·Wp) buffer.
///
/// Each worker sums its samples' weight and bias gradients into its own buffers, added in
/// worker order afterwards: the same thread count gives the same bits.
public final class WideConvolution {
    let shape: UnrollShape
    let outputs: Int
    let paddedHeight: Int, paddedWidth: Int
    /// Hp·Wp.
    let plane: Int
    /// Ho·Wp: the wide output positions.
    let wideCount: Int
    let wideStride: Int
    let front: Int
    let gradientStride: Int
    /// Floats after the last plane the kernels may read (an overhang of kw − 1 plus a vector).
    let slack: Int
    let forwardOffsets: [Int]
    let backwardOffsets: [Int]
    var taps: Int { shape.kernelHeight * shape.kernelWidth }
    var inputs: Int { shape.channels }

    /// Samples per weight-gradient call: their wide gradients stay in L1/L2 while every
    /// (channel, tap) block streams over them.
    static let gradientGroup = 8

    private var paddedInput = ActivationBuffer()
    private var wideOutputs: [Tensor] = []
    private var wideGradients: [Tensor] = []
    private var paddedGradients: [Tensor] = []
    private var partialWeightGradients: [Tensor] = []
    private var partialBiasGradients: [Tensor] = []
    private var transposedWeight: Tensor

    public init(_ shape: UnrollShape, outputs: Int) {
        require(shape.strideHeight == 1 && shape.strideWidth == 1, "the wide-row path is for stride 1")
        self.shape = shape
        self.outputs = outputs
        (paddedHeight, paddedWidth) = (shape.height + 2 * shape.padHeight, shape.width + 2 * shape.padWidth)
        plane = paddedHeight * paddedWidth
        wideCount = shape.outputHeight * paddedWidth
        wideStride = WideConvolution.roundUp(wideCount)
        front = (shape.kernelHeight - 1) * paddedWidth + shape.kernelWidth - 1
        gradientStride = front + WideConvolution.roundUp(plane)
        slack = shape.kernelWidth + 32
        var offsets: [Int] = []
        for ky in 0..<shape.kernelHeight { for kx in 0..<shape.kernelWidth { offsets.append(ky * paddedWidth + kx) } }
        forwardOffsets = offsets
        backwardOffsets = offsets.map { -$0 }
        transposedWeight = Tensor(zeros: [shape.channels * outputs * shape.kernelHeight * shape.kernelWidth])
    }

    static func roundUp(_ n: Int) -> Int { (n + 15) / 16 * 16 }

    private func workers(_ batch: Int, threads: Int = BLASRuntime.threadCount) -> Int { max(1, min(threads, batch)) }

    private func samples(_ part: Int, of parts: Int, _ batch: Int) -> Range<Int> {
        let size = (batch + parts - 1) / parts
        return min(part * size, batch)..<min((part + 1) * size, batch)
    }

    /// `count` zero-filled tensors of `size` floats, reallocated only when too few or too small.
    private static func ensure(_ buffers: inout [Tensor], _ count: Int, _ size: Int) -> [Tensor] {
        if buffers.count < count || (buffers.first?.count ?? 0) < size {
            buffers = (0..<count).map { _ in Tensor(zeros: [size]) }
        }
        return Array(buffers.prefix(count))
    }

    /// y (B, O, Ho, Wo) = bias + W ⋆ x for x (B, C, H, W), max(0, ·) of it if `rectify`;
    /// weight (O, C·kh·kw). Samples split over `threads` workers (the BLAS threads by default).
    public func forward(_ x: Tensor, weight: Tensor, bias: Tensor?, rectify: Bool, into y: Tensor,
                        threads: Int = BLASRuntime.threadCount) {
        let batch = x.shape[0], parts = workers(batch, threads: threads)
        let padded = paddedInput.tensor([batch * inputs * plane + slack])
        let wide = WideConvolution.ensure(&wideOutputs, parts, outputs * wideStride)
        let (outHeight, outWidth) = (shape.outputHeight, shape.outputWidth)
        let sampleOut = outputs * outHeight * outWidth
        forwardOffsets.withUnsafeBufferPointer { offsets in
            concurrentParts(parts) { part in
                for sample in samples(part, of: parts, batch) {
                    let source = padded.pointer + sample * inputs * plane
                    topiary_pad_planes(x.pointer + sample * shape.imageSize, inputs, shape.height, shape.width,
                                       shape.padHeight, shape.padWidth, paddedWidth, plane, source)
                    topiary_wide_correlate(source, inputs, plane, offsets.baseAddress, taps, weight.pointer, bias?.pointer,
                                           outputs, wide[part].pointer, wideStride, wideCount)
                    topiary_wide_unpack(wide[part].pointer, outputs, wideStride, outHeight, paddedWidth, outWidth,
                                        rectify ? 1 : 0, y.pointer + sample * sampleOut)
                }
            }
        }
    }

    /// Backward of the last `forward`: dW += dY ⋆ x (if `weightGradient`), db += Σ dY (if
    /// `biasGradient`), and dx = Wᵀ ⋆ dY (if `dx`), for dy (B, O, Ho, Wo).
    func backward(_ dy: Tensor, batch: Int, weight: Tensor, weightGradient: Tensor?, biasGradient: Tensor?, dx: Tensor?) {
        let parts = workers(batch)
        let padded = paddedInput.tensor([batch * inputs * plane + slack])
        let group = WideConvolution.gradientGroup
        let gradients = WideConvolution.ensure(&wideGradients, parts, group * outputs * gradientStride)
        let paddedDX = dx == nil ? [] : WideConvolution.ensure(&paddedGradients, parts, inputs * WideConvolution.roundUp(plane))
        let partialW = WideConvolution.ensure(&partialWeightGradients, parts, outputs * inputs * taps)
        let partialB = WideConvolution.ensure(&partialBiasGradients, parts, outputs)
        if dx != nil {
            // Wᵀ as (C, O, taps): the input gradient's "weights".
            for o in 0..<outputs { for c in 0..<inputs { for t in 0..<taps {
                transposedWeight[(c * outputs + o) * taps + t] = weight[(o * inputs + c) * taps + t]
            } } }
        }
        let (outHeight, outWidth) = (shape.outputHeight, shape.outputWidth)
        let sampleOut = outputs * outHeight * outWidth
        let transposed = transposedWeight
        forwardOffsets.withUnsafeBufferPointer { forwardTaps in
            backwardOffsets.withUnsafeBufferPointer { backwardTaps in
                concurrentParts(parts) { part in
                    partialW[part].fill(0)
                    partialB[part].fill(0)
                    let mine = samples(part, of: parts, batch)
                    var start = mine.lowerBound
                    while start < mine.upperBound {
                        let count = min(group, mine.upperBound - start)
                        let g = gradients[part].pointer
                        for j in 0..<count {
                            topiary_wide_pack(dy.pointer + (start + j) * sampleOut, outputs, outHeight, outWidth, paddedWidth,
                                              gradientStride, g + j * outputs * gradientStride + front)
                        }
                        if weightGradient != nil {
                            topiary_wide_weight_gradient(padded.pointer + start * inputs * plane, inputs, plane, inputs * plane,
                                                         forwardTaps.baseAddress, taps, g + front, outputs, gradientStride,
                                                         outputs * gradientStride, wideCount, count, partialW[part].pointer)
                        }
                        if biasGradient != nil {
                            topiary_wide_row_sums(g + front, outputs, gradientStride, outputs * gradientStride, wideCount, count,
                                                  partialB[part].pointer)
                        }
                        if let dx {
                            let target = paddedDX[part].pointer
                            for j in 0..<count {
                                topiary_wide_correlate(g + j * outputs * gradientStride + front, outputs, gradientStride,
                                                       backwardTaps.baseAddress, taps, transposed.pointer, nil, inputs,
                                                       target, WideConvolution.roundUp(plane), plane)
                                topiary_unpad_planes(target, inputs, shape.height, shape.width, shape.padHeight, shape.padWidth,
                                                     paddedWidth, WideConvolution.roundUp(plane), dx.pointer + (start + j) * shape.imageSize)
                            }
                        }
                        start += count
                    }
                }
            }
        }
        for part in 0..<parts {
            if let weightGradient { add(partialW[part], into: weightGradient) }
            if let biasGradient { add(partialB[part], into: biasGradient) }
        }
    }

    private func add(_ partial: Tensor, into total: Tensor) {
        simdMap(total.count, total.pointer, partial.pointer, total.pointer, { $0 + $1 }, { $0 + $1 })
    }
}
