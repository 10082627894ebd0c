import COpenBLAS
import Foundation
import TopiaryNN
import TopiaryTensor

/// A scorer that prunes by itself and changes the surviving weights.
public protocol ReconstructingScorer: ImportanceScorer {
    /// Prunes every matrix of `blocks` to `sparsity` with `selection` (per layer, per row or
    /// N:M: each matrix meets the target alone), updating the surviving weights; blocks in
    /// order, each calibrated on inputs that already pass through the blocks pruned before it.
    func pruneAndReconstruct(_ blocks: [[PrunableMatrix]], to sparsity: Double, selection: any MaskSelection,
                             context: inout ScoringContext) throws
}

/// Optimal Brain Surgeon, layer-wise, as SparseGPT does it (Frantar & Alistarh 2023): with the
/// calibration Hessian H = (2/n)·XᵀX of the layer's inputs X (n, in), dampened by 1 % of its
/// mean diagonal, and U the upper Cholesky factor of H⁻¹ (LAPACK spotrf/spotri/spotrf), the
/// mask removes the weights with the smallest w_ij² / U_jj², and each removed weight's error
/// is spread over the row's not-yet-processed weights (w_j −= err · U_ij), column by column,
/// with the remaining columns updated lazily per block of 128. The layer output WX is
/// reconstructed far better than by masking alone.
///
/// Simplification: the mask is chosen once per layer from U's diagonal (SparseGPT re-selects
/// per column block), so each layer reaches its target count exactly.
public struct OBSScorer: ReconstructingScorer, ConfigurableScorer {
    public let name = "obs"
    public let dampening: Float
    public let blockSize: Int

    public init(dampening: Float = 0.01, blockSize: Int = 128) {
        self.dampening = dampening
        self.blockSize = blockSize
    }

    public static let optionNames = ["dampening", "block_size"]

    public func configured(with options: [String: Double]) throws -> OBSScorer {
        for key in options.keys where !OBSScorer.optionNames.contains(key) {
            throw ScorerOptionError(message: "unknown option '\(key)' for obs. Allowed: \(OBSScorer.optionNames.joined(separator: ", ")).")
        }
        let dampening = options["dampening"].map(Float.init) ?? self.dampening
        let block = options["block_size"] ?? Double(blockSize)
        guard dampening > 0, dampening < 1 else {
            throw ScorerOptionError(message: "dampening must lie in (0, 1) (a fraction of the mean Hessian diagonal), got \(dampening).")
        }
        guard block >= 1, block == block.rounded() else {
            throw ScorerOptionError(message: "block_size must be a whole number >= 1, got \(block).")
        }
        return OBSScorer(dampening: dampening, blockSize: Int(block))
    }

    /// Saliencies w² / U_jj² (for score agreement); pruning goes through `pruneAndReconstruct`.
    public func scores(for targets: [PrunableMatrix], context: inout ScoringContext) throws -> [Tensor] {
        try zip(targets, hessians(of: targets, context: context)).map { matrix, h in saliency(matrix.value, try choleskyOfInverseHessian(hessian: h)) }
    }

    public func pruneAndReconstruct(_ blocks: [[PrunableMatrix]], to sparsity: Double, selection: any MaskSelection,
                                    context: inout ScoringContext) throws {
        for block in blocks {
            for (matrix, h) in zip(block, hessians(of: block, context: context)) {
                try reconstruct(matrix, u: try choleskyOfInverseHessian(hessian: h), sparsity: sparsity, selection: selection)
            }
        }
    }

    /// (2/n)·XᵀX (fanIn, fanIn) of each matrix's fan-in rows X (n, fanIn) over the
    /// calibration batches — samples of a Linear, unrolled patches of a convolution, tokens
    /// of a sequence — accumulated in one pass of the model for the whole block.
    func hessians(of matrices: [PrunableMatrix], context: ScoringContext) -> [Tensor] {
        let sums = matrices.map { Tensor(zeros: [$0.fanIn, $0.fanIn]) }
        var counts = [Int](repeating: 0, count: matrices.count)
        for (index, matrix) in matrices.enumerated() {
            matrix.observer.onForward = { x, _ in
                matmul(x, transposeA: true, x, into: sums[index], beta: 1)
                counts[index] += x.rows
            }
        }
        defer { for matrix in matrices { matrix.observer.onForward = nil } }
        context.forwardCalibration(reaching: matrices)
        for (sum, count) in zip(sums, counts) { scaleInPlace(sum, by: 2 / Float(max(count, 1))) }
        return sums
    }

