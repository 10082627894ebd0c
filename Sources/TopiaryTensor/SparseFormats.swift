/// Compressed sparse rows of a (rows × columns) weight matrix: the nonzeros of each row, in
/// column order. Column indices are 16-bit when the matrix has at most 65,536 columns.
public struct CSRMatrix: Sendable {
    public let rows: Int
    public let columns: Int
    /// rows + 1 offsets into `values`.
    public let rowPointers: [UInt32]
    public let columnIndices16: [UInt16]
    public let columnIndices32: [UInt32]
    public let values: [Float]

    public var nonzeros: Int { values.count }
    public var usesShortIndices: Bool { columns <= 65_536 }

    /// The entries of `weights` (rows × columns) whose `mask` is nonzero (all entries when
    /// the mask is nil); pruned weights are exactly 0 either way.
    public init(weights: Tensor, mask: Tensor? = nil) {
        require(weights.rank == 2, "CSR needs a matrix, got \(weights.shape)")
        let (rows, columns) = (weights.rows, weights.columns)
        self.rows = rows
        self.columns = columns
        var pointers: [UInt32] = [0]
        var indices: [Int] = []
        var values: [Float] = []
        for i in 0..<rows {
            for j in 0..<columns {
                let keep = mask.map { $0[i * columns + j] != 0 } ?? (weights[i * columns + j] != 0)
                if keep {
                    indices.append(j)
                    values.append(weights[i * columns + j])
                }
            }
            pointers.append(UInt32(values.count))
        }
        rowPointers = pointers
        self.values = values
        let short = columns <= 65_536
        columnIndices16 = short ? indices.map { UInt16($0) } : []
        columnIndices32 = short ? [] : indices.map { UInt32($0) }
    }

    /// Bytes of the format: Float32 values, 16- or 32-bit column indices, 32-bit row pointers.
    public var bytes: Int { CSRMatrix.bytes(rows: rows, columns: columns, nonzeros: nonzeros) }

    /// Bytes of a CSR matrix of this size: `valueBytes` per value, 16-bit column indices up to
    /// 65,536 columns (else 32-bit), 32-bit row pointers. The one formula every report uses.
    public static func bytes(rows: Int, columns: Int, nonzeros: Int, valueBytes: Int = 4) -> Int {
        nonzeros * (valueBytes + (columns <= 65_536 ? 2 : 4)) + 4 * (rows + 1)
    }

    /// Column index of nonzero k.
    public func column(_ k: Int) -> Int { usesShortIndices ? Int(columnIndices16[k]) : Int(columnIndices32[k]) }
}

/// Symmetric per-output-row int8 quantization: w_ij ≈ scale_i · q_ij with
/// scale_i = max_j |w_ij| / 127 and q_ij = round(w_ij / scale_i) ∈ [−127, 127]. Pruned
/// weights stay exactly 0 (q = 0).
public struct Int8Matrix: Sendable {
    public let rows: Int
    public let columns: Int
    public let q: [Int8]
    public let scales: [Float]

    public init(weights: Tensor) {
        require(weights.rank == 2, "int8 quantization needs a matrix, got \(weights.shape)")
        let (rows, columns) = (weights.rows, weights.columns)
        self.rows = rows
        self.columns = columns
        var q = [Int8](repeating: 0, count: rows * columns)
        var scales = [Float](repeating: 1, count: rows)
        for i in 0..<rows {
            var largest: Float = 0
            for j in 0..<columns { largest = max(largest, abs(weights[i * columns + j])) }
            let scale = largest > 0 ? largest / 127 : 1
            scales[i] = scale
            for j in 0..<columns {
                q[i * columns + j] = Int8((weights[i * columns + j] / scale).rounded().clamped(to: -127...127))
            }
        }
        self.q = q
        self.scales = scales
    }

    /// scale_i · q_ij as a dense Float32 matrix (the reference int8 engines are tested against).
    public func dequantized() -> Tensor {
        let w = Tensor(zeros: [rows, columns])
        for i in 0..<rows { for j in 0..<columns { w[i * columns + j] = scales[i] * Float(q[i * columns + j]) } }
        return w
    }

