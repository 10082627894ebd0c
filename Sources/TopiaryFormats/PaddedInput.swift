import TopiaryNN

/// A convolution's input as the exported C reads it: each channel's (h, w) plane zero-padded
/// to (h + 2·padH, w + 2·padW), so every kernel position is inside the buffer. A 1-D input is
/// a plane of height 1 (no vertical padding).
struct PaddedInput {
    let h: Int, w: Int, padH: Int, padW: Int
    let kernelH: Int, kernelW: Int
    let channels: Int

    init(_ g: ConvolutionGeometry) {
        let two = g.kernel.count == 2
        (h, w) = two ? (g.inputSize[0], g.inputSize[1]) : (1, g.inputSize[0])
        (padH, padW) = two ? (g.padding[0], g.padding[1]) : (0, g.padding[0])
        (kernelH, kernelW) = two ? (g.kernel[0], g.kernel[1]) : (1, g.kernel[0])
        channels = g.inChannels
    }

    /// Floats per padded row, and per padded channel plane.
    var pitch: Int { w + 2 * padW }
    var plane: Int { (h + 2 * padH) * pitch }

    /// Fan-in column j = (channel, ky, kx), the order of Topiary's unrolled weight, as the
    /// offset channel·plane + ky·pitch + kx from the window's top-left input.
    var offsets: [Int] {
        var result: [Int] = []
        result.reserveCapacity(channels * kernelH * kernelW)
        for c in 0..<channels {
            for ky in 0..<kernelH {
                for kx in 0..<kernelW { result.append(c * plane + ky * pitch + kx) }
            }
        }
        return result
    }
}
