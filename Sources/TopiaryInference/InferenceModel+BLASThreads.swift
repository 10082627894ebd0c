import TopiaryTensor

/// How many BLAS threads a pass runs with: small passes on one.
extension InferenceModel {
    /// BLAS threads for a pass over `rows` rows when `given` are set: one when even the
    /// pass's largest product is under 2^22 multiply-adds (about 0.1 ms of one core). Each
    /// threaded call wakes OpenBLAS's workers, which sleep after 2^10 cycles
    /// (`BLASBootstrap`), and OpenBLAS threads a GEMV from 9,216 weights: for a token (or a
    /// short prompt) of a small model the wake-ups cost more than the products. W3's dense
    /// generation in a run went from 2,774 to 9,600 tokens/s. Programs with a convolution
    /// keep `given` (their rows per sample vary by layer).
    func blasThreads(forRows rows: Int, given: Int) -> Int {
        guard let largest = largestRowMultiplyAdds, rows * largest < 1 << 22 else { return given }
        return 1
    }

    /// Rows the matrices of a pass over x see: one per token id when the program starts by
    /// embedding tokens (B·T), else one per vector of the input's last axis (B for an MLP,
    /// B·T for a transformer matrix timed alone on its (B, T, C) input).
    func matrixRows(_ x: Tensor) -> Int {
        if case .tokenEmbedding = program.steps.first { return x.count }
        return x.count / max(program.inputShape.last ?? 1, 1)
    }

    /// Fan-in × outputs of the program's largest Linear or tied head; nil with a convolution.
    static func largestRowMultiplyAdds(_ program: InferenceProgram) -> Int? {
        guard !program.matrices.contains(where: { $0.geometry != nil }) else { return nil }
        let heads = program.allSteps.compactMap { step -> Int? in
            if case .tiedHead(let table) = step { return table.count } else { return nil }
        }
        return (program.matrices.map(\.weight.count) + heads).max() ?? 0
    }

    func withBLASThreads(forRows rows: Int, _ pass: () -> Tensor) -> Tensor {
        BLASRuntime.withThreadCount(blasThreads(forRows: rows, given: BLASRuntime.threadCount), pass)
    }
}
