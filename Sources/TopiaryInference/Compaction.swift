import TopiaryTensor

/// The compacted model: the same function with smaller dense matrices.
///
/// A hidden neuron whose weight row is fully pruned outputs the constant act(bᵢ): its
/// contribution W_next[:, i]·act(bᵢ) is folded into the next layer's bias and the neuron is
/// removed. A neuron whose outgoing column is fully pruned is unused and removed too, and so
/// is an input feature no first-layer weight reads. Removals can expose more, so the
/// procedure repeats until nothing changes. Outputs equal the masked model's up to the
/// rounding of the folded bias sums.
public struct CompactedStack: Sendable {
    public let stack: LinearStack
    /// The original input features the compacted first layer reads, in order.
    public let inputColumns: [Int]
    /// Kept neurons per layer (indices into the original layer's outputs).
    public let keptRows: [[Int]]

    public init(_ original: LinearStack) {
        let layers = original.layers
        let count = layers.count
        var rows = layers.map { Array(0..<$0.weight.rows) }
        var inputs = Array(0..<original.inputFeatures)
        var biases = layers.map { $0.bias.toArray() }
        func alive(_ l: Int, _ i: Int, _ j: Int) -> Bool { layers[l].mask[i * layers[l].weight.columns + j] != 0 }

        var changed = true
        while changed {
            changed = false
            let usedInputs = inputs.filter { j in rows[0].contains { alive(0, $0, j) } }
            if usedInputs.count != inputs.count { inputs = usedInputs; changed = true }
            for l in 0..<(count - 1) {
                let columns = l == 0 ? inputs : rows[l - 1]
                var kept: [Int] = []
                for i in rows[l] {
                    let dead = !columns.contains { alive(l, i, $0) }
                    let unused = !rows[l + 1].contains { alive(l + 1, $0, i) }
                    if !dead && !unused { kept.append(i); continue }
                    if dead && !unused {
                        let constant = layers[l].relu ? max(biases[l][i], 0) : biases[l][i]
                        if constant != 0 {
                            let next = layers[l + 1]
                            for k in rows[l + 1] { biases[l + 1][k] += next.weight[k * next.weight.columns + i] * constant }
                        }
                    }
                    changed = true
                }
                rows[l] = kept
            }
        }

        var compacted: [LinearStack.Layer] = []
        for l in 0..<count {
            let columns = l == 0 ? inputs : rows[l - 1]
            let source = layers[l]
            let weight = Tensor(zeros: [rows[l].count, columns.count])
            let mask = Tensor(zeros: [rows[l].count, columns.count])
            for (r, i) in rows[l].enumerated() {
                for (c, j) in columns.enumerated() {
                    weight[r * columns.count + c] = source.weight[i * source.weight.columns + j]
                    mask[r * columns.count + c] = source.mask[i * source.weight.columns + j]
                }
            }
            let bias = Tensor(shape: [rows[l].count], values: rows[l].map { biases[l][$0] })
            compacted.append(.init(name: source.name, weight: weight, mask: mask, bias: bias, relu: source.relu))
        }
        stack = LinearStack(layers: compacted)
        inputColumns = inputs
        keptRows = rows
    }
}
