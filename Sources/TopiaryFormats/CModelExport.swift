import Foundation
import TopiaryInference
import TopiaryNN
import TopiaryTensor

/// How exported weights are stored; activations stay Float32 either way.
public enum ExportPrecision: String, CaseIterable, Codable, Sendable {
    case float32
    /// Symmetric per-row int8 codes with one Float32 scale per row: the `int8` engine's scheme
    /// (`Int8Matrix`), so the export computes what that engine computes.
    case int8
}

/// Which layout each matrix takes: the smaller of the two (the default), or one for all.
public enum ExportLayout: String, CaseIterable, Codable, Sendable {
    case smallest, dense, sparse
}

/// One matrix of an export: the storage chosen (the smaller of dense and CSR) and both sizes,
/// each counting values, indices, int8 scales and the bias.
public struct ExportedMatrix: Sendable, Codable, Equatable {
    public let name: String
    public let rows: Int
    public let fanIn: Int
    public let nonzeros: Int
    public let sparse: Bool
    public let denseBytes: Int
    public let sparseBytes: Int
    public var bytes: Int { sparse ? sparseBytes : denseBytes }
}

/// A model as C99 for a microcontroller: `model.h` and `model.c`, weights as `const` arrays
/// (flash), one static arena whose size the header states, no allocation, and the entry points
/// `topiary_predict(const float *in, float *out)` and `topiary_predict_q8(const int8_t *in,
/// float in_scale, float *out)` (inputs quantized by the caller as in_scale · code).
///
/// The translation starts from an `InferenceProgram` (BatchNorm folded, ReLU fused; compact
/// it first to drop pruned channels), so what the C computes is what Topiary's engine
/// computes for that program, up to summation order. MLP and CNN steps only: Linear, 1-D
/// and 2-D convolution, pooling, per-channel affine, activations, flatten, gather.
///
/// Arena: a step reads its input from one end of the arena and writes its output at the other
/// (a convolution's zero-padded copy of its input sits next to the input), so the arena is the
/// largest input + padded copy + output of any one step, not twice the largest activation.
public struct CModelExport: Sendable {
    public let header: String
    public let source: String
    public let matrices: [ExportedMatrix]
    public let precision: ExportPrecision
    public let inputCount: Int
    public let outputCount: Int
    public let arenaBytes: Int
    /// Bytes of every `const` array: the matrices' chosen storage, convolution offset tables,
    /// gather indices and per-channel affines.
    public let constantBytes: Int

    /// The activation shape per sample: `channels` planes of `spatial` (empty: a flat vector).
    private struct Shape {
        var channels: Int
        var spatial: [Int]
        var count: Int { channels * spatial.reduce(1, *) }
    }

