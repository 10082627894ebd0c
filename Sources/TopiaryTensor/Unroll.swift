import CTopiaryKernels

/// One sample's convolution geometry in 2-D (a 1-D convolution is height 1, kernel height 1).
public struct UnrollShape: Sendable, Equatable {
    public let channels: Int, height: Int, width: Int
    public let kernelHeight: Int, kernelWidth: Int
    public let strideHeight: Int, strideWidth: Int
    public let padHeight: Int, padWidth: Int

    public init(channels: Int, height: Int, width: Int, kernelHeight: Int, kernelWidth: Int,
                strideHeight: Int, strideWidth: Int, padHeight: Int, padWidth: Int) {
        (self.channels, self.height, self.width) = (channels, height, width)
        (self.kernelHeight, self.kernelWidth) = (kernelHeight, kernelWidth)
        (self.strideHeight, self.strideWidth) = (strideHeight, strideWidth)
        (self.padHeight, self.padWidth) = (padHeight, padWidth)
    }

    /// floor((size + 2·pad − kernel)/stride) + 1, as PyTorch; ≤ 0 when the kernel does not fit.
    public var outputHeight: Int { (height + 2 * padHeight - kernelHeight) / strideHeight + 1 }
    public var outputWidth: Int { (width + 2 * padWidth - kernelWidth) / strideWidth + 1 }
    /// Rows of the column matrix: the fan-in.
    public var patchSize: Int { channels * kernelHeight * kernelWidth }
    /// Columns per sample: the output positions.
    public var positions: Int { outputHeight * outputWidth }
    public var imageSize: Int { channels * height * width }
}

/// columns[(c·kh + ky)·kw + kx, column + y·Wo + x] = image[c, y·sh + ky − ph, x·sw + kx − pw]
/// (0 outside), for one sample's `image` (C, H, W); `columns` rows are `columnStride` apart.
public func im2col(_ image: UnsafePointer<Float>, _ shape: UnrollShape, into columns: UnsafeMutablePointer<Float>, columnStride: Int) {
    require(columnStride >= shape.positions && shape.positions > 0, "im2col: column stride \(columnStride) < \(shape.positions) positions")
    topiary_im2col(image, shape.channels, shape.height, shape.width, shape.kernelHeight, shape.kernelWidth,
                   shape.strideHeight, shape.strideWidth, shape.padHeight, shape.padWidth,
                   shape.outputHeight, shape.outputWidth, columns, columnStride)
}

/// image += every column entry added back to the pixel `im2col` read it from.
public func col2imAdd(_ columns: UnsafePointer<Float>, columnStride: Int, _ shape: UnrollShape, into image: UnsafeMutablePointer<Float>) {
    require(columnStride >= shape.positions && shape.positions > 0, "col2im: column stride \(columnStride) < \(shape.positions) positions")
    topiary_col2im_add(columns, columnStride, shape.channels, shape.height, shape.width, shape.kernelHeight, shape.kernelWidth,
                       shape.strideHeight, shape.strideWidth, shape.padHeight, shape.padWidth,
                       shape.outputHeight, shape.outputWidth, image)
}

/// The algorithmic reference for both: index arithmetic written out, one entry at a time.
public enum NaiveUnroll {
    public static func im2col(_ image: [Float], _ s: UnrollShape) -> [Float] {
        var columns = [Float](repeating: 0, count: s.patchSize * s.positions)
        for c in 0..<s.channels { for ky in 0..<s.kernelHeight { for kx in 0..<s.kernelWidth {
            let row = (c * s.kernelHeight + ky) * s.kernelWidth + kx
            for y in 0..<s.outputHeight { for x in 0..<s.outputWidth {
                let iy = y * s.strideHeight + ky - s.padHeight, ix = x * s.strideWidth + kx - s.padWidth
                guard iy >= 0, iy < s.height, ix >= 0, ix < s.width else { continue }
                columns[row * s.positions + y * s.outputWidth + x] = image[(c * s.height + iy) * s.width + ix]
            } }
        } } }
        return columns
    }

    public static func col2im(_ columns: [Float], _ s: UnrollShape) -> [Float] {
        var image = [Float](repeating: 0, count: s.imageSize)
        for c in 0..<s.channels { for ky in 0..<s.kernelHeight { for kx in 0..<s.kernelWidth {
            let row = (c * s.kernelHeight + ky) * s.kernelWidth + kx
            for y in 0..<s.outputHeight { for x in 0..<s.outputWidth {
                let iy = y * s.strideHeight + ky - s.padHeight, ix = x * s.strideWidth + kx - s.padWidth
                guard iy >= 0, iy < s.height, ix >= 0, ix < s.width else { continue }
                image[(c * s.height + iy) * s.width + ix] += columns[row * s.positions + y * s.outputWidth + x]
            } }
        } } }
        return image
    }
}
