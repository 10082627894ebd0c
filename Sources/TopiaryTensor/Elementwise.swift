// Fast elementwise kernels (SIMD16 via SIMDLoop) next to their naive references, which the
// tests compare them against on random shapes. Shapes are checked once per call.

/// t *= factor
public func scaleInPlace(_ t: Tensor, by factor: Float) {
    if factor == 0 { t.fill(0); return }
    simdMap(t.count, t.pointer, t.pointer, { $0 * factor }, { $0 * factor })
}

/// output = max(input, 0)
public func reluForward(_ input: Tensor, into output: Tensor) {
    require(input.count == output.count, "relu: \(input.shape) vs \(output.shape)")
    let zero = Float16x(repeating: 0)
    simdMap(input.count, input.pointer, output.pointer, { $0.replacing(with: zero, where: $0 .< zero) },
            { max($0, 0) })
}

public func naiveReluForward(_ input: Tensor, into output: Tensor) {
    for i in 0..<input.count { output[i] = input[i] > 0 ? input[i] : 0 }
}

/// inputGrad = outputGrad where output > 0, else 0. `inputGrad` may alias `outputGrad`.
public func reluBackward(outputGrad: Tensor, output: Tensor, into inputGrad: Tensor) {
    require(outputGrad.count == output.count && output.count == inputGrad.count,
                 "relu backward: \(outputGrad.shape), \(output.shape), \(inputGrad.shape)")
    let zero = Float16x(repeating: 0)
    simdMap(output.count, outputGrad.pointer, output.pointer, inputGrad.pointer,
            { g, y in g.replacing(with: zero, where: y .<= zero) }, { g, y in y > 0 ? g : 0 })
}

public func naiveReluBackward(outputGrad: Tensor, output: Tensor, into inputGrad: Tensor) {
    for i in 0..<output.count { inputGrad[i] = output[i] > 0 ? outputGrad[i] : 0 }
}

/// out = a ⊙ b (elementwise product); `out` may alias either input.
public func multiply(_ a: Tensor, _ b: Tensor, into out: Tensor) {
    require(a.count == b.count && b.count == out.count, "multiply: \(a.shape), \(b.shape), \(out.shape)")
    simdMap(a.count, a.pointer, b.pointer, out.pointer, { $0 * $1 }, { $0 * $1 })
}

/// accumulator += |a ⊙ b|: a first-order Taylor saliency summed over calibration batches.
public func add(_ a: Tensor, _ b: Tensor, into out: Tensor) {
    require(a.count == b.count && b.count == out.count, "add: \(a.shape), \(b.shape), \(out.shape)")
    simdMap(a.count, a.pointer, b.pointer, out.pointer, { $0 + $1 }, { $0 + $1 })
}

public func accumulateAbsoluteProduct(_ a: Tensor, _ b: Tensor, into accumulator: Tensor) {
    require(a.count == b.count && b.count == accumulator.count,
                 "accumulateAbsoluteProduct: \(a.shape), \(b.shape), \(accumulator.shape)")
    simdMap(a.count, a.pointer, b.pointer, accumulator.pointer, accumulator.pointer,
            { x, y, acc in acc + (x * y).replacing(with: -(x * y), where: x * y .< 0) },
            { x, y, acc in acc + abs(x * y) })
}

public func naiveAccumulateAbsoluteProduct(_ a: Tensor, _ b: Tensor, into accumulator: Tensor) {
    for i in 0..<a.count { accumulator[i] += abs(a[i] * b[i]) }
}

/// Each row of `matrix` (B, N) = `row` (N): a bias broadcast before a `beta = 1` GEMM.
public func broadcastRow(_ row: Tensor, into matrix: Tensor) {
    require(matrix.rank == 2 && row.count == matrix.columns,
                 "broadcastRow: row \(row.shape) into \(matrix.shape)")
    let n = row.count
    for r in 0..<matrix.rows { (matrix.pointer + r * n).update(from: row.pointer, count: n) }
}

/// vector (N) += column sums of `matrix` (B, N): the bias gradient Σ_b dY[b, :].
public func accumulateColumnSums(of matrix: Tensor, into vector: Tensor) {
    require(matrix.rank == 2 && vector.count == matrix.columns,
                 "accumulateColumnSums: \(matrix.shape) into \(vector.shape)")
    let n = vector.count, rows = matrix.rows
    let (sums, source) = (vector.pointer, UnsafePointer(matrix.pointer))
    // Column blocks over cores (each column's sum runs down the rows in order, whatever the
    // split): a GPT's bias gradients sum B·T rows of up to 4C columns. Small ones: one part.
    splitOverCores(n, minimumPerPart: rows >= 256 ? 64 : max(n, 1)) { columns in
        for r in 0..<rows {
            simdMap(columns.count, sums + columns.lowerBound, source + r * n + columns.lowerBound, sums + columns.lowerBound,
                    { $0 + $1 }, { $0 + $1 })
        }
    }
}

public func naiveAccumulateColumnSums(of matrix: Tensor, into vector: Tensor) {
    for j in 0..<matrix.columns {
        var sum = 0.0
        for r in 0..<matrix.rows { sum += Double(matrix[r * matrix.columns + j]) }
        vector[j] += Float(sum)
    }
}

/// Number of entries that are not exactly 0.0.
public func countNonzeros(_ t: Tensor) -> Int {
    var count = 0
    let p = t.pointer
    for i in 0..<t.count where p[i] != 0 { count += 1 }
    return count
}

/// The index of the first NaN or infinite entry, or nil when every entry is finite.
public func firstNonFinite(_ t: Tensor) -> Int? {
    let p = t.pointer
    return (0..<t.count).first { !p[$0].isFinite }
}

/// output (C, R) = inputᵀ for input (R, C), in 16 × 16 tiles so both sides stay in cache.
public func transpose(_ input: Tensor, into output: Tensor) {
    require(input.rank == 2 && output.shape == [input.columns, input.rows],
                 "transpose: \(input.shape) into \(output.shape)")
    let (r, c) = (input.rows, input.columns)
    let (x, y) = (input.pointer, output.pointer)
    var i0 = 0
    while i0 < r {
        var j0 = 0
        while j0 < c {
            for i in i0..<min(i0 + 16, r) {
                for j in j0..<min(j0 + 16, c) { y[j * r + i] = x[i * c + j] }
            }
            j0 += 16
        }
        i0 += 16
    }
}
