import Foundation
import TopiaryTensor

/// Llama's SwiGLU feed-forward on (…, C): down_proj(silu(gate_proj(x)) ⊙ up_proj(x)), with
/// gate and up C → I and down I → C, no biases. All three are prunable matrices.
public final class GatedMLP: Layer {
    public var name: String {
        didSet { renameProjections() }
    }
    public let channels: Int
    public let intermediate: Int
    public let gate: Linear, up: Linear, down: Linear
    /// silu(gate) and the product, (rows, I), kept for backward.
    private var activated = ActivationBuffer(), product = ActivationBuffer()
    private var gateGradient = ActivationBuffer(), upGradient = ActivationBuffer()
    private var inputGradient = ActivationBuffer()
    private var cached: (gate: Tensor, up: Tensor)?

    public init(name: String, channels: Int, intermediate: Int) {
        self.name = name
        self.channels = channels
        self.intermediate = intermediate
        gate = Linear(name: "", inFeatures: channels, outFeatures: intermediate, bias: false)
        up = Linear(name: "", inFeatures: channels, outFeatures: intermediate, bias: false)
        down = Linear(name: "", inFeatures: intermediate, outFeatures: channels, bias: false)
        renameProjections()
    }

    private func renameProjections() {
        (gate.name, up.name, down.name) = (name + ".gate_proj", name + ".up_proj", name + ".down_proj")
    }

    public var children: [any Layer] { [gate, up, down] }
    public var parameters: [Parameter] { children.flatMap(\.parameters) }

    public func plan(inputShape: [Int]) throws -> LayerPlan {
        guard inputShape.last == channels else { throw ModelError.shape(layer: name, expected: "(…, \(channels))", got: inputShape) }
        let hidden = Array(inputShape.dropLast()) + [intermediate]
        var declarations: [ParameterStore.Declaration] = []
        for (local, projection, shape) in [("gate_proj", gate, inputShape), ("up_proj", up, inputShape), ("down_proj", down, hidden)] {
            declarations += try projection.plan(inputShape: shape).parameters.map { .init(local + "." + $0.name, $0.shape, role: $0.role) }
        }
        return LayerPlan(outputShape: inputShape, parameters: declarations)
    }

    public func bind(_ parameters: [Parameter]) {
        for (projection, parameter) in zip([gate, up, down], parameters) { projection.bind([parameter]) }
    }

    public func forward(_ input: Tensor) -> Tensor {
        let g = gate.forward(input), u = up.forward(input)
        cached = (g, u)
        let s = activated.tensor(g.shape), h = product.tensor(g.shape)
        GatedMLP.gatedActivation(gate: g.pointer, up: u.pointer, activated: s.pointer, into: h.pointer, count: g.count)
        return down.forward(h)
    }

    /// SwiGLU's middle, split over cores: activated = silu(gate), product = activated ⊙ up
    /// (training keeps `activated` for backward; inference passes the product buffer for both).
    public static func gatedActivation(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, activated: UnsafeMutablePointer<Float>,
                                       into product: UnsafeMutablePointer<Float>, count: Int) {
        splitOverCores(count, minimumPerPart: 1 << 14) { range in
            for i in range {
                let s = gate[i] / (1 + exp(-gate[i]))
                activated[i] = s
                product[i] = s * up[i]
            }
        }
    }

    /// dh = down's input gradient; du = dh ⊙ silu(g); dg = dh ⊙ u ⊙ σ(g)(1 + g(1 − σ(g))).
    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let (g, u) = cached else { fatalError("\(name).backward called before forward") }
        let dh = down.backward(outputGradient, needsInputGradient: true)!
        let dg = gateGradient.tensor(g.shape), du = upGradient.tensor(g.shape)
        let s = activated.tensor(g.shape)
        let (gp, upp, sp, dhp, dgp, dup) = (UnsafePointer(g.pointer), UnsafePointer(u.pointer), UnsafePointer(s.pointer),
                                            UnsafePointer(dh.pointer), dg.pointer, du.pointer)
        splitOverCores(g.count, minimumPerPart: 1 << 14) { range in
            for i in range {
                let sigmoid = 1 / (1 + exp(-gp[i]))
                dup[i] = dhp[i] * sp[i]
                dgp[i] = dhp[i] * upp[i] * sigmoid * (1 + gp[i] * (1 - sigmoid))
            }
        }
        let fromGate = gate.backward(dg, needsInputGradient: needsInputGradient)
        let fromUp = up.backward(du, needsInputGradient: needsInputGradient)
        guard needsInputGradient, let fromGate, let fromUp else { return nil }
        let dx = inputGradient.tensor(fromGate.shape)
        simdMap(dx.count, fromGate.pointer, fromUp.pointer, dx.pointer, { $0 + $1 }, { $0 + $1 })
        return dx
    }
}