    /// int8 values plus one Float32 scale per row.
    public var bytes: Int { rows * columns + 4 * rows }
}

/// A weight matrix (rows = output features, columns = input features) in one storage
/// format, and the bytes that format occupies (values, indices, scales).
public protocol WeightMatrixFormat: Sendable {
    var rows: Int { get }
    var columns: Int { get }
    var bytes: Int { get }
}

extension CSRMatrix: WeightMatrixFormat {}
extension Int8Matrix: WeightMatrixFormat {}
extension SELLMatrix: WeightMatrixFormat {}
extension NMMatrix: WeightMatrixFormat {}
extension Int8CSRMatrix: WeightMatrixFormat {
    public var rows: Int { structure.rows }
    public var columns: Int { structure.columns }
}

/// CSR whose values are the int8 codes of an `Int8Matrix` (same per-row scales).
public struct Int8CSRMatrix: Sendable {
    public let structure: CSRMatrix
    public let q: [Int8]
    public let scales: [Float]

    public init(quantized: Int8Matrix, mask: Tensor) {
        let codes = Tensor(zeros: [quantized.rows, quantized.columns])
        for i in 0..<codes.count { codes[i] = Float(quantized.q[i]) }
        structure = CSRMatrix(weights: codes, mask: mask)
        q = structure.values.map { Int8($0) }
        scales = quantized.scales
    }

    /// int8 values, 16-/32-bit indices, row pointers, per-row scales.
    public var bytes: Int {
        CSRMatrix.bytes(rows: structure.rows, columns: structure.columns, nonzeros: structure.nonzeros, valueBytes: 1) + 4 * structure.rows
    }
}

extension Comparable {
    fileprivate func clamped(to range: ClosedRange<Self>) -> Self { min(max(self, range.lowerBound), range.upperBound) }
}

extension CSRMatrix {
    /// The algorithmic reference: y_i = Σ_k values[k] · x[column(k)] over row i, in Double.
    public func naiveMultiply(_ x: [Float]) -> [Float] {
        (0..<rows).map { i in
            var sum = 0.0
            for k in Int(rowPointers[i])..<Int(rowPointers[i + 1]) { sum += Double(values[k]) * Double(x[column(k)]) }
            return Float(sum)
        }
    }
}

/// SELL-16/32: sliced ELLPACK with 32-column windows, for batch-1 SpMV without gathers.
/// Rows are taken 16 at a time (a chunk); within a chunk, nonzeros are grouped by the
/// 32-column window of the input they read; a window contributes as many slots as its
/// fullest row has nonzeros there, each slot one value and one 5-bit offset per row of the
/// chunk (value 0 as padding). Padding is the price: bytes grow where rows differ, so rows
/// are first ordered by their nonzero count (SELL-C-σ with σ = all rows): a chunk then holds
/// rows of similar fill, which on W1 at 87.5–96.875 % cuts fc1's slots by 25–30 %. Lane l of
/// chunk c computes output row rowOrder[16c + l].
public struct SELLMatrix: Sendable {
    public let rows: Int
    public let columns: Int
    public let chunkWindows: [UInt32]
    public let windowIndex: [UInt16]
    public let windowSlots: [UInt32]
    public let values: [Float]
    public let offsets: [UInt8]
    /// The output row each lane computes, in chunk order (rows sorted by nonzeros, descending).
    public let rowOrder: [UInt32]


