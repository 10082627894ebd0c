import CTopiaryKernels
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
    /// Per worker, one head's (T, T) dA, then dZ in place, in backward.
    private var scoreGradient = ActivationBuffer()
    private var cachedQKV: Tensor?

    /// The attention logits' multiplier: 1/√hs (GPT-2's), or under µP √(base hs)/hs, which
    /// falls as 1/hs with width and equals GPT-2's at the base width.
    public let scoreScale: Float

    public init(name: String, channels: Int, heads: Int, scoreScale: Float? = nil) {
        precondition(heads >= 1 && channels % heads == 0, "channels (\(channels)) must divide into \(heads) heads")
        self.name = name
        self.channels = channels
        self.heads = heads
        self.scoreScale = scoreScale ?? 1 / Float(channels / heads).squareRoot()
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

    /// Head h's q, k and v rows of a qkv matrix whose thirds are `width` rows each.
    public static func headRows(_ h: Int, width: Int, headSize: Int) -> [Int] {
        (0..<3).flatMap { (third: Int) -> [Int] in Array((third * width + h * headSize)..<(third * width + (h + 1) * headSize)) }
    }

    /// Structured pruning of whole heads: head h is qkv rows h·hs ..< (h+1)·hs of each of the
    /// q, k and v thirds with their biases, and proj's columns h·hs ..< (h+1)·hs, which read
    /// its v rows. With them zeroed the head attends uniformly to values that are 0, so it
    /// adds exactly nothing, and compaction can drop it.
    var headCoupling: ChannelCoupling {
        let hs = headSize
        let units = (0..<heads).map { CausalSelfAttention.headRows($0, width: channels, headSize: hs) }
        let columnsOfRow = (0..<(3 * channels)).map { row in row >= 2 * channels ? [row - 2 * channels] : [] }
        return ChannelCoupling(companions: qkv.bias.map { [$0] } ?? [], consumers: [(proj.matrix, columnsOfRow)], units: units)
    }

    public func forward(_ input: Tensor) -> Tensor {
        require(input.rank == 3 && input.shape[2] == channels, "\(name) expects (B, T, \(channels)), got \(input.shape)")
        let (batch, positions) = (input.shape[0], input.shape[1])
        let projected = qkv.forward(input)                       // (B, T, 3C)
        cachedQKV = projected
        let mixed = output.tensor([batch, positions, channels])  // (B, T, C)
        let weights = attention.tensor([batch, heads, positions, positions])
        CausalSelfAttention.attend(qkv: projected.pointer, into: mixed.pointer, weights: weights.pointer,
                                   batch: batch, positions: positions, channels: channels, heads: heads, scale: scoreScale)
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
                                           scratch: scoreGradient.tensor([BLASRuntime.threadCount, positions, positions]).pointer,
                                           batch: batch, positions: positions, channels: channels, heads: heads, scale: scoreScale)
        return qkv.backward(dQKV, needsInputGradient: needsInputGradient)
    }

    /// out[b, t, h·hs + i] = Σ_{s ≤ t} a[b, h, t, s] · v[b, s, h·hs + i], with
    /// a[b, h, t, ·] = softmax_s(q_t · k_s / √hs) over s ≤ t (max subtracted first). Per (b, h)
    /// and block of query rows r0 ..< r1 (`causalRowBlocks`), two GEMMs on the head's strided
    /// blocks over the keys s < r1 only: S = Q·Kᵀ/√hs, then out = A·V (above the diagonal A
    /// is 0, so the blocks skip ~3/8 of the work at T = 128).
    static func attend(qkv: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, weights: UnsafeMutablePointer<Float>,
                       batch: Int, positions: Int, channels: Int, heads: Int, scale: Float? = nil) {
        let (T, hs, rowStride) = (positions, channels / heads, 3 * channels)
        let scale = scale ?? 1 / Float(hs).squareRoot()
        forEachHead(batch: batch, heads: heads) { _, b, h in
            let query = qkv + b * T * rowStride + h * hs
            CausalAttentionHead.forward(rows: T, headSize: hs, scale: scale, query: query, ldq: rowStride,
                                        key: query + channels, value: query + 2 * channels, ldkv: rowStride,
                                        weights: weights + (b * heads + h) * T * T, ldw: T, zeroedLength: T,
                                        into: out + b * T * channels + h * hs, ldo: channels)
        }
    }

    /// Query rows in blocks of 32: block r0 ..< r1 attends to keys 0 ..< r1 only.
    public static func causalRowBlocks(_ positions: Int) -> [Range<Int>] {
        stride(from: 0, to: positions, by: 32).map { $0..<min($0 + 32, positions) }
    }

    /// Runs `body(worker, b, h)` for every (sample, head), the pairs dealt round-robin to
    /// `workers` workers (default: as many as BLAS has threads), each worker's GEMMs single-threaded: a head's GEMMs
    /// (T × T × hs) are too small for OpenBLAS to split well, the pairs are independent, and
    /// each writes only its own head's columns. `worker` indexes per-worker scratch.
    public static func forEachHead(batch: Int, heads: Int, workers threads: Int = BLASRuntime.threadCount,
                                   _ body: (_ worker: Int, _ b: Int, _ h: Int) -> Void) {
        let pairs = batch * heads
        let workers = min(threads, pairs)
        guard workers > 1 else {
            for pair in 0..<pairs { body(0, pair / heads, pair % heads) }
            return
        }
        BLASRuntime.withThreadCount(1) {
            concurrentParts(workers) { worker in
                for pair in stride(from: worker, to: pairs, by: workers) { body(worker, pair / heads, pair % heads) }
            }
        }
    }

    /// Row `row` of scores: softmax over its first `live` entries, zeros after them (a
    /// vectorised C kernel; `referenceCausalSoftmax` is the plain loop it is tested against).
    public static func causalSoftmax(_ row: UnsafeMutablePointer<Float>, live: Int, length: Int) {
        topiary_causal_softmax_row(live, length, row)
    }

    static func referenceCausalSoftmax(_ row: UnsafeMutablePointer<Float>, live: Int, length: Int) {
        var maximum = -Float.infinity
        for s in 0..<live { maximum = max(maximum, row[s]) }
        var total: Float = 0
        for s in 0..<live {
            row[s] = exp(row[s] - maximum)
            total += row[s]
        }
        let inverse = 1 / total
        for s in 0..<live { row[s] *= inverse }
        for s in live..<length { row[s] = 0 }
    }

    /// dZ = A ⊙ (dA − Σ A ⊙ dA) · scale over a row's first `live` entries, in place, zeros
    /// after: the plain loop `topiary_causal_softmax_backward_row` is tested against.
    static func referenceSoftmaxBackward(_ weights: UnsafePointer<Float>, _ gradient: UnsafeMutablePointer<Float>, live: Int, length: Int, scale: Float) {
        var weighted: Float = 0
        for s in 0..<live { weighted += weights[s] * gradient[s] }
        for s in 0..<live { gradient[s] = weights[s] * (gradient[s] - weighted) * scale }
        for s in live..<length { gradient[s] = 0 }
    }

    /// The backward of `attend`, accumulating into qkvGradient (zeroed by the caller; scratch
    /// holds T × T floats per BLAS thread), per
    /// (b, h): dA = dOut·Vᵀ, dV += Aᵀ·dOut, dZ = A ⊙ (dA − rowsum(A ⊙ dA)) / √hs (the softmax's
    /// backward; zero above the diagonal since A is), dQ = dZ·K, dK += dZᵀ·Q — in the same
    /// row blocks as the forward.
    static func attendBackward(qkv: UnsafePointer<Float>, weights: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                               qkvGradient: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                               batch: Int, positions: Int, channels: Int, heads: Int, scale: Float? = nil) {
        let (T, hs, rowStride) = (positions, channels / heads, 3 * channels)
        let scale = scale ?? 1 / Float(hs).squareRoot()
        forEachHead(batch: batch, heads: heads) { worker, b, h in
            let query = qkv + b * T * rowStride + h * hs, dQuery = qkvGradient + b * T * rowStride + h * hs
            CausalAttentionHead.backward(positions: T, headSize: hs, scale: scale, query: query, ldq: rowStride,
                                         key: query + channels, value: query + 2 * channels, ldkv: rowStride,
                                         weights: weights + (b * heads + h) * T * T, outputGradient: outputGradient + b * T * channels + h * hs,
                                         ldo: channels, scratch: scratch + worker * T * T, queryGradient: dQuery,
                                         keyGradient: dQuery + channels, valueGradient: dQuery + 2 * channels)
        }
    }
}
