import CTopiaryKernels
import TopiaryTensor

/// Max or average pooling over non-overlapping or strided windows, as PyTorch's MaxPool1d/2d
/// and AvgPool1d/2d without padding (sizes round down): (B, C, H, W) → (B, C, Ho, Wo), or
/// (B, C, L) → (B, C, Lo). Max pooling sends each output's gradient to its window's maximum
/// (the first one on ties); average pooling spreads it evenly.
public final class Pooling: Layer {
    public enum Kind: String, Sendable { case max, average }
    public var name: String
    public let kind: Kind
    public let spatialDimensions: Int
    public let kernel: Int
    public let stride: Int
    public private(set) var geometry: PoolGeometry!

    private var cachedInputShape: [Int] = []
    /// Pooling splits its planes over cores only above this many inputs per core.
    static let inputsPerCore = 1 << 15
    /// Max pooling: for every output element, the flat index (within its sample-channel
    /// plane) of the input it took.
    private var argmax: [Int32] = []
    private var output = ActivationBuffer()
    private var inputGradient = ActivationBuffer()

    public init(name: String, kind: Kind, spatialDimensions: Int, kernel: Int, stride: Int? = nil) {
        require(spatialDimensions == 1 || spatialDimensions == 2, "pooling is 1-D or 2-D")
        self.name = name
        self.kind = kind
        self.spatialDimensions = spatialDimensions
        self.kernel = kernel
        self.stride = stride ?? kernel
    }

    public func plan(inputShape: [Int]) throws -> LayerPlan {
        guard inputShape.count == 1 + spatialDimensions else {
            throw ModelError.shape(layer: name, expected: spatialDimensions == 2 ? "(C, H, W)" : "(C, L)", got: inputShape)
        }
        let sizes = Array(inputShape.dropFirst())
        guard kernel >= 1, stride >= 1, sizes.allSatisfy({ $0 >= kernel }) else {
            throw ModelError.shape(layer: name, expected: "spatial sizes at least the kernel \(kernel)", got: inputShape)
        }
        let out = sizes.map { ($0 - kernel) / stride + 1 }
        geometry = PoolGeometry(kernel: Array(repeating: kernel, count: spatialDimensions), stride: Array(repeating: stride, count: spatialDimensions),
                                inputSize: sizes, outputSize: out)
        return LayerPlan(outputShape: [inputShape[0]] + out)
    }

    public func bind(_ parameters: [Parameter]) {}
    public var parameters: [Parameter] { [] }

    /// (H, W) of a plane: a 1-D sequence is one row.
    private var plane: (h: Int, w: Int, oh: Int, ow: Int, kh: Int, sh: Int) {
        spatialDimensions == 2
            ? (geometry.inputSize[0], geometry.inputSize[1], geometry.outputSize[0], geometry.outputSize[1], kernel, stride)
            : (1, geometry.inputSize[0], 1, geometry.outputSize[0], 1, 1)
    }

