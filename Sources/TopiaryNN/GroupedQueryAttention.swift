import CTopiaryKernels
import TopiaryTensor

/// Llama's causal self-attention on (B, T, C) activations: separate projections `q_proj`
/// (C → NH·hs), `k_proj` and `v_proj` (C → NKV·hs) and `o_proj` (NH·hs → C), no biases;
/// rotary position embeddings on q and k; grouped-query attention, where query head h reads
/// key/value head h / (NH/NKV). All four projections are prunable matrices.
///
/// Legend: B batch, T positions, C channels, NH query heads, NKV key/value heads, hs head size.
public final class GroupedQueryAttention: Layer {
    public var name: String {
        didSet { renameProjections() }
    }
    public let channels: Int
    public let heads: Int
    public let keyValueHeads: Int
    public let headSize: Int
    public let query: Linear, key: Linear, value: Linear, output: Linear
    public private(set) var rotary: RotaryEmbedding
    /// Query heads per key/value head.
    private var group: Int { heads / keyValueHeads }

    /// q (B, T, NH·hs) and k (B, T, NKV·hs), rotated in place in their projections' output
    /// buffers, and v; softmax weights (B, NH, T, T); all kept for backward.
    private var cachedQKV: (q: Tensor, k: Tensor, v: Tensor)?
    private var attention = ActivationBuffer()
    private var mixed = ActivationBuffer()
    private var queryGradient = ActivationBuffer(), keyGradient = ActivationBuffer(), valueGradient = ActivationBuffer()
    private var scoreGradient = ActivationBuffer()
    private var inputGradient = ActivationBuffer()
    private var positions = 0, batch = 0

    public init(name: String, channels: Int, heads: Int, keyValueHeads: Int, headSize: Int? = nil, ropeTheta: Float = 10_000) {
        let headSize = headSize ?? channels / heads
        precondition(heads >= 1 && keyValueHeads >= 1 && heads % keyValueHeads == 0,
                     "query heads (\(heads)) must be a multiple of key/value heads (\(keyValueHeads))")
        self.name = name
        self.channels = channels
        self.heads = heads
        self.keyValueHeads = keyValueHeads
        self.headSize = headSize
        rotary = RotaryEmbedding(headSize: headSize, theta: ropeTheta)
        query = Linear(name: "", inFeatures: channels, outFeatures: heads * headSize, bias: false)
        key = Linear(name: "", inFeatures: channels, outFeatures: keyValueHeads * headSize, bias: false)
        value = Linear(name: "", inFeatures: channels, outFeatures: keyValueHeads * headSize, bias: false)
        output = Linear(name: "", inFeatures: heads * headSize, outFeatures: channels, bias: false)
        renameProjections()
    }

    private func renameProjections() {
        (query.name, key.name, value.name, output.name) = (name + ".q_proj", name + ".k_proj", name + ".v_proj", name + ".o_proj")
    }

    public var children: [any Layer] { [query, key, value, output] }
    public var parameters: [Parameter] { children.flatMap(\.parameters) }

    public func plan(inputShape: [Int]) throws -> LayerPlan {
        guard inputShape.count == 2, inputShape[1] == channels else {
            throw ModelError.shape(layer: name, expected: "(T, \(channels))", got: inputShape)
        }
        var declarations: [ParameterStore.Declaration] = []
        for (local, projection) in [("q_proj", query), ("k_proj", key), ("v_proj", value)] {
            declarations += try projection.plan(inputShape: inputShape).parameters.map { .init(local + "." + $0.name, $0.shape, role: $0.role) }
        }
        declarations += try output.plan(inputShape: [inputShape[0], heads * headSize]).parameters.map { .init("o_proj." + $0.name, $0.shape, role: $0.role) }
        rotary.prepare(positions: inputShape[0])
        return LayerPlan(outputShape: inputShape, parameters: declarations)
    }

    public func bind(_ parameters: [Parameter]) {
        for (projection, parameter) in zip([query, key, value, output], parameters) { projection.bind([parameter]) }
    }

    /// Rotates every position's heads of a (B, T, heads·hs) buffer in place.
    private func rotate(_ x: Tensor, heads: Int, inverse: Bool) {
        let (T, width, rotary) = (positions, heads * headSize, rotary)
        let rows = batch * T, pointer = x.pointer
        splitOverCores(rows, minimumPerPart: 16, alignment: 1) { range in
            for row in range { rotary.rotate(pointer + row * width, heads: heads, position: row % T, inverse: inverse) }
        }
    }

