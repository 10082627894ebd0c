import Foundation
import TopiaryTensor

/// GPT-2's causal multi-head self-attention on (B, T, C) activations: `qkv` (a Linear C → 3C)
/// projects each position to its query, key and value, each head h attends over positions
/// ≤ t with softmax(q·k / √hs), and `proj` (a Linear C → C) mixes the heads. Both Linears are
/// prunable matrices (`<name>.qkv`, `<name>.proj`); the attention core has no parameters.
///
/// Legend: B batch, T positions, C channels, NH heads, hs = C / NH head size. The qkv row of
/// position t holds [q (C) | k (C) | v (C)], head h at columns h·hs ..< (h+1)·hs of each.
public final class CausalSelfAttention: Layer {
    public var name: String {
        didSet { (qkv.name, proj.name) = (name + ".qkv", name + ".proj") }
    }
    public let channels: Int
    public let heads: Int
    public let qkv: Linear
    public let proj: Linear
    private var headSize: Int { channels / heads }

    /// Softmax weights (B, NH, T, T), row t holding t + 1 live entries, kept for backward.
    private var attention = ActivationBuffer()
    private var output = ActivationBuffer()
    private var qkvGradient = ActivationBuffer()
    private var cachedQKV: Tensor?

    public init(name: String, channels: Int, heads: Int) {
        precondition(heads >= 1 && channels % heads == 0, "channels (\(channels)) must divide into \(heads) heads")
        self.name = name
        self.channels = channels
        self.heads = heads
        qkv = Linear(name: name + ".qkv", inFeatures: channels, outFeatures: 3 * channels)
        proj = Linear(name: name + ".proj", inFeatures: channels, outFeatures: channels)
    }

    public var children: [any Layer] { [qkv, proj] }

    public func plan(inputShape: [Int]) throws -> LayerPlan {
        guard inputShape.count == 2, inputShape[1] == channels else {
            throw ModelError.shape(layer: name, expected: "(T, \(channels))", got: inputShape)
        }
        let qkvPlan = try qkv.plan(inputShape: inputShape)
        let projPlan = try proj.plan(inputShape: inputShape)
        return LayerPlan(outputShape: inputShape,
                         parameters: qkvPlan.parameters.map { .init("qkv." + $0.name, $0.shape, role: $0.role) }
                            + projPlan.parameters.map { .init("proj." + $0.name, $0.shape, role: $0.role) })
    }

    public func bind(_ parameters: [Parameter]) {
        let split = qkv.hasBias ? 2 : 1
        qkv.bind(Array(parameters[..<split]))
        proj.bind(Array(parameters[split...]))
    }

    public var parameters: [Parameter] { qkv.parameters + proj.parameters }

    public func forward(_ input: Tensor) -> Tensor {
        require(input.rank == 3 && input.shape[2] == channels, "\(name) expects (B, T, \(channels)), got \(input.shape)")
        let (batch, positions) = (input.shape[0], input.shape[1])
        let projected = qkv.forward(input)                       // (B, T, 3C)
        cachedQKV = projected
        let mixed = output.tensor([batch, positions, channels])  // (B, T, C)
        let weights = attention.tensor([batch, heads, positions, positions])
        CausalSelfAttention.attend(qkv: projected.pointer, into: mixed.pointer, weights: weights.pointer,
                                   batch: batch, positions: positions, channels: channels, heads: heads)
        return proj.forward(mixed)
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let projected = cachedQKV else { fatalError("\(name).backward called before forward") }
        let (batch, positions) = (projected.shape[0], projected.shape[1])
        let dMixed = proj.backward(outputGradient, needsInputGradient: true)!   // (B, T, C)
        let dQKV = qkvGradient.tensor(projected.shape)
        dQKV.fill(0)
        CausalSelfAttention.attendBackward(qkv: projected.pointer, weights: attention.tensor([batch, heads, positions, positions]).pointer,
                                           outputGradient: dMixed.pointer, qkvGradient: dQKV.pointer,
                                           batch: batch, positions: positions, channels: channels, heads: heads)
        return qkv.backward(dQKV, needsInputGradient: needsInputGradient)
    }