    public init(weights: Tensor, mask: Tensor) {
        require(weights.rank == 2 && mask.shape == weights.shape, "SELL needs matching matrices")
        let (rows, columns) = (weights.rows, weights.columns)
        require((columns + 31) / 32 <= Int(UInt16.max), "too many columns for 16-bit window numbers: \(columns)")
        self.rows = rows
        self.columns = columns
        var chunkWindows: [UInt32] = [0], windowIndex: [UInt16] = [], windowSlots: [UInt32] = [0]
        var values: [Float] = [], offsets: [UInt8] = []
        let windows = (columns + 31) / 32
        let fill = (0..<rows).map { r in (0..<columns).reduce(0) { $0 + (mask[r * columns + $1] != 0 ? 1 : 0) } }
        let order = (0..<rows).sorted { (fill[$0], $1) > (fill[$1], $0) }   // most nonzeros first; ties by row
        rowOrder = order.map { UInt32($0) }
        for chunk in stride(from: 0, to: rows, by: 16) {
            let chunkRows = min(16, rows - chunk)
            for window in 0..<windows {
                // The nonzeros of each row of the chunk in this window, in column order.
                let perRow: [[Int]] = (0..<chunkRows).map { r in
                    (window * 32..<min(window * 32 + 32, columns)).filter { mask[order[chunk + r] * columns + $0] != 0 }
                }
                let slots = perRow.map(\.count).max() ?? 0
                guard slots > 0 else { continue }
                for s in 0..<slots {
                    for lane in 0..<16 {
                        if lane < chunkRows, s < perRow[lane].count {
                            let column = perRow[lane][s]
                            values.append(weights[order[chunk + lane] * columns + column])
                            offsets.append(UInt8(column - window * 32))
                        } else {
                            values.append(0)
                            offsets.append(0)
                        }
                    }
                }
                windowIndex.append(UInt16(window))
                windowSlots.append(UInt32(values.count / 16))
            }
            chunkWindows.append(UInt32(windowIndex.count))
        }
        self.chunkWindows = chunkWindows
        self.windowIndex = windowIndex
        self.windowSlots = windowSlots
        self.values = values
        self.offsets = offsets
    }

    /// Values (Float32) and offsets (1 byte) per slot lane, plus the chunk/window tables and the row order.
    public var bytes: Int { values.count * 5 + 4 * chunkWindows.count + 2 * windowIndex.count + 4 * windowSlots.count + 4 * rowOrder.count }
}

/// N:M-packed weights for a mask with at most N nonzeros in every group of M inputs
/// (M dividing 32, N/M ≤ 1/2): per row and 32-column window, the kept values and their
/// offsets in the window, padded to 16 lanes. 2:4 fills every lane.
public struct NMMatrix: Sendable {
    public let rows: Int
    public let columns: Int
    public let n: Int
    public let m: Int
    public let windows: Int
    public let values: [Float]
    public let offsets: [UInt8]

    /// nil when the mask is not N:M or N:M does not fit 16 lanes per 32 columns.
    public init?(weights: Tensor, mask: Tensor, n: Int, m: Int) {
        guard m >= 2, 32 % m == 0, 2 * n <= m, weights.rank == 2 else { return nil }
        let (rows, columns) = (weights.rows, weights.columns)
        let windows = (columns + 31) / 32
        var values = [Float](repeating: 0, count: rows * windows * 16)
        var offsets = [UInt8](repeating: 0, count: rows * windows * 16)
        guard NMMatrix.isValid(mask, n: n, m: m) else { return nil }
        for i in 0..<rows {
            for w in 0..<windows {
                var lane = 0
                for j in (w * 32)..<min(w * 32 + 32, columns) where mask[i * columns + j] != 0 {
                    values[(i * windows + w) * 16 + lane] = weights[i * columns + j]
                    offsets[(i * windows + w) * 16 + lane] = UInt8(j - w * 32)
                    lane += 1
                }
            }
        }
        self.rows = rows
        self.columns = columns
        self.n = n
        self.m = m
        self.windows = windows
        self.values = values
        self.offsets = offsets
    }

    /// Float32 values and 1-byte offsets per lane.
    public var bytes: Int { values.count * 5 }

    /// Whether every group of M consecutive columns of every row of `mask` (rows, columns)
    /// has at most N nonzeros (a shorter last group included).
    public static func isValid(_ mask: Tensor, n: Int, m: Int) -> Bool {
        let (rows, columns) = (mask.rows, mask.columns)
        for i in 0..<rows {
            for start in stride(from: 0, to: columns, by: m) {
                if (start..<min(start + m, columns)).filter({ mask[i * columns + $0] != 0 }).count > n { return false }
            }
        }
        return true
    }
}
