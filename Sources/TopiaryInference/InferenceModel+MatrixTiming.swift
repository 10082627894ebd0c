import TopiaryTensor

/// Per-matrix timing: each matrix's real input, and one call of it with any engine's kernel.
extension InferenceModel {
    /// The input each matrix step receives when the dense program runs on `x`, batch-first
    /// (what per-matrix timing feeds each engine's kernel).
    public func matrixInputs(_ x: Tensor) -> [Tensor] {
        var captured = [Tensor?](repeating: nil, count: program.matrices.count)
        capture = { captured[$0] = $1.copy() }
        defer { capture = nil }
        _ = predict(x)
        return captured.map { $0! }
    }

    /// One call of matrix `m` with `kernel` on `input` (a batch-first activation), as `predict`
    /// runs it: for per-matrix timing. A Linear whose kernel works features-major is timed on
    /// an input already in that layout (inside a run of such Linears there is no transpose).
    public func matrixCall(_ m: Int, kernel: any LayerKernel, input: Tensor) -> () -> Void {
        let rows = input.shape.dropLast().reduce(1, *)
        if program.matrices[m].geometry == nil, rows > 1, !kernel.supportsBatchMajor {
            let xt = Tensor(zeros: [kernel.inFeatures, rows]), yt = Tensor(zeros: [kernel.outFeatures, rows])
            transpose(input.reshaped([rows, kernel.inFeatures]), into: xt)
            let threads = threads
            return { kernel.apply(featureMajor: xt, into: yt, threads: threads) }
        }
        let single = InferenceModel(program: InferenceProgram(steps: [.matrix(m)], matrices: program.matrices, inputShape: Array(input.shape.dropFirst()),
                                                              outputShape: []),
                                    kernels: kernels.enumerated().map { $0.offset == m ? kernel : $0.element }, threads: threads)
        return { _ = single.predict(input) }
    }
}