    public init(_ program: InferenceProgram, precision: ExportPrecision, layout: ExportLayout = .smallest, modelName: String) throws {
        self.precision = precision
        var shape = Shape(channels: program.inputShape.first ?? 1, spatial: Array(program.inputShape.dropFirst()))
        inputCount = shape.count
        let all = program.matrices
        var body: [String] = []
        var constants: [String] = []
        var constantBytes = 0
        var arenaFloats = shape.count
        var usedActivations = Set<String>()
        var exported: [ExportedMatrix] = []
        var atBottom = true   // which end of the arena holds the current activation
        /// The address of `count` floats at one end of the arena.
        func place(bottom: Bool, _ count: Int) -> String {
            bottom ? "topiary_arena" : "(topiary_arena + TOPIARY_ARENA_FLOATS - \(count))"
        }

        // Index widths fixed for the whole file: 16 bits when every offset and row start fits.
        let encodings = try all.map { try MatrixEncoding($0, precision: precision) }
        let gathered = program.steps.compactMap { step -> Int? in
            if case .gather(let columns) = step { return columns.max() }
            return nil
        }
        let columnBits = encodings.allSatisfy { $0.largestOffset < 65_536 } && gathered.allSatisfy { $0 < 65_536 } ? 16 : 32
        let pointerBits = encodings.allSatisfy { $0.nonzeros < 65_536 } ? 16 : 32

        func unsupported(_ step: String) -> ExportError {
            ExportError.unsupportedStep(format: "C", step: step,
                                        hint: "C export handles MLP and CNN models (Linear, Conv1d/Conv2d, pooling, BatchNorm, activations)")
        }

        for (stepIndex, step) in program.steps.enumerated() {
            let inCount = shape.count
            let current = place(bottom: atBottom, inCount)
            /// The output's address at the other end, for a step that moves the activation.
            func moved(_ count: Int, besides padding: Int = 0) -> String {
                arenaFloats = max(arenaFloats, inCount + padding + count)
                atBottom.toggle()
                return place(bottom: atBottom, count)
            }
            switch step {
            case .matrix(let m):
                let matrix = all[m], encoding = encodings[m]
                let symbol = "m\(m)"
                var input = current
                var pitch = 0, padding = 0
                var grid = (outH: 1, outW: 1, strideH: 1, strideW: 1)
                if let g = matrix.geometry {
                    let two = g.kernel.count == 2
                    guard shape.channels == g.inChannels, shape.spatial == g.inputSize else {
                        throw unsupported("\(matrix.name): a convolution over \(g.inChannels) × \(g.inputSize) fed \(shape.channels) × \(shape.spatial)")
                    }
                    let padded = PaddedInput(g)
                    pitch = padded.pitch
                    if padded.padH > 0 || padded.padW > 0 {
                        padding = g.inChannels * padded.plane
                        input = atBottom ? "(topiary_arena + \(inCount))" : "(topiary_arena + TOPIARY_ARENA_FLOATS - \(inCount + padding))"
                        body.append("    topiary_pad(\(g.inChannels), \(padded.h), \(padded.w), \(padded.padH), \(padded.padW), \(current), \(input));")
                    }
                    grid = (two ? g.outputSize[0] : 1, g.outputSize.last!, two ? g.stride[0] : 1, g.stride.last!)
                    shape = Shape(channels: matrix.rows, spatial: g.outputSize)
                } else {
                    guard shape.count == matrix.fanIn else {
                        throw unsupported("\(matrix.name): a Linear of fan-in \(matrix.fanIn) fed \(shape.count) values")
                    }
                    shape = Shape(channels: matrix.rows, spatial: [])
                }
                let offsets = matrix.geometry.map { PaddedInput($0).offsets }
                let chosen = encoding.choose(offsets: offsets, columnBytes: columnBits / 8, pointerBytes: pointerBits / 8, layout: layout)
                exported.append(ExportedMatrix(name: matrix.name, rows: matrix.rows, fanIn: matrix.fanIn, nonzeros: encoding.nonzeros,
                                               sparse: chosen.sparse, denseBytes: chosen.denseBytes, sparseBytes: chosen.sparseBytes))
                constantBytes += chosen.sparse ? chosen.sparseBytes : chosen.denseBytes
                constants.append(encoding.declarations(symbol: symbol, offsets: offsets, sparse: chosen.sparse, summary: chosen.summary))
                constants.append("static const topiary_grid \(symbol)_grid = { \(grid.outH), \(grid.outW), \(grid.strideH), \(grid.strideW), \(pitch) };\n")
                let relu = matrix.relu ? 1 : 0
                let q8 = precision == .int8
                let other = moved(shape.count, besides: padding)
                let values = q8 ? "\(symbol)_q, \(symbol)_scale" : "\(symbol)_w"
                if chosen.sparse {
                    body.append("    topiary_csr_\(q8 ? "q8" : "f32")(&\(symbol)_grid, \(matrix.rows), \(symbol)_start, \(symbol)_col, \(values), \(symbol)_b, \(input), \(other), \(relu));")
                } else {
                    let offsetTable = offsets == nil ? "0" : "\(symbol)_off"
                    body.append("    topiary_dense_\(q8 ? "q8" : "f32")(&\(symbol)_grid, \(matrix.rows), \(matrix.fanIn), \(offsetTable), \(values), \(symbol)_b, \(input), \(other), \(relu));")
                }
            case .activation(let activation):
                guard CKernelSource.activation(activation.rawValue) != nil else { throw unsupported("the activation \(activation.rawValue)") }
                usedActivations.insert(activation.rawValue)
                body.append("    topiary_\(activation.rawValue)(\(shape.count), \(current));")
            case .scale(let factor):
                body.append("    topiary_scale(\(shape.count), \(CLiteral.hexadecimal(factor)), \(current));")
            case .channelAffine(let scale, let shift):
                guard scale.count == shape.channels else {
                    throw unsupported("a per-channel affine of \(scale.count) channels on \(shape.channels) (a BatchNorm after a flatten, in a compacted model)")
                }
                guard (scale + shift).allSatisfy(\.isFinite) else { throw ExportError.nonFinite(tensor: "the affine of step \(stepIndex)") }
                let symbol = "affine\(stepIndex)"
                constants.append(CLiteral.floats("\(symbol)_scale", scale) + CLiteral.floats("\(symbol)_shift", shift))
                constantBytes += 4 * (scale.count + shift.count)
                body.append("    topiary_channel_affine(\(shape.channels), \(shape.spatial.reduce(1, *)), \(symbol)_scale, \(symbol)_shift, \(current));")
            case .maxPool(let g), .averagePool(let g):
                let maximum: Bool
                if case .maxPool = step { maximum = true } else { maximum = false }
                guard shape.spatial == g.inputSize else { throw unsupported("a pooling over \(g.inputSize) fed \(shape.spatial)") }
                let two = g.kernel.count == 2
                let (h, w) = two ? (g.inputSize[0], g.inputSize[1]) : (1, g.inputSize[0])
                let (oh, ow) = two ? (g.outputSize[0], g.outputSize[1]) : (1, g.outputSize[0])
                let (kh, kw) = two ? (g.kernel[0], g.kernel[1]) : (1, g.kernel[0])
                let (sh, sw) = two ? (g.stride[0], g.stride[1]) : (1, g.stride[0])
                shape.spatial = g.outputSize
                body.append("    topiary_pool(\(shape.channels), \(h), \(w), \(kh), \(kw), \(sh), \(sw), \(oh), \(ow), \(maximum ? 1 : 0), \(current), \(moved(shape.count)));")
            case .globalAveragePool:
                body.append("    topiary_global_average(\(shape.channels), \(shape.spatial.reduce(1, *)), \(current), \(moved(shape.channels)));")
                shape.spatial = []
            case .flatten:
                shape = Shape(channels: shape.count, spatial: [])   // channel-major memory is already flat
            case .gather(let columns):
                let symbol = "gather\(stepIndex)"
                constants.append(CLiteral.integers("\(symbol)_index", type: "topiary_col_t", columns))
                constantBytes += columns.count * columnBits / 8
                body.append("    topiary_gather(\(columns.count), \(symbol)_index, \(current), \(moved(columns.count)));")
                shape = Shape(channels: columns.count, spatial: [])
            case .residual: throw unsupported("a residual block")
            case .layerNorm: throw unsupported("a LayerNorm")
            case .tokenEmbedding, .positionEmbedding, .attention, .tiedHead: throw unsupported("a transformer step")
            case .rmsNorm, .groupedAttention, .gatedMLP: throw unsupported("a Llama step")
            }
        }
        outputCount = shape.count
        matrices = exported
        self.constantBytes = constantBytes
        arenaBytes = 4 * arenaFloats

        let guardName = "TOPIARY_MODEL_H"
        header = """
        /* \(modelName): exported by Topiary. Weights \(precision.rawValue); activations float32.
         * Input: \(inputCount) floats, shape \(program.inputShape) (channel-major, as Topiary's input).
         * Output: \(outputCount) floats (the model's raw outputs: logits for a classifier).
         * Memory: \(constantBytes) bytes of const data (flash), one static arena of TOPIARY_ARENA_BYTES (RAM), no malloc. */
        #ifndef \(guardName)
        #define \(guardName)
        #include <stdint.h>
        #ifdef __cplusplus
        extern "C" {
        #endif
        #define TOPIARY_INPUT_FLOATS \(inputCount)
        #define TOPIARY_OUTPUT_FLOATS \(outputCount)
        #define TOPIARY_ARENA_BYTES \(arenaBytes)
        #define TOPIARY_CONST_BYTES \(constantBytes)
        /* out[TOPIARY_OUTPUT_FLOATS] for in[TOPIARY_INPUT_FLOATS]. Not reentrant (one arena). */
        void topiary_predict(const float *in, float *out);
        /* The same for inputs quantized by the caller: value = in_scale * code. */
        void topiary_predict_q8(const int8_t *in, float in_scale, float *out);
        #ifdef __cplusplus
        }
        #endif
        #endif

        """

        var text = """
        /* \(modelName): exported by Topiary (weights \(precision.rawValue)). Portable C99: scalar loops in a fixed
         * summation order; compile with -ffp-contract=off so every compiler gives the same bits. */
        #include "model.h"
        #include <math.h>
        #include <string.h>

        typedef \(columnBits == 16 ? "uint16_t" : "uint32_t") topiary_col_t;
        typedef \(pointerBits == 16 ? "uint16_t" : "uint32_t") topiary_ptr_t;

        """
        text += CKernelSource.common
        let calls = body.joined(separator: "\n")
        for (name, kernel) in CKernelSource.kernels where calls.contains(name + "(") { text += kernel + "\n" }
        for name in usedActivations.sorted() { text += CKernelSource.activation(name)! }
        text += "\n" + constants.joined() + "\n"
        text += """
        /* Each step reads one end and writes the other: the largest input + padded copy + output. */
        #define TOPIARY_ARENA_FLOATS \(arenaFloats)
        static float topiary_arena[TOPIARY_ARENA_FLOATS];

        static void topiary_forward(float *out) {
        \(body.joined(separator: "\n"))
            memcpy(out, \(place(bottom: atBottom, outputCount)), sizeof(float) * \(outputCount));
        }

        void topiary_predict(const float *in, float *out) {
            memcpy(topiary_arena, in, sizeof(float) * \(inputCount));
            topiary_forward(out);
        }

        void topiary_predict_q8(const int8_t *in, float in_scale, float *out) {
            for (int i = 0; i < \(inputCount); i++) topiary_arena[i] = in_scale * (float)in[i];
            topiary_forward(out);
        }

        """
        source = text
    }

    /// Writes model.h and model.c into `directory` (created), each complete or absent.
    public func write(to directory: String) throws {
        try ExportFolder.write(["model.h": header, "model.c": source], to: directory)
    }
}
