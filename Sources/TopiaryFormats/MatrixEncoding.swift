import Foundation
import TopiaryInference
import TopiaryTensor

/// One matrix's values for export, Float32 or int8 codes with per-row scales, and the two
/// layouts it can take: dense rows, or compressed sparse rows of the nonzero values (a zero
/// int8 code counts as pruned: it contributes nothing).
struct MatrixEncoding {
    let name: String
    let rows: Int
    let fanIn: Int
    let precision: ExportPrecision
    /// (rows × fanIn) row-major: Float32 weights, or empty for int8.
    let weights: [Float]
    /// int8 codes and per-row scales (empty for Float32).
    let codes: [Int8]
    let scales: [Float]
    let bias: [Float]
    let nonzeros: Int
    /// The largest input offset a column index names (a convolution's padded layout).
    let largestOffset: Int
    let isConvolution: Bool

    init(_ matrix: InferenceMatrix, precision: ExportPrecision) throws {
        name = matrix.name
        rows = matrix.rows
        fanIn = matrix.fanIn
        self.precision = precision
        bias = matrix.bias.toArray()
        guard bias.allSatisfy(\.isFinite), matrix.weight.toArray().allSatisfy(\.isFinite) else {
            throw ExportError.nonFinite(tensor: matrix.name)
        }
        switch precision {
        case .float32:
            weights = matrix.weight.toArray()
            codes = []
            scales = []
            nonzeros = weights.reduce(0) { $0 + ($1 != 0 ? 1 : 0) }
        case .int8:
            let quantized = Int8Matrix(weights: matrix.weight)
            weights = []
            codes = quantized.q
            scales = quantized.scales
            nonzeros = codes.reduce(0) { $0 + ($1 != 0 ? 1 : 0) }
        }
        isConvolution = matrix.geometry != nil
        largestOffset = matrix.geometry.map { PaddedInput($0).offsets.last ?? 0 } ?? max(0, matrix.fanIn - 1)
    }

    private var valueBytes: Int { precision == .int8 ? 1 : 4 }
    /// Scales (int8) and the Float32 bias, stored in either layout.
    private var rowBytes: Int { (precision == .int8 ? 4 : 0) * rows + 4 * rows }

    struct Choice {
        let sparse: Bool
        let denseBytes: Int
        let sparseBytes: Int
        let summary: String
    }

    /// The smaller layout (or the one `layout` names): dense values (plus a convolution's
    /// shared offset table), or CSR values with one column index each and rows + 1 row starts.
    func choose(offsets: [Int]?, columnBytes: Int, pointerBytes: Int, layout: ExportLayout) -> Choice {
        let dense = rows * fanIn * valueBytes + (offsets == nil ? 0 : fanIn * columnBytes) + rowBytes
        let sparse = nonzeros * (valueBytes + columnBytes) + (rows + 1) * pointerBytes + rowBytes
        let useSparse = layout == .sparse || (layout == .smallest && sparse < dense)
        let zeros = 100 * Double(rows * fanIn - nonzeros) / Double(max(1, rows * fanIn))
        let summary = "\(name): \(rows) × \(fanIn), \(String(format: "%.1f", zeros)) % zeros, \(precision.rawValue): "
            + (useSparse ? "CSR \(sparse) bytes (dense: \(dense))" : "dense \(dense) bytes (CSR: \(sparse))")
        return Choice(sparse: useSparse, denseBytes: dense, sparseBytes: sparse, summary: summary)
    }

    /// The `const` arrays of `symbol`: values (`_w` or `_q` + `_scale`), `_b`, and `_off` for a
    /// dense convolution or `_start` + `_col` for CSR.
    func declarations(symbol: String, offsets: [Int]?, sparse: Bool, summary: String) -> String {
        var text = "/* \(summary) */\n"
        let int8 = precision == .int8
        if sparse {
            var starts = [0], columns: [Int] = [], values: [Float] = [], kept: [Int] = []
            for r in 0..<rows {
                for j in 0..<fanIn {
                    let index = r * fanIn + j
                    guard int8 ? codes[index] != 0 : weights[index] != 0 else { continue }
                    columns.append(offsets?[j] ?? j)
                    if int8 { kept.append(Int(codes[index])) } else { values.append(weights[index]) }
                }
                starts.append(columns.count)
            }
            text += CLiteral.integers("\(symbol)_start", type: "topiary_ptr_t", starts)
            text += CLiteral.integers("\(symbol)_col", type: "topiary_col_t", columns)
            text += int8 ? CLiteral.integers("\(symbol)_q", type: "int8_t", kept) : CLiteral.floats("\(symbol)_w", values)
        } else {
            if let offsets { text += CLiteral.integers("\(symbol)_off", type: "topiary_col_t", offsets) }
            text += int8 ? CLiteral.integers("\(symbol)_q", type: "int8_t", codes.map(Int.init)) : CLiteral.floats("\(symbol)_w", weights)
        }
        if int8 { text += CLiteral.floats("\(symbol)_scale", scales) }
        text += CLiteral.floats("\(symbol)_b", bias)
        return text
    }
}
