import TopiaryNN
import TopiaryTensor

/// A matrix as inference holds it: copies of the masked weight (rows, fan-in), its mask and
/// bias (zeros when the layer has none), where it applies (nil geometry: a Linear), and a
/// fused ReLU. BatchNorm has been folded in: W ← diag(s)·W, b ← s·b + t.
public struct InferenceMatrix: @unchecked Sendable {
    public let name: String
    public var weight: Tensor
    public var mask: Tensor
    public var bias: Tensor
    public var geometry: ConvolutionGeometry?
    public var relu: Bool
    public var rows: Int { weight.rows }
    public var fanIn: Int { weight.columns }
    /// Applications per sample: output positions of a convolution; for a Linear, set when
    /// the program is planned for an input shape (1 for (B, in)).
    public var positions: Int

    /// The unrolling of a convolution's input, for im2col.
    var unroll: UnrollShape? {
        guard let g = geometry else { return nil }
        let two = g.kernel.count == 2
        return UnrollShape(channels: g.inChannels, height: two ? g.inputSize[0] : 1, width: g.inputSize.last!,
                           kernelHeight: two ? g.kernel[0] : 1, kernelWidth: g.kernel.last!,
                           strideHeight: two ? g.stride[0] : 1, strideWidth: g.stride.last!,
                           padHeight: two ? g.padding[0] : 0, padWidth: g.padding.last!)
    }
}

extension InferenceMatrix {
    /// A copy of `source` with its mask applied, and of its bias (zeros when it has none).
    init(copying source: PrunableMatrix, bias: Tensor?) {
        let weight = source.value.copy()
        multiply(weight, source.mask, into: weight)
        self.init(name: source.layerName, weight: weight, mask: source.mask.copy(), bias: bias?.copy() ?? Tensor(zeros: [source.rows]),
                  geometry: nil, relu: false, positions: source.positions)
        if case .convolution(let geometry) = source.operation { self.geometry = geometry }
    }
}

/// What inference runs between matrices (see `InferenceOperation`); `matrix` points into the
/// program's `matrices`, `gather` keeps the listed input features (a compacted first layer).
public indirect enum InferenceStep: @unchecked Sendable {
    case matrix(Int)
    case activation(Activation)
    case channelAffine(scale: [Float], shift: [Float])
    case maxPool(PoolGeometry)
    case averagePool(PoolGeometry)
    case globalAveragePool
    case flatten
    case residual(body: [InferenceStep], shortcut: [InferenceStep])
    case layerNorm(gain: [Float], shift: [Float], epsilon: Float)
    case gather([Int])
    /// Copies of the tables (V, C) and (context, C); `tiedHead` shares the token table.
    case tokenEmbedding(Tensor)
    case positionEmbedding(Tensor)
    /// Matrix indices of the qkv and proj projections; the qkv index also names the
    /// attention's KV cache.
    case attention(qkv: Int, proj: Int, heads: Int)
    case tiedHead(Tensor)
    case rmsNorm(gain: [Float], epsilon: Float)
    case groupedAttention(GroupedAttentionStep)
    /// Matrix indices of SwiGLU's three projections.
    case gatedMLP(gate: Int, up: Int, down: Int)
    /// y = factor · x where it could not be folded into a matrix or a norm before it.
    case scale(Float)
}

/// A Llama attention's matrix indices (the query's also names its KV cache), its heads and
/// the rotary tables for the positions it may see.
public struct GroupedAttentionStep: @unchecked Sendable {
    public let query: Int, key: Int, value: Int, output: Int
    public let heads: Int, keyValueHeads: Int, headSize: Int
    let rotary: RotaryEmbedding
}

/// A model prepared for inference, before any engine: its steps and matrix copies, with
/// BatchNorm folded into the matrix before it and ReLU fused into it.
public struct InferenceProgram: @unchecked Sendable {
    public var steps: [InferenceStep]
    public var matrices: [InferenceMatrix]
    public let inputShape: [Int]
    public let outputShape: [Int]

