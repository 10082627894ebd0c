import CTopiaryKernels
import TopiaryTensor

/// Cross-correlation as PyTorch's Conv1d and Conv2d compute it: input (B, C, H, W) or
/// (B, C, L), weight (out, in, kh, kw) or (out, in, k), zero padding, a stride, an optional
/// bias. As a matrix the weight is (out, in·kh·kw), the fan-in ordered (channel, ky, kx).
///
/// Stride 1 (LeNet-5's, a sensor CNN's) runs direct C kernels on wide rows
/// (`WideConvolution`), the batch split over the run's threads: with a few channels,
/// unrolling the input 25-fold for GEMMs too skinny for BLAS costs more than the
/// arithmetic. Other strides, and calibration (scorers listen to unrolled rows), go through
/// im2col and BLAS: a chunk of samples is unrolled into a column matrix (fan-in,
/// chunk·positions) small enough to stay in L2, multiplied by the weight matrix, and scattered
/// to (B, out, positions). Backward unrolls the same chunk again (cheaper than keeping every
/// column matrix), dW += dY·colᵀ, and, when the input gradient is needed, folds Wᵀ·dY back
/// into the image with col2im.
public final class Convolution: Layer {
    public var name: String
    /// 1 (sequences: (B, C, L)) or 2 (images: (B, C, H, W)).
    public let spatialDimensions: Int
    public let inChannels: Int
    public let outChannels: Int
    public let kernel: [Int]
    public let stride: [Int]
    public let padding: [Int]
    public let hasBias: Bool
    public private(set) var weight: Parameter!
    public private(set) var bias: Parameter?
    public private(set) var unroll: UnrollShape!
    public private(set) var matrix: PrunableMatrix!
    public let observer = FanInObserver()
    /// Whether forward applies max(0, ·) to its output: set by the enclosing chain when a
    /// ReLU layer follows (see `ActivationLayer.inputIsRectified`).
    public internal(set) var rectifiesOutput = false

    private var cachedInput: Tensor?
    private var output = ActivationBuffer()
    private var inputGradient = ActivationBuffer()
    private var columns = ActivationBuffer()
    private var chunkOutput = ActivationBuffer()
    private var columnGradient = ActivationBuffer()
    /// The direct kernels of a stride-1 convolution (nil for other strides).
    private var wide: WideConvolution?
    /// Whether the last forward ran the direct kernels (which keep the padded input that
    /// their backward reads).
    private var forwardRanDirect = false

    /// Column matrices of about this many floats (256 KiB) per chunk of samples.
    static let chunkFloats = 1 << 16

    public init(name: String, spatialDimensions: Int, inChannels: Int, outChannels: Int, kernel: Int,
                stride: Int = 1, padding: Int = 0, bias: Bool = true) {
        require(spatialDimensions == 1 || spatialDimensions == 2, "convolutions are 1-D or 2-D, not \(spatialDimensions)-D")
        self.name = name
        self.spatialDimensions = spatialDimensions
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = Array(repeating: kernel, count: spatialDimensions)
        self.stride = Array(repeating: stride, count: spatialDimensions)
        self.padding = Array(repeating: padding, count: spatialDimensions)
        self.hasBias = bias
    }

    public func plan(inputShape: [Int]) throws -> LayerPlan {
        let expected = spatialDimensions == 2 ? "(\(inChannels), H, W)" : "(\(inChannels), L)"
        guard inputShape.count == 1 + spatialDimensions, inputShape[0] == inChannels else {
            throw ModelError.shape(layer: name, expected: expected, got: inputShape)
        }
        guard kernel.allSatisfy({ $0 >= 1 }), stride.allSatisfy({ $0 >= 1 }), padding.allSatisfy({ $0 >= 0 }),
              inChannels >= 1, outChannels >= 1 else {
            throw ModelError.invalid(layer: name, problem: "kernel and stride must be >= 1, padding >= 0, channels >= 1")
        }
        let (height, width) = spatialDimensions == 2 ? (inputShape[1], inputShape[2]) : (1, inputShape[1])
        let shape = UnrollShape(channels: inChannels, height: height, width: width,
                                kernelHeight: spatialDimensions == 2 ? kernel[0] : 1, kernelWidth: kernel.last!,
                                strideHeight: spatialDimensions == 2 ? stride[0] : 1, strideWidth: stride.last!,
                                padHeight: spatialDimensions == 2 ? padding[0] : 0, padWidth: padding.last!)
        guard shape.outputHeight >= 1, shape.outputWidth >= 1 else {
            throw ModelError.shape(layer: name, expected: "an input at least as large as the kernel \(kernel) after padding \(padding)", got: inputShape)
        }
        unroll = shape
        wide = shape.strideHeight == 1 && shape.strideWidth == 1 ? WideConvolution(shape, outputs: outChannels) : nil
        let outputSpatial = spatialDimensions == 2 ? [shape.outputHeight, shape.outputWidth] : [shape.outputWidth]
        return LayerPlan(outputShape: [outChannels] + outputSpatial,
                         parameters: [.init("weight", [outChannels, inChannels] + kernel, role: .weight)]
                            + (hasBias ? [.init("bias", [outChannels], role: .bias)] : []))
    }

