import CTopiaryKernels
import Foundation
import TopiaryTensor

/// Elementwise nonlinearities, forward and derivative, shared by the training layers and
/// the inference engines so both compute the same function.
public enum Activation: String, Sendable, Codable, CaseIterable {
    /// Activations split over cores only above this many elements per core: below it the
    /// hand-off costs more than the arithmetic.
    static let itemsPerCore = 1 << 15

    case relu
    /// x·Φ(x) with the exact normal CDF (PyTorch's default GELU).
    case gelu
    /// GPT-2's tanh approximation: ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
    case geluTanh = "gelu_tanh"
    /// x·σ(x), also called swish.
    case silu
    case tanh

    /// f(x) over `count` floats; `output` may equal `input`.
    public func forward(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .relu:
            simdMap(count, input, output, { $0.replacing(with: 0, where: $0 .< 0) }, { max($0, 0) })
        case .gelu:
            splitOverCores(count, minimumPerPart: 1 << 15) { range in
                topiary_gelu_forward(range.count, input + range.lowerBound, output + range.lowerBound)
            }
        case .geluTanh:
            for i in 0..<count { output[i] = Activation.geluTanh(input[i]) }
        case .silu:
            for i in 0..<count { let x = input[i]; output[i] = x / (1 + exp(-x)) }
        case .tanh:
            for i in 0..<count { output[i] = Foundation.tanh(input[i]) }
        }
    }

    /// dx = dy · f′(x), from the layer's input x (and, for ReLU and tanh, its output y).
    public func backward(input x: UnsafePointer<Float>, output y: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
                         into dx: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .relu:
            simdMap(count, dy, y, dx, { g, out in g.replacing(with: 0, where: out .<= 0) }, { g, out in out > 0 ? g : 0 })
        case .gelu:
            splitOverCores(count, minimumPerPart: 1 << 15) { range in
                topiary_gelu_backward(range.count, x + range.lowerBound, dy + range.lowerBound, dx + range.lowerBound)
            }
        case .geluTanh:
            for i in 0..<count {
                let v = x[i]
                let inner = 0.7978845608028654 * (v + 0.044715 * v * v * v)
                let t = Foundation.tanh(inner)
                let dInner = 0.7978845608028654 * (1 + 3 * 0.044715 * v * v)
                dx[i] = dy[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * dInner)
            }
        case .silu:
            for i in 0..<count {
                let s = 1 / (1 + exp(-x[i]))
                dx[i] = dy[i] * s * (1 + x[i] * (1 - s))
            }
        case .tanh:
            for i in 0..<count { dx[i] = dy[i] * (1 - y[i] * y[i]) }
        }
    }

    @inline(__always)
    static func geluTanh(_ x: Float) -> Float {
        0.5 * x * (1 + Foundation.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
    }

    /// f(0) = 0 for every activation here: a pruned channel (all weights, bias and shift
    /// zero) stays exactly zero after it, which is what makes compaction exact.
    public static let mapsZeroToZero = true
}

/// An activation as a layer: y = f(x), any shape.
public final class ActivationLayer: Layer {
    public var name: String
    public let activation: Activation
    /// Set by the enclosing chain when the layer before is a convolution that already applies
    /// this ReLU to its output (one pass over the activations fewer): forward then passes
    /// its input through; backward still masks the gradient with y > 0.
    public internal(set) var inputIsRectified = false
    private var cachedInput: Tensor?
    private var cachedOutput: Tensor?
    private var output = ActivationBuffer()
    private var inputGradient = ActivationBuffer()

    public init(name: String, _ activation: Activation) {
        self.name = name
        self.activation = activation
    }

    public func plan(inputShape: [Int]) throws -> LayerPlan { LayerPlan(outputShape: inputShape) }
    public func bind(_ parameters: [Parameter]) {}
    public var parameters: [Parameter] { [] }

    public func forward(_ input: Tensor) -> Tensor {
        if inputIsRectified {
            (cachedInput, cachedOutput) = (input, input)
            return input
        }
        let y = output.tensor(input.shape)
        splitOverCores(input.count, minimumPerPart: Activation.itemsPerCore) { range in
            activation.forward(input.pointer + range.lowerBound, y.pointer + range.lowerBound, count: range.count)
        }
        (cachedInput, cachedOutput) = (input, y)
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        guard let x = cachedInput, let y = cachedOutput else { fatalError("\(name).backward called before forward") }
        require(outputGradient.count == y.count, "\(name) backward expects \(y.shape), got \(outputGradient.shape)")
        let dx = inputGradient.tensor(x.shape)
        splitOverCores(x.count, minimumPerPart: Activation.itemsPerCore) { range in
            let i = range.lowerBound
            activation.backward(input: x.pointer + i, output: y.pointer + i, outputGradient: outputGradient.pointer + i,
                                into: dx.pointer + i, count: range.count)
        }
        return dx
    }
}