    /// Nil when the model offers no inference plan (it is then measured by its own forward).
    public init?(_ model: any Model) {
        guard let plan = model.inferencePlan else { return nil }
        var matrices: [InferenceMatrix] = []
        steps = InferenceProgram.lower(plan, into: &matrices)
        self.matrices = matrices
        inputShape = model.inputShape
        outputShape = model.outputShape
    }

    init(steps: [InferenceStep], matrices: [InferenceMatrix], inputShape: [Int], outputShape: [Int]) {
        self.steps = steps
        self.matrices = matrices
        self.inputShape = inputShape
        self.outputShape = outputShape
    }

    /// Copies the matrices, folds a BatchNorm that directly follows a matrix, fuses a ReLU
    /// that follows it (after the fold).
    static func lower(_ operations: [InferenceOperation], into matrices: inout [InferenceMatrix]) -> [InferenceStep] {
        var tokenTable: Tensor?
        return lower(operations, into: &matrices, tokenTable: &tokenTable)
    }

    private static func lower(_ operations: [InferenceOperation], into matrices: inout [InferenceMatrix],
                              tokenTable: inout Tensor?) -> [InferenceStep] {
        var steps: [InferenceStep] = []
        var index = 0
        while index < operations.count {
            switch operations[index] {
            case .matrix(let source, let bias):
                var matrix = InferenceMatrix(copying: source, bias: bias)
                if index + 1 < operations.count, case .channelAffine(let scale, let shift) = operations[index + 1] {
                    for r in 0..<matrix.rows {
                        let row = matrix.weight.pointer + r * matrix.fanIn
                        for j in 0..<matrix.fanIn { row[j] *= scale[r] }
                        matrix.bias[r] = matrix.bias[r] * scale[r] + shift[r]
                    }
                    index += 1
                }
                if index + 1 < operations.count, case .scale(let factor) = operations[index + 1] {
                    for i in 0..<matrix.weight.count { matrix.weight[i] *= factor }
                    for r in 0..<matrix.rows { matrix.bias[r] *= factor }
                    index += 1
                }
                if index + 1 < operations.count, case .activation(.relu) = operations[index + 1] {
                    matrix.relu = true
                    index += 1
                }
                matrices.append(matrix)
                steps.append(.matrix(matrices.count - 1))
            case .channelAffine(let scale, let shift): steps.append(.channelAffine(scale: scale, shift: shift))
            case .activation(let activation): steps.append(.activation(activation))
            case .maxPool(let geometry): steps.append(.maxPool(geometry))
            case .averagePool(let geometry): steps.append(.averagePool(geometry))
            case .globalAveragePool: steps.append(.globalAveragePool)
            case .flatten: steps.append(.flatten)
            case .residual(let body, let shortcut):
                steps.append(.residual(body: lower(body, into: &matrices, tokenTable: &tokenTable),
                                       shortcut: lower(shortcut, into: &matrices, tokenTable: &tokenTable)))
            case .layerNorm(let gain, let shift, let epsilon):
                var (g, b) = (gain.toArray(), shift.toArray())
                if index + 1 < operations.count, case .scale(let factor) = operations[index + 1] {
                    (g, b) = (g.map { $0 * factor }, b.map { $0 * factor })
                    index += 1
                }
                steps.append(.layerNorm(gain: g, shift: b, epsilon: epsilon))
            case .scale(let factor): steps.append(.scale(factor))
            case .tokenEmbedding(let table):
                tokenTable = table.copy()
                steps.append(.tokenEmbedding(tokenTable!))
            case .positionEmbedding(let table): steps.append(.positionEmbedding(table.copy()))
            case .causalAttention(let qkv, let qkvBias, let proj, let projBias, let heads, let queryScale):
                let queries = InferenceMatrix(copying: qkv, bias: qkvBias)
                if queryScale != 1 {
                    // Rows 0 ..< C are the queries: q·k·(scoreScale) = (q·queryScale)·k/√hs.
                    let channels = queries.rows / 3
                    for i in 0..<(channels * queries.fanIn) { queries.weight[i] *= queryScale }
                    for r in 0..<channels { queries.bias[r] *= queryScale }
                }
                matrices += [queries, InferenceMatrix(copying: proj, bias: projBias)]
                steps.append(.attention(qkv: matrices.count - 2, proj: matrices.count - 1, heads: heads))
            case .rmsNorm(let gain, let epsilon): steps.append(.rmsNorm(gain: gain.toArray(), epsilon: epsilon))
            case .groupedAttention(let query, let key, let value, let output, let heads, let keyValueHeads, let rotary):
                matrices += [query, key, value, output].map { InferenceMatrix(copying: $0, bias: nil) }
                let first = matrices.count - 4
                steps.append(.groupedAttention(GroupedAttentionStep(query: first, key: first + 1, value: first + 2, output: first + 3, heads: heads,
                                                                    keyValueHeads: keyValueHeads, headSize: rotary.headSize, rotary: rotary)))
            case .gatedMLP(let gate, let up, let down):
                matrices += [gate, up, down].map { InferenceMatrix(copying: $0, bias: nil) }
                steps.append(.gatedMLP(gate: matrices.count - 3, up: matrices.count - 2, down: matrices.count - 1))
            case .tiedHead(let table):
                // The head reads the embedding's own copy when the program has one: one table.
                steps.append(.tiedHead(tokenTable ?? table.copy()))
            }
            index += 1
        }
        return steps
    }