    public func forward(_ input: Tensor) -> Tensor {
        let (h, w, oh, ow, kh, sh) = plane
        require(input.rank == 2 + spatialDimensions && input.count % (h * w) == 0 && Array(input.shape.dropFirst(2)) == geometry.inputSize,
                "\(name) expects (B, C, \(geometry.inputSize)), got \(input.shape)")
        cachedInputShape = input.shape
        let planes = input.count / (h * w)
        let y = output.tensor(Array(input.shape.prefix(2)) + geometry.outputSize)
        if kind == .max {
            if argmax.count < y.count { argmax = [Int32](repeating: 0, count: y.count) }
            argmax.withUnsafeMutableBufferPointer { indices in
                let indices = indices.baseAddress!
                splitOverCores(planes, minimumPerPart: max(1, Pooling.inputsPerCore / (h * w)), alignment: 1) { range in
                    let (first, out) = (range.lowerBound, range.lowerBound * oh * ow)
                    topiary_max_pool(input.pointer + first * h * w, range.count, h, w, kh, kernel, sh, stride, oh, ow,
                                     y.pointer + out, indices + out)
                }
            }
            return y
        }
        let scale = 1 / Float(kh * kernel)
        for q in 0..<planes {
            let source = input.pointer + q * h * w
            let target = y.pointer + q * oh * ow
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let (y0, x0) = (oy * sh, ox * stride)
                    var sum: Float = 0
                    for ky in 0..<kh { for kx in 0..<kernel { sum += source[(y0 + ky) * w + x0 + kx] } }
                    target[oy * ow + ox] = sum * scale
                }
            }
        }
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        let (h, w, oh, ow, kh, sh) = plane
        let dx = inputGradient.tensor(cachedInputShape)
        dx.fill(0)
        let planes = dx.count / (h * w)
        require(outputGradient.count == planes * oh * ow, "\(name) backward expects \(planes * oh * ow) gradients, got \(outputGradient.shape)")
        if kind == .max {
            argmax.withUnsafeBufferPointer { indices in
                let indices = indices.baseAddress!
                splitOverCores(planes, minimumPerPart: max(1, Pooling.inputsPerCore / (h * w)), alignment: 1) { range in
                    let (first, out) = (range.lowerBound, range.lowerBound * oh * ow)
                    topiary_max_pool_backward(outputGradient.pointer + out, indices + out, range.count, h, w, oh, ow,
                                              dx.pointer + first * h * w)
                }
            }
            return dx
        }
        let scale = 1 / Float(kh * kernel)
        for q in 0..<planes {
            let gradient = outputGradient.pointer + q * oh * ow
            let target = dx.pointer + q * h * w
            for o in 0..<(oh * ow) {
                let (y0, x0) = ((o / ow) * sh, (o % ow) * stride)
                let share = gradient[o] * scale
                for ky in 0..<kh { for kx in 0..<kernel { target[(y0 + ky) * w + x0 + kx] += share } }
            }
        }
        return dx
    }
}

/// The mean over every spatial position: (B, C, spatial…) → (B, C) (AdaptiveAvgPool to 1,
/// then flatten).
public final class GlobalAveragePooling: Layer {
    public var name: String
    private var cachedInputShape: [Int] = []
    private var output = ActivationBuffer()
    private var inputGradient = ActivationBuffer()

    public init(name: String) { self.name = name }

    public func plan(inputShape: [Int]) throws -> LayerPlan {
        guard inputShape.count >= 2 else { throw ModelError.shape(layer: name, expected: "(C, spatial…)", got: inputShape) }
        return LayerPlan(outputShape: [inputShape[0]])
    }

    public func bind(_ parameters: [Parameter]) {}
    public var parameters: [Parameter] { [] }

    public func forward(_ input: Tensor) -> Tensor {
        require(input.rank >= 3, "\(name) expects (B, C, spatial…), got \(input.shape)")
        cachedInputShape = input.shape
        let spatial = input.shape.dropFirst(2).reduce(1, *)
        let y = output.tensor(Array(input.shape.prefix(2)))
        for q in 0..<y.count {
            var sum: Float = 0
            let plane = input.pointer + q * spatial
            for i in 0..<spatial { sum += plane[i] }
            y[q] = sum / Float(spatial)
        }
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        let dx = inputGradient.tensor(cachedInputShape)
        let spatial = cachedInputShape.dropFirst(2).reduce(1, *)
        for q in 0..<outputGradient.count {
            let share = outputGradient[q] / Float(spatial)
            (dx.pointer + q * spatial).update(repeating: share, count: spatial)
        }
        return dx
    }
}

/// (B, …) → (B, product of the rest), PyTorch's C order (channel, then row, then column): a
/// view, nothing is copied.
public final class Flatten: Layer {
    public var name: String
    private var cachedInputShape: [Int] = []

    public init(name: String) { self.name = name }

    public func plan(inputShape: [Int]) throws -> LayerPlan { LayerPlan(outputShape: [inputShape.reduce(1, *)]) }
    public func bind(_ parameters: [Parameter]) {}
    public var parameters: [Parameter] { [] }

    public func forward(_ input: Tensor) -> Tensor {
        cachedInputShape = input.shape
        return input.asRows
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        needsInputGradient ? outputGradient.reshaped(cachedInputShape) : nil
    }
}