    public func forward(_ input: Tensor) -> Tensor {
        require(input.rank == 3 && input.shape[2] == channels, "\(name) expects (B, T, \(channels)), got \(input.shape)")
        (batch, positions) = (input.shape[0], input.shape[1])
        rotary.prepare(positions: positions)
        let q = query.forward(input), k = key.forward(input), v = value.forward(input)
        cachedQKV = (q, k, v)
        rotate(q, heads: heads, inverse: false)
        rotate(k, heads: keyValueHeads, inverse: false)
        let out = mixed.tensor([batch, positions, heads * headSize])
        let weights = attention.tensor([batch, heads, positions, positions])
        let (T, hs, NH, NKV, group) = (positions, headSize, heads, keyValueHeads, group)
        let scale = 1 / Float(hs).squareRoot()
        let (qp, kp, vp, op, ap) = (UnsafePointer(q.pointer), UnsafePointer(k.pointer), UnsafePointer(v.pointer), out.pointer, weights.pointer)
        CausalSelfAttention.forEachHead(batch: batch, heads: NH) { _, b, h in
            let kvOffset = b * T * NKV * hs + (h / group) * hs
            CausalAttentionHead.forward(rows: T, headSize: hs, scale: scale, query: qp + b * T * NH * hs + h * hs, ldq: NH * hs,
                                        key: kp + kvOffset, value: vp + kvOffset, ldkv: NKV * hs,
                                        weights: ap + (b * NH + h) * T * T, ldw: T, zeroedLength: T,
                                        into: op + b * T * NH * hs + h * hs, ldo: NH * hs)
        }
        return output.forward(out)
    }

    /// Per (b, key/value head), its group's query heads in order (so dK and dV of a shared
    /// head are accumulated by one worker): dA = dOut·Vᵀ, dV += Aᵀ·dOut, dZ = softmax
    /// backward · scale, dQ = dZ·K, dK += dZᵀ·Q; then dQ and dK rotate back and the three
    /// projections' input gradients add up.
    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let (q, k, v) = cachedQKV else { fatalError("\(name).backward called before forward") }
        let (T, hs, NH, NKV, group) = (positions, headSize, heads, keyValueHeads, group)
        let dOut = output.backward(outputGradient, needsInputGradient: true)!          // (B, T, NH·hs)
        let dq = queryGradient.tensor([batch, T, NH * hs]), dk = keyGradient.tensor([batch, T, NKV * hs])
        let dv = valueGradient.tensor([batch, T, NKV * hs])
        dk.fill(0)
        dv.fill(0)
        let weights = attention.tensor([batch, NH, T, T])
        let scratch = scoreGradient.tensor([BLASRuntime.threadCount, T, T])
        let scale = 1 / Float(hs).squareRoot()
        let (qp, kp, vp, ap, dop) = (UnsafePointer(q.pointer), UnsafePointer(k.pointer), UnsafePointer(v.pointer),
                                     UnsafePointer(weights.pointer), UnsafePointer(dOut.pointer))
        let (dqp, dkp, dvp, sp) = (dq.pointer, dk.pointer, dv.pointer, scratch.pointer)
        CausalSelfAttention.forEachHead(batch: batch, heads: NKV) { worker, b, kvh in
            let scores = sp + worker * T * T
            let kh = kp + b * T * NKV * hs + kvh * hs, vh = vp + b * T * NKV * hs + kvh * hs
            let dkh = dkp + b * T * NKV * hs + kvh * hs, dvh = dvp + b * T * NKV * hs + kvh * hs
            for h in (kvh * group)..<((kvh + 1) * group) {
                let headOffset = b * T * NH * hs + h * hs
                CausalAttentionHead.backward(positions: T, headSize: hs, scale: scale, query: qp + headOffset, ldq: NH * hs,
                                             key: kh, value: vh, ldkv: NKV * hs, weights: ap + (b * NH + h) * T * T,
                                             outputGradient: dop + headOffset, ldo: NH * hs, scratch: scores,
                                             queryGradient: dqp + headOffset, keyGradient: dkh, valueGradient: dvh)
            }
        }
        rotate(dq, heads: NH, inverse: true)
        rotate(dk, heads: NKV, inverse: true)
        let fromQuery = query.backward(dq, needsInputGradient: needsInputGradient)
        let fromKey = key.backward(dk, needsInputGradient: needsInputGradient)
        let fromValue = value.backward(dv, needsInputGradient: needsInputGradient)
        guard needsInputGradient, let fromQuery, let fromKey, let fromValue else { return nil }
        let dx = inputGradient.tensor(fromQuery.shape)
        simdMap(dx.count, fromQuery.pointer, fromKey.pointer, dx.pointer, { $0 + $1 }, { $0 + $1 })
        simdMap(dx.count, dx.pointer, fromValue.pointer, dx.pointer, { $0 + $1 }, { $0 + $1 })
        return dx
    }
}