    /// Every step in run order, residual branches' steps included (body, then shortcut).
    var allSteps: [InferenceStep] { InferenceProgram.flattened(steps) }

    private static func flattened(_ steps: [InferenceStep]) -> [InferenceStep] {
        steps.flatMap { step -> [InferenceStep] in
            if case .residual(let body, let shortcut) = step { return [step] + flattened(body) + flattened(shortcut) }
            return [step]
        }
    }

    /// Every attention's KV cache: keyed by its first matrix (qkv, or the query), with its
    /// key/value heads and head size, and the width its queries attend with (NH·hs).
    var attentionCaches: [(key: Int, keyValueHeads: Int, headSize: Int, queryWidth: Int)] {
        allSteps.compactMap { step in
            switch step {
            case .attention(let qkv, _, let heads):
                let width = matrices[qkv].rows / 3
                return (qkv, heads, width / max(heads, 1), width)
            case .groupedAttention(let attention):
                return (attention.query, attention.keyValueHeads, attention.headSize, attention.heads * attention.headSize)
            default: return nil
            }
        }
    }

    /// Every GPT-2 attention step: its qkv and proj matrices and heads.
    var attentions: [(qkv: Int, proj: Int, heads: Int)] {
        allSteps.compactMap { step in
            if case .attention(let qkv, let proj, let heads) = step { return (qkv, proj, heads) }
            return nil
        }
    }

    /// FLOPs of the matrices for one position (one token of a sequence model), dense and
    /// counting nonzero weights only.
    public var flopsPerPosition: (dense: Int, effective: Int) {
        matrices.reduce((0, 0)) { ($0.0 + 2 * $1.weight.count, $0.1 + 2 * countNonzeros($1.mask)) }
    }

    /// FLOPs per position of a head tied to the token table, 2·V·C (0 without one: an untied
    /// head is one of the matrices).
    public var tiedHeadFLOPsPerPosition: Int {
        allSteps.reduce(0) { sum, step in
            if case .tiedHead(let table) = step { return sum + 2 * table.count }
            return sum
        }
    }

    /// FLOPs per sample of the matrices, dense and counting nonzero weights only.
    public var flops: (dense: Int, effective: Int) {
        matrices.reduce((0, 0)) { ($0.0 + 2 * $1.weight.count * $1.positions, $0.1 + 2 * countNonzeros($1.mask) * $1.positions) }
    }
}
