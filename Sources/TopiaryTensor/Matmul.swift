import COpenBLAS

/// C = alpha · op(A) · op(B) + beta · C through `cblas_sgemm`, all tensors rank 2, row-major.
/// op(X) is X or Xᵀ. Shapes: op(A) (M, K), op(B) (K, N), C (M, N).
/// Linear layers use all three cases: forward X·Wᵀ, input gradient dY·W, weight gradient dYᵀ·X.
public func matmul(_ a: Tensor, transposeA: Bool = false, _ b: Tensor, transposeB: Bool = false,
                   into c: Tensor, alpha: Float = 1, beta: Float = 0) {
    let (m, k, n) = matmulShape(a, transposeA, b, transposeB, c)
    if m == 0 || n == 0 { return }
    if k == 0 { scaleInPlace(c, by: beta); return }
    if m == 1 {
        // One row (batch-1 inference): GEMV avoids GEMM's packing overhead. op(A) is a
        // contiguous vector of K floats whether or not A is transposed.
        if transposeB { // B (N, K): c = B · a
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), alpha, b.pointer, Int32(k),
                        a.pointer, 1, beta, c.pointer, 1)
        } else {        // B (K, N): c = Bᵀ · a
            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(n), alpha, b.pointer, Int32(n),
                        a.pointer, 1, beta, c.pointer, 1)
        }
        return
    }
    cblas_sgemm(CblasRowMajor,
                transposeA ? CblasTrans : CblasNoTrans,
                transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha,
                a.pointer, Int32(a.columns), b.pointer, Int32(b.columns),
                beta, c.pointer, Int32(c.columns))
}

/// The algorithmic reference for `matmul`: a triple loop accumulating in Double.
public func naiveMatmul(_ a: Tensor, transposeA: Bool = false, _ b: Tensor, transposeB: Bool = false,
                        into c: Tensor, alpha: Float = 1, beta: Float = 0) {
    let (m, k, n) = matmulShape(a, transposeA, b, transposeB, c)
    for i in 0..<m {
        for j in 0..<n {
            var sum = 0.0
            for p in 0..<k {
                let aValue = transposeA ? a[p * a.columns + i] : a[i * a.columns + p]
                let bValue = transposeB ? b[j * b.columns + p] : b[p * b.columns + j]
                sum += Double(aValue) * Double(bValue)
            }
            let old = beta == 0 ? 0 : Double(beta) * Double(c[i * n + j])
            c[i * n + j] = Float(Double(alpha) * sum + old)
        }
    }
}

private func matmulShape(_ a: Tensor, _ transposeA: Bool, _ b: Tensor, _ transposeB: Bool,
                         _ c: Tensor) -> (m: Int, k: Int, n: Int) {
    require(a.rank == 2 && b.rank == 2 && c.rank == 2,
                 "matmul needs rank-2 tensors, got \(a.shape), \(b.shape), \(c.shape)")
    let (m, k) = transposeA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
    let (kb, n) = transposeB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
    require(k == kb && c.shape == [m, n],
                 "matmul shapes disagree: op(A) \(m)x\(k), op(B) \(kb)x\(n), C \(c.shape)")
    return (m, k, n)
}

/// C = alpha · op(A) · op(B) + beta · C on row-major blocks inside larger buffers, through
/// `cblas_sgemm`: `lda`, `ldb`, `ldc` are the buffers' row strides in elements (one attention
/// head of a (B, T, 3C) qkv buffer is a (T, hs) block with row stride 3C). op(A) (M, K),
/// op(B) (K, N), C (M, N).
public func stridedMatmul(m: Int, n: Int, k: Int, alpha: Float = 1,
                          _ a: UnsafePointer<Float>, lda: Int, transposeA: Bool = false,
                          _ b: UnsafePointer<Float>, ldb: Int, transposeB: Bool = false,
                          beta: Float = 0, into c: UnsafeMutablePointer<Float>, ldc: Int) {
    require(m >= 0 && n >= 0 && k >= 0, "stridedMatmul sizes must be >= 0, got \(m) × \(n) × \(k)")
    require(lda >= (transposeA ? m : k) && ldb >= (transposeB ? k : n) && ldc >= n,
            "stridedMatmul strides \(lda), \(ldb), \(ldc) are shorter than the rows of \(m) × \(k) · \(k) × \(n)")
    if m == 0 || n == 0 || k == 0 { return }
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}
