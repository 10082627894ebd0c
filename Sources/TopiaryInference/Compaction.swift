import Foundation
import TopiaryNN
import TopiaryTensor

/// The compacted model: the same function with smaller dense matrices — the engine that turns
/// structured pruning (whole neurons, whole channels) into less work.
///
/// Between two matrices of the top-level chain linked only by per-channel steps
/// (activations, pooling, a per-channel affine, flatten), output row r of the first feeds a
/// block of the second's columns (one column for a Linear, a block of H·W after a flatten,
/// kh·kw for a convolution). Row r goes, with its block of columns, when
/// - nothing reads it (its columns are all zero), or
/// - its weights are all zero and its output is the constant 0 (f(bias) = 0), or
/// - its weights are all zero, its output is a nonzero constant c, and the next matrix is a
///   Linear: c·(its columns) is added to the next bias first (exact; a convolution's padding
///   would make the constant position-dependent, so there the row stays).
/// A first Linear's input features that no weight reads are dropped through a gather.
/// Removals can expose more, so the procedure repeats until nothing changes. Outputs equal the
/// masked model's up to the rounding of folded bias sums.
extension InferenceProgram {
    struct Link {
        let producer: Int, consumer: Int
        /// Step indices between the two matrix steps (exclusive).
        let between: Range<Int>
        /// Consumer columns per producer row.
        let block: Int
        var consumerIsLinear: Bool
    }

    public func compacted() -> InferenceProgram {
        var matrices = self.matrices
        var links: [Link] = []
        var previous: (step: Int, matrix: Int, block: Int)?
        for (index, step) in steps.enumerated() {
            switch step {
            case .matrix(let m):
                if let p = previous {
                    let span = matrices[m].geometry.map { $0.kernel.reduce(1, *) } ?? p.block
                    if matrices[m].fanIn == matrices[p.matrix].rows * span {
                        links.append(Link(producer: p.matrix, consumer: m, between: (p.step + 1)..<index, block: span,
                                          consumerIsLinear: matrices[m].geometry == nil))
                    }
                }
                previous = (index, m, 1)
            case .activation, .channelAffine, .maxPool, .averagePool:
                continue
            case .globalAveragePool:
                if previous != nil { previous!.block = 1 }
            case .flatten:
                if previous != nil, let g = matrices[previous!.matrix].geometry { previous!.block = g.outputSize.reduce(1, *) }
            default:
                previous = nil
            }
        }
        var keptRows = matrices.map { Array(0..<$0.rows) }
        var biases = matrices.map { $0.bias.toArray() }
        func weight(_ m: Int, _ r: Int, _ c: Int) -> Float { matrices[m].weight[r * matrices[m].fanIn + c] }
        var changed = true
        while changed {
            changed = false
            for link in links {
                let (p, c) = (link.producer, link.consumer)
                let producerColumns = columns(of: p, links: links, keptRows: keptRows, matrices: matrices)
                var kept: [Int] = []
                for r in keptRows[p] {
                    let block = (r * link.block)..<((r + 1) * link.block)
                    let dead = !producerColumns.contains { weight(p, r, $0) != 0 }
                    let unused = !keptRows[c].contains { k in block.contains { weight(c, k, $0) != 0 } }
                    if !dead && !unused { kept.append(r); continue }
                    if dead && !unused {
                        let constant = constantOutput(biases[p][r], matrix: matrices[p], between: link.between, row: r)
                        if constant != 0 {
                            guard link.consumerIsLinear else { kept.append(r); continue }
                            for k in keptRows[c] { for column in block { biases[c][k] += weight(c, k, column) * constant } }
                        }
                    }
                    changed = true
                }
                keptRows[p] = kept
            }
        }
        var steps = self.steps
        // Per-channel affine steps between linked matrices keep the producer's surviving channels.
        for link in links {
            for index in link.between {
                if case .channelAffine(let scale, let shift) = steps[index] {
                    steps[index] = .channelAffine(scale: keptRows[link.producer].map { scale[$0] }, shift: keptRows[link.producer].map { shift[$0] })
                }
            }
        }
        var gather: [Int]?
        if case .matrix(let first)? = steps.first, matrices[first].geometry == nil {
            let used = (0..<matrices[first].fanIn).filter { j in keptRows[first].contains { weight(first, $0, j) != 0 } }
            if used.count < matrices[first].fanIn { gather = used.isEmpty ? [0] : used }
        }
        for m in matrices.indices {
            let columnList = m == firstMatrix(steps) && gather != nil ? gather! : columns(of: m, links: links, keptRows: keptRows, matrices: matrices)
            var copy = matrices[m]
            let rows = keptRows[m]
            copy.weight = Tensor(zeros: [rows.count, columnList.count])
            copy.mask = Tensor(zeros: [rows.count, columnList.count])
            for (a, r) in rows.enumerated() {
                for (b, j) in columnList.enumerated() {
                    copy.weight[a * columnList.count + b] = matrices[m].weight[r * matrices[m].fanIn + j]
                    copy.mask[a * columnList.count + b] = matrices[m].mask[r * matrices[m].fanIn + j]
                }
            }
            copy.bias = Tensor(shape: [rows.count], values: rows.map { biases[m][$0] })
            if var geometry = copy.geometry {
                geometry.outChannels = rows.count
                if let link = links.first(where: { $0.consumer == m }) { geometry.inChannels = keptRows[link.producer].count }
                copy.geometry = geometry
            }
            matrices[m] = copy
        }
        if let gather { steps.insert(.gather(gather), at: 0) }
        return InferenceProgram(steps: steps, matrices: matrices, inputShape: inputShape, outputShape: outputShape)
    }

    private func firstMatrix(_ steps: [InferenceStep]) -> Int? {
        for step in steps { if case .matrix(let m) = step { return m } }
        return nil
    }

    /// The columns matrix `m` keeps: the blocks of its producer's surviving rows, or all.
    private func columns(of m: Int, links: [Link], keptRows: [[Int]], matrices: [InferenceMatrix]) -> [Int] {
        guard let link = links.first(where: { $0.consumer == m }) else { return Array(0..<matrices[m].fanIn) }
        return keptRows[link.producer].flatMap { r in Array((r * link.block)..<((r + 1) * link.block)) }
    }

    /// What a row with all-zero weights outputs after the steps up to its consumer: f(bias),
    /// through a fused ReLU, activations and per-channel affines (pooling keeps a constant).
    private func constantOutput(_ bias: Float, matrix: InferenceMatrix, between: Range<Int>, row: Int) -> Float {
        var value = matrix.relu ? max(bias, 0) : bias
        for index in between {
            switch steps[index] {
            case .activation(let activation):
                var result: Float = 0
                withUnsafePointer(to: value) { input in activation.forward(input, &result, count: 1) }
                value = result
            case .channelAffine(let scale, let shift): value = value * scale[row] + shift[row]
            default: continue
            }
        }
        return value
    }
}