    /// out[b, t, h·hs + i] = Σ_{s ≤ t} a[b, h, t, s] · v[b, s, h·hs + i], with
    /// a[b, h, t, ·] = softmax_s(q_t · k_s / √hs) over s ≤ t (max subtracted first).
    static func attend(qkv: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, weights: UnsafeMutablePointer<Float>,
                       batch: Int, positions: Int, channels: Int, heads: Int) {
        let headSize = channels / heads, rowStride = 3 * channels
        let scale = 1 / Float(headSize).squareRoot()
        for b in 0..<batch {
            for h in 0..<heads {
                for t in 0..<positions {
                    let query = qkv + (b * positions + t) * rowStride + h * headSize
                    let row = weights + ((b * heads + h) * positions + t) * positions
                    var maximum = -Float.infinity
                    for s in 0...t {
                        let key = qkv + (b * positions + s) * rowStride + channels + h * headSize
                        var dot: Float = 0
                        for i in 0..<headSize { dot += query[i] * key[i] }
                        row[s] = dot * scale
                        maximum = max(maximum, row[s])
                    }
                    var total: Float = 0
                    for s in 0...t {
                        row[s] = exp(row[s] - maximum)
                        total += row[s]
                    }
                    let inverse = 1 / total
                    for s in 0...t { row[s] *= inverse }
                    for s in (t + 1)..<max(positions, t + 1) { row[s] = 0 }
                    let target = out + (b * positions + t) * channels + h * headSize
                    for i in 0..<headSize { target[i] = 0 }
                    for s in 0...t {
                        let value = qkv + (b * positions + s) * rowStride + 2 * channels + h * headSize
                        let a = row[s]
                        for i in 0..<headSize { target[i] += a * value[i] }
                    }
                }
            }
        }
    }

    /// The backward of `attend`, accumulating into qkvGradient (zeroed by the caller):
    /// dv_s += a_ts · dout_t;  da_ts = dout_t · v_s;  dz_ts = a_ts (da_ts − Σ_r a_tr da_tr);
    /// dq_t += dz_ts k_s / √hs;  dk_s += dz_ts q_t / √hs.
    static func attendBackward(qkv: UnsafePointer<Float>, weights: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                               qkvGradient: UnsafeMutablePointer<Float>, batch: Int, positions: Int, channels: Int, heads: Int) {
        let headSize = channels / heads, rowStride = 3 * channels
        let scale = 1 / Float(headSize).squareRoot()
        var weightGradient = [Float](repeating: 0, count: positions)
        weightGradient.withUnsafeMutableBufferPointer { da in
            for b in 0..<batch {
                for h in 0..<heads {
                    for t in 0..<positions {
                        let row = weights + ((b * heads + h) * positions + t) * positions
                        let dOut = outputGradient + (b * positions + t) * channels + h * headSize
                        var weighted: Float = 0   // Σ_s a_ts da_ts
                        for s in 0...t {
                            let value = qkv + (b * positions + s) * rowStride + 2 * channels + h * headSize
                            let dValue = qkvGradient + (b * positions + s) * rowStride + 2 * channels + h * headSize
                            let a = row[s]
                            var dot: Float = 0
                            for i in 0..<headSize {
                                dot += dOut[i] * value[i]
                                dValue[i] += a * dOut[i]
                            }
                            da[s] = dot
                            weighted += a * dot
                        }
                        let query = qkv + (b * positions + t) * rowStride + h * headSize
                        let dQuery = qkvGradient + (b * positions + t) * rowStride + h * headSize
                        for s in 0...t {
                            let dz = row[s] * (da[s] - weighted) * scale
                            let key = qkv + (b * positions + s) * rowStride + channels + h * headSize
                            let dKey = qkvGradient + (b * positions + s) * rowStride + channels + h * headSize
                            for i in 0..<headSize {
                                dQuery[i] += dz * key[i]
                                dKey[i] += dz * query[i]
                            }
                        }
                    }
                }
            }
        }
    }
}
