import TopiaryNN
import TopiaryTensor

/// Structured pruning of whole hidden neurons: a neuron's score is the L2 norm of its weight
/// row's scores (over weights still alive); in every hidden layer the lowest-scored neurons
/// are removed until the layer has lost round(sparsity · rows) of its neurons. A removed
/// neuron loses its whole weight row and its bias, so it outputs exactly 0 and the model
/// can be compacted (fewer rows here, fewer columns in the next layer) without changing a
/// single output. Output layers are never thinned (their rows are the classes).
public struct NeuronPruner: Sendable {
    public init() {}

    /// - Parameters:
    ///   - hidden: weight matrices of hidden layers (rows = neurons), with their biases.
    ///   - scores: one score tensor per hidden weight matrix.
    /// - Returns: neurons removed per layer.
    @discardableResult
    public func prune(_ hidden: [(weight: Parameter, bias: Parameter)], scores: [Tensor], to sparsity: Double) throws -> [Int] {
        require(hidden.count == scores.count, "\(hidden.count) layers but \(scores.count) score tensors")
        require(sparsity >= 0 && sparsity < 1, "sparsity must lie in [0, 1), but got \(sparsity)")
        return try zip(hidden, scores).map { layer, score in
            let (rows, columns) = (layer.weight.shape[0], layer.weight.shape[1])
            let alive = (0..<rows).filter { NeuronPruner.isAlive(layer.weight, row: $0) }
            let wanted = Int((sparsity * Double(rows)).rounded())
            guard wanted >= rows - alive.count else {
                throw PruningError.sparsityBelowCurrent(target: sparsity, current: Double(rows - alive.count) / Double(rows),
                                                        layers: [layer.weight.layerName])
            }
            let norms = alive.map { i -> (Float, Int) in
                var sum: Float = 0
                for j in 0..<columns where layer.weight.mask[i * columns + j] != 0 { sum += score[i * columns + j] * score[i * columns + j] }
                return (sum.squareRoot(), i)
            }
            let removed = norms.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.prefix(wanted - (rows - alive.count)).map(\.1)
            for i in removed {
                for j in 0..<columns {
                    layer.weight.mask[i * columns + j] = 0
                    layer.weight.value[i * columns + j] = 0
                    layer.weight.grad[i * columns + j] = 0
                }
                layer.bias.mask[i] = 0
                layer.bias.value[i] = 0
                layer.bias.grad[i] = 0
            }
            return removed.count
        }
    }

    /// A neuron is alive while any weight of its row is.
    public static func isAlive(_ weight: Parameter, row i: Int) -> Bool {
        let columns = weight.shape[1]
        return (0..<columns).contains { weight.mask[i * columns + $0] != 0 }
    }

    /// Fraction of neurons removed in a layer.
    public static func neuronSparsity(_ weight: Parameter) -> Double {
        let rows = weight.shape[0]
        return Double((0..<rows).filter { !isAlive(weight, row: $0) }.count) / Double(rows)
    }
}