    /// U with H⁻¹ = Uᵀ U for H = (2/n) XᵀX of the fan-in rows `x` (n, fanIn).
    public func choleskyOfInverseHessian(inputs x: Tensor) throws -> Tensor {
        let h = Tensor(zeros: [x.columns, x.columns])
        matmul(x, transposeA: true, x, into: h, alpha: 2 / Float(x.rows))
        return try choleskyOfInverseHessian(hessian: h)
    }

    /// U with (H + λI)⁻¹ = Uᵀ U, λ = dampening · mean(diag H); `hessian` is overwritten.
    public func choleskyOfInverseHessian(hessian h: Tensor) throws -> Tensor {
        let d = h.columns
        var mean: Float = 0
        for i in 0..<d { mean += h[i * d + i] }
        let lambda = max(dampening * mean / Float(d), 1e-8)
        for i in 0..<d { h[i * d + i] += lambda }
        guard LAPACKE_spotrf(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "L")), Int32(d), h.pointer, Int32(d)) == 0,
              LAPACKE_spotri(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "L")), Int32(d), h.pointer, Int32(d)) == 0 else {
            throw OBSError.notPositiveDefinite
        }
        for i in 0..<d { for j in (i + 1)..<d { h[i * d + j] = h[j * d + i] } }  // spotri fills the lower half
        guard LAPACKE_spotrf(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "U")), Int32(d), h.pointer, Int32(d)) == 0 else {
            throw OBSError.notPositiveDefinite
        }
        for i in 0..<d { for j in 0..<i { h[i * d + j] = 0 } }
        return h
    }

    func saliency(_ w: Tensor, _ u: Tensor) -> Tensor {
        let (rows, columns) = (w.rows, w.columns)
        let s = Tensor(zeros: w.shape)
        for i in 0..<rows {
            for j in 0..<columns {
                let diagonal = u[j * columns + j]
                s[i * columns + j] = w[i * columns + j] * w[i * columns + j] / (diagonal * diagonal)
            }
        }
        return s
    }

    /// Chooses the mask with `selection` (already-pruned weights stay pruned) and applies the
    /// OBS updates.
    public func reconstruct(_ matrix: PrunableMatrix, u: Tensor, sparsity: Double,
                            selection: any MaskSelection = UnstructuredSelection(scope: .perLayer)) throws {
        let w = matrix.value
        let (rows, columns) = (w.rows, w.columns)
        let score = saliency(w, u)
        // Masks only shrink: dead weights rank lowest, so they are always in the pruned set.
        for i in 0..<score.count where matrix.parameter.mask[i] == 0 { score[i] = -1 }
        // The selection may zero what it prunes; the updates below need the values it had.
        let values = w.copy()
        try selection.select([matrix], scores: [score], to: sparsity)
        w.assign(from: values)
        let mask = matrix.mask
        var start = 0
        while start < columns {
            let end = min(start + blockSize, columns)
            let errors = Tensor(zeros: [rows, end - start])
            for j in start..<end {
                let diagonal = u[j * columns + j]
                for r in 0..<rows {
                    let value = w[r * columns + j]
                    let kept = mask[r * columns + j] != 0 ? value : 0
                    let error = (value - kept) / diagonal
                    w[r * columns + j] = kept
                    errors[r * (end - start) + j - start] = error
                    if error != 0 { for k in (j + 1)..<end { w[r * columns + k] -= error * u[j * columns + k] } }
                }
            }
            if end < columns {
                // W[:, end...] −= E · U[start..<end, end...]
                let uBlock = Tensor(zeros: [end - start, columns - end])
                for j in start..<end { for k in end..<columns { uBlock[(j - start) * (columns - end) + k - end] = u[j * columns + k] } }
                let update = Tensor(zeros: [rows, columns - end])
                matmul(errors, uBlock, into: update)
                for r in 0..<rows { for k in end..<columns { w[r * columns + k] -= update[r * (columns - end) + k - end] } }
            }
            start = end
        }
        multiply(w, mask, into: w)
        matrix.parameter.grad.fill(0)
    }
}

public enum OBSError: Error, LocalizedError, Equatable {
    case notPositiveDefinite
    public var errorDescription: String? {
        "OBS: the dampened calibration Hessian is not positive definite; raise the dampening or use more calibration batches."
    }
}
