import TopiaryNN
import TopiaryTensor

/// The adapters in PEFT's layout, by module (layer) name: A (r, in) and B (out, r) for a
/// linear layer; for a convolution A (r, in_channels, kernel…) and B (out, r, 1…), PEFT's
/// k×k then 1×1 pair, whose product is the fan-in layout's (out, in·kernel) update.
extension LowRankAdapters {
    public func peftFactors() -> [String: (a: Tensor, b: Tensor)] {
        var result: [String: (a: Tensor, b: Tensor)] = [:]
        for target in targets {
            var (aShape, bShape) = ([rank, target.matrix.fanIn], [target.matrix.rows, rank])
            if case .convolution(let geometry) = target.matrix.operation {
                aShape = [rank, geometry.inChannels] + geometry.kernel
                bShape += geometry.kernel.map { _ in 1 }
            }
            result[target.matrix.layerName] = (target.a.value.copy().reshaped(aShape), target.b.value.copy().reshaped(bShape))
        }
        return result
    }

    /// Sets A and B from `factors` (PEFT's layout) and rewrites the weights; returns what does
    /// not fit (a module without factors, an unknown module, a shape) instead, changing nothing.
    public func assign(peft factors: [String: (a: Tensor, b: Tensor)]) -> String? {
        let names = Set(targets.map(\.matrix.layerName))
        if let unknown = factors.keys.sorted().first(where: { !names.contains($0) }) {
            return "adapts \(unknown), which is not among this run's adapter targets (\(names.sorted().joined(separator: ", ")))"
        }
        for target in targets {
            let module = target.matrix.layerName
            guard let pair = factors[module] else { return "has no factors for \(module)" }
            guard pair.a.count == target.a.count, pair.a.shape.first == rank, pair.b.count == target.b.count, pair.b.shape.first == target.matrix.rows else {
                return "has \(module) factors of shapes \(pair.a.shape) and \(pair.b.shape), but rank \(rank) on a \(target.matrix.rows) × \(target.matrix.fanIn) matrix needs \(rank) × \(target.matrix.fanIn) and \(target.matrix.rows) × \(rank) elements"
            }
        }
        for target in targets {
            let pair = factors[target.matrix.layerName]!
            target.a.value.assign(from: pair.a.reshaped(target.a.shape))
            target.b.value.assign(from: pair.b.reshaped(target.b.shape))
        }
        materialize()
        return nil
    }
}
