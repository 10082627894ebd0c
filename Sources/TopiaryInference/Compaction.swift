import Foundation
import TopiaryNN
import TopiaryTensor

/// The compacted model: the same function with smaller dense matrices — the engine that turns
/// structured pruning (whole neurons, whole channels, attention heads) into less work.
///
/// Between two matrices of one step list (the top level or a residual branch) linked only by
/// per-channel steps (activations, pooling, a per-channel affine, flatten), output row r of the first feeds a
/// block of the second's columns (one column for a Linear, a block of H·W after a flatten,
/// kh·kw for a convolution). Row r goes, with its block of columns, when
/// - nothing reads it (its columns are all zero), or
/// - its weights are all zero and its output is the constant 0 (f(bias) = 0), or
/// - its weights are all zero, its output is a nonzero constant c, and the next matrix is a
///   Linear: c·(its columns) is added to the next bias first (exact; a convolution's padding
///   would make the constant position-dependent, so there the row stays).
/// A first Linear's input features that no weight reads are dropped through a gather. An
/// attention head whose q, k and v rows have no weight left goes with proj's columns for it.
/// Removals can expose more, so the procedure repeats until nothing changes. Outputs equal the
/// masked model's up to the rounding of folded bias sums.
extension InferenceProgram {
    struct Link {
        let producer: Int, consumer: Int
        /// The steps between the two matrix steps, in the list (top level or a residual
        /// branch) that holds both.
        let between: [InferenceStep]
        /// Consumer columns per producer row.
        let block: Int
        var consumerIsLinear: Bool
    }

    /// Producer → consumer pairs in every step list, residual branches included.
    private func links(_ steps: [InferenceStep], into links: inout [Link]) {
        var previous: (step: Int, matrix: Int, block: Int)?
        for (index, step) in steps.enumerated() {
            switch step {
            case .matrix(let m):
                if let p = previous {
                    let span = matrices[m].geometry.map { $0.kernel.reduce(1, *) } ?? p.block
                    if matrices[m].fanIn == matrices[p.matrix].rows * span {
                        links.append(Link(producer: p.matrix, consumer: m, between: Array(steps[(p.step + 1)..<index]), block: span,
                                          consumerIsLinear: matrices[m].geometry == nil))
                    }
                }
                previous = (index, m, 1)
            case .activation, .channelAffine, .maxPool, .averagePool, .scale:
                continue
            case .globalAveragePool:
                if previous != nil { previous!.block = 1 }
            case .flatten:
                if previous != nil, let g = matrices[previous!.matrix].geometry { previous!.block = g.outputSize.reduce(1, *) }
            case .residual(let body, let shortcut):
                self.links(body, into: &links)
                self.links(shortcut, into: &links)
                previous = nil
            default:
                previous = nil
            }
        }
    }

    public func compacted() -> InferenceProgram {
        var matrices = self.matrices
        var links: [Link] = []
        self.links(steps, into: &links)
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
        // Attention heads whose q, k and v rows have no weight left: the head attends
        // uniformly (its scores are constant) to a constant value, its v bias, so it adds
        // proj's head columns · v bias, folded into proj's bias; then its rows and columns go.
        var keptColumns: [Int: [Int]] = [:]
        var keptHeads: [Int: Int] = [:]
        for (q, p, heads) in attentions {
            let inner = matrices[q].rows / 3, hs = inner / heads
            var alive = (0..<heads).filter { h in
                CausalSelfAttention.headRows(h, width: inner, headSize: hs).contains { r in (0..<matrices[q].fanIn).contains { weight(q, r, $0) != 0 } }
            }
            if alive.isEmpty { alive = [0] }   // a zero-width attention is not worth a special case
            for h in 0..<heads where !alive.contains(h) {
                for r in 0..<matrices[p].rows {
                    for i in 0..<hs { biases[p][r] += weight(p, r, h * hs + i) * biases[q][2 * inner + h * hs + i] }
                }
            }
            // Kept in the [q | k | v] layout: every third holds the surviving heads in order.
            keptRows[q] = (0..<3).flatMap { third in alive.flatMap { CausalSelfAttention.headRows($0, width: inner, headSize: hs)[(third * hs)..<((third + 1) * hs)] } }
            keptColumns[p] = alive.flatMap { h in Array((h * hs)..<((h + 1) * hs)) }
            keptHeads[q] = alive.count
        }
        let steps = rewritten(self.steps, links: links, keptRows: keptRows, originalRows: matrices.map(\.rows), keptHeads: keptHeads)
        var gather: [Int]?
        if case .matrix(let first)? = steps.first, matrices[first].geometry == nil {
            let used = (0..<matrices[first].fanIn).filter { j in keptRows[first].contains { weight(first, $0, j) != 0 } }
            if used.count < matrices[first].fanIn { gather = used.isEmpty ? [0] : used }
        }
        for m in matrices.indices {
            let columnList = m == firstMatrix(steps) && gather != nil ? gather!
                : keptColumns[m] ?? columns(of: m, links: links, keptRows: keptRows, matrices: matrices)
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
        return InferenceProgram(steps: (gather.map { [.gather($0)] } ?? []) + steps, matrices: matrices, inputShape: inputShape,
                                outputShape: outputShape)
    }

    /// `steps` with per-channel affines after a linked producer cut to its surviving channels
    /// and attention steps to their surviving heads, residual branches included.
    private func rewritten(_ steps: [InferenceStep], links: [Link], keptRows: [[Int]], originalRows: [Int], keptHeads: [Int: Int]) -> [InferenceStep] {
        var result = steps
        var producer: Int?
        for index in result.indices {
            switch result[index] {
            case .matrix(let m): producer = links.contains { $0.producer == m } ? m : nil
            case .channelAffine(let scale, let shift):
                if let p = producer, scale.count == originalRows[p] {
                    result[index] = .channelAffine(scale: keptRows[p].map { scale[$0] }, shift: keptRows[p].map { shift[$0] })
                }
            case .activation, .maxPool, .averagePool, .globalAveragePool, .flatten, .scale: continue
            case .residual(let body, let shortcut):
                result[index] = .residual(body: rewritten(body, links: links, keptRows: keptRows, originalRows: originalRows, keptHeads: keptHeads),
                                          shortcut: rewritten(shortcut, links: links, keptRows: keptRows, originalRows: originalRows, keptHeads: keptHeads))
                producer = nil
            case .attention(let qkv, let proj, let heads):
                result[index] = .attention(qkv: qkv, proj: proj, heads: keptHeads[qkv] ?? heads)
                producer = nil
            default: producer = nil
            }
        }
        return result
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
    private func constantOutput(_ bias: Float, matrix: InferenceMatrix, between: [InferenceStep], row: Int) -> Float {
        var value = matrix.relu ? max(bias, 0) : bias
        for step in between {
            switch step {
            case .activation(let activation):
                var result: Float = 0
                withUnsafePointer(to: value) { input in activation.forward(input, &result, count: 1) }
                value = result
            case .channelAffine(let scale, let shift): value = value * scale[row] + shift[row]
            case .scale(let factor): value *= factor
            default: continue
            }
        }
        return value
    }
}