    public func bind(_ parameters: [Parameter]) {
        weight = parameters[0]
        bias = hasBias ? parameters[1] : nil
        let outputSpatial = spatialDimensions == 2 ? [unroll.outputHeight, unroll.outputWidth] : [unroll.outputWidth]
        let inputSpatial = spatialDimensions == 2 ? [unroll.height, unroll.width] : [unroll.width]
        let geometry = ConvolutionGeometry(inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride,
                                           padding: padding, inputSize: inputSpatial, outputSize: outputSpatial)
        matrix = PrunableMatrix(parameter: weight, rows: outChannels, fanIn: unroll.patchSize, positions: unroll.positions,
                                operation: .convolution(geometry), observer: observer)
    }

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }
    public var prunableMatrices: [PrunableMatrix] { [matrix] }

    /// PyTorch's default: kaiming-uniform with a = √5, i.e. U(±1/√fan_in) with fan_in =
    /// in·kh·kw, for the weight and the bias alike.
    public func initialize(using generator: inout SeededGenerator) {
        let bound = 1 / Float(unroll.patchSize).squareRoot()
        for parameter in parameters {
            for i in 0..<parameter.count { parameter.value[i] = generator.nextFloat(in: -bound, bound) }
        }
        multiply(weight.value, weight.mask, into: weight.value)
    }

    /// Samples per column chunk.
    var samplesPerChunk: Int { max(1, Convolution.chunkFloats / (unroll.patchSize * unroll.positions)) }

    /// Whether this call can take the direct stride-1 kernels.
    private var direct: Bool { wide != nil && !observer.isListening && matrix.branch == nil }
    private var isTraining = true
    public func setTraining(_ training: Bool) { isTraining = training }

    public func forward(_ input: Tensor) -> Tensor {
        let (k, p) = (unroll.patchSize, unroll.positions)
        require(input.rank == 2 + spatialDimensions && input.sampleCount == unroll.imageSize && input.shape[1] == inChannels,
                "\(name) expects (B, \(inChannels), \(spatialDimensions == 2 ? "\(unroll.height), \(unroll.width)" : "\(unroll.width)")), got \(input.shape)")
        let batch = input.shape[0]
        cachedInput = input
        let y = output.tensor([batch] + matrixOutputShape)
        forwardRanDirect = direct
        if forwardRanDirect {
            wide!.forward(input, weight: weight.value, bias: bias?.value, rectify: rectifiesOutput, into: y)
            return y
        }
        let w = weight.value.reshaped([outChannels, k])
        var start = 0
        while start < batch {
            let m = min(samplesPerChunk, batch - start)
            let col = unrollChunk(input, start: start, count: m)
            if let listen = observer.onForward { listen(transposed(col), m) }
            let out = chunkOutput.rows(outChannels, columns: m * p)
            matmul(w, col, into: out)
            matrix.branch?.forward(col, addingTo: out, layout: .columns, training: isTraining)
            // (out, m·P) → samples start..<start+m of y (B, out, P), adding the bias.
            for j in 0..<m {
                for c in 0..<outChannels {
                    let source = out.pointer + c * m * p + j * p
                    let target = y.pointer + ((start + j) * outChannels + c) * p
                    let b = bias?.value[c] ?? 0
                    if rectifiesOutput {
                        simdMap(p, source, target, { ($0 + b).replacing(with: 0, where: $0 + b .< 0) }, { $0 + b < 0 ? 0 : $0 + b })
                    } else {
                        simdMap(p, source, target, { $0 + b }, { $0 + b })
                    }
                }
            }
            start += m
        }
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let x = cachedInput else { fatalError("\(name).backward called before forward") }
        let (k, p, batch) = (unroll.patchSize, unroll.positions, x.shape[0])
        require(outputGradient.count == batch * outChannels * p, "\(name) backward expects \([batch] + matrixOutputShape), got \(outputGradient.shape)")
        let w = weight.value.reshaped([outChannels, k])
        let dw = weight.grad.reshaped([outChannels, k])
        let dx = needsInputGradient ? inputGradient.tensor(x.shape) : nil
        if forwardRanDirect && !observer.isListening {
            wide!.backward(outputGradient, batch: batch, weight: weight.value, weightGradient: weight.needsGradient ? weight.grad : nil,
                           biasGradient: bias.flatMap { $0.needsGradient ? $0.grad : nil }, dx: dx)
            return dx
        }
        dx?.fill(0)
        var start = 0
        while start < batch {
            let m = min(samplesPerChunk, batch - start)
            let col = unrollChunk(x, start: start, count: m)
            // dY of the chunk as (out, m·P): the layout the GEMMs want.
            let dy = chunkOutput.rows(outChannels, columns: m * p)
            for j in 0..<m {
                for c in 0..<outChannels {
                    (dy.pointer + c * m * p + j * p).update(from: outputGradient.pointer + ((start + j) * outChannels + c) * p, count: p)
                }
            }
            if let listen = observer.onBackward { listen(transposed(col), transposed(dy), m) }
            if weight.needsGradient { matmul(dy, col, transposeB: true, into: dw, beta: 1) }
            if let bias, bias.needsGradient {
                for c in 0..<outChannels {
                    var sum: Float = 0
                    let row = dy.pointer + c * m * p
                    for i in 0..<(m * p) { sum += row[i] }
                    bias.grad[c] += sum
                }
            }
            // dcol = Wᵀ·dY (k, m·P), the branch's input gradient added, then folded back.
            let dcol = dx.map { _ in columnGradient.rows(k, columns: m * p) }
            if let dcol { matmul(w, transposeA: true, dy, into: dcol) }
            matrix.branch?.backward(col, outputGradient: dy, addingTo: dcol, layout: .columns)
            if let dx, let dcol {
                for j in 0..<m {
                    col2imAdd(dcol.pointer + j * p, columnStride: m * p, unroll, into: dx.pointer + (start + j) * unroll.imageSize)
                }
            }
            start += m
        }
        return dx
    }

    /// Per sample: (out, Ho, Wo) or (out, Lo).
    var matrixOutputShape: [Int] {
        [outChannels] + (spatialDimensions == 2 ? [unroll.outputHeight, unroll.outputWidth] : [unroll.outputWidth])
    }

    /// Samples start..<start+count of `input` unrolled side by side: (fan-in, count·P).
    private func unrollChunk(_ input: Tensor, start: Int, count: Int) -> Tensor {
        let p = unroll.positions
        let col = columns.rows(unroll.patchSize, columns: count * p)
        for j in 0..<count {
            im2col(input.pointer + (start + j) * unroll.imageSize, unroll, into: col.pointer + j * p, columnStride: count * p)
        }
        return col
    }

    /// A new (columns, rows) copy, for calibration listeners that want rows of fan-in.
    private func transposed(_ matrix: Tensor) -> Tensor {
        let result = Tensor(zeros: [matrix.columns, matrix.rows])
        transpose(matrix, into: result)
        return result
    }
}

extension Convolution {
    /// nn.Conv2d(in, out, kernel, stride, padding).
    public static func conv2d(_ name: String, _ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1,
                              padding: Int = 0, bias: Bool = true) -> Convolution {
        Convolution(name: name, spatialDimensions: 2, inChannels: inChannels, outChannels: outChannels, kernel: kernel,
                    stride: stride, padding: padding, bias: bias)
    }

    /// nn.Conv1d(in, out, kernel, stride, padding).
    public static func conv1d(_ name: String, _ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1,
                              padding: Int = 0, bias: Bool = true) -> Convolution {
        Convolution(name: name, spatialDimensions: 1, inChannels: inChannels, outChannels: outChannels, kernel: kernel,
                    stride: stride, padding: padding, bias: bias)
    }
}
