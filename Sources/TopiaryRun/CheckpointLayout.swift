import TopiaryNN
import TopiaryTensor

/// How a model's training state becomes a checkpoint's named tensors, one per parameter
/// with its own name and shape (so a checkpoint maps onto safetensors or a PyTorch state
/// dict without guessing where one tensor ends):
///
///     <parameter>                      its values, e.g. conv1.weight (6, 1, 5, 5)
///     <parameter>_mask                 its pruning mask, when any entry is 0 (absent: all ones),
///                                      as torch.nn.utils.prune names it
///     rewind.<parameter>               the values a lottery-ticket rewind returns to
///     optimizer.<state>.<parameter>    optimizer state of trainable parameters (Adam's m, v)
///     movement.<parameter>             movement-score accumulators of prunable matrices
///
/// The store's flat buffers keep zero padding between parameters (and so do optimizer
/// buffers); restoring fills the parameters and leaves the padding at zero, so a restored
/// store is bit-identical to the saved one.
package enum CheckpointLayout {
    package static let maskSuffix = "_mask"

    /// Every parameter's values, and the masks that prune anything.
    package static func parameterTensors(_ store: ParameterStore) -> [(String, Tensor)] {
        var tensors: [(String, Tensor)] = []
        for parameter in store.parameters {
            tensors.append((parameter.name, parameter.value))
            if countNonzeros(parameter.mask) < parameter.count { tensors.append((parameter.name + maskSuffix, parameter.mask)) }
        }
        return tensors
    }

    /// A flat buffer shaped like the store's values (rewind weights), one tensor per parameter.
    static func perParameter(_ flat: Tensor, prefix: String, _ store: ParameterStore) -> [(String, Tensor)] {
        store.parameters.map { (prefix + $0.name, Tensor(storage: flat.storage, offset: flat.offset + $0.offset, shape: $0.shape)) }
    }

    /// Where each trainable parameter starts in a compact optimizer buffer.
    static func compactOffsets(_ store: ParameterStore) -> [(Parameter, Int)] {
        let ranges = store.trainableRanges
        return store.parameters.filter(\.trainable).map { parameter in
            let range = ranges.first { $0.flat.contains(parameter.offset) }!
            return (parameter, range.compactStart + parameter.offset - range.flat.lowerBound)
        }
    }

    /// An optimizer state buffer (compact over trainable ranges), one tensor per trainable parameter.
    static func optimizerTensors(_ buffers: [String: Tensor], _ store: ParameterStore) -> [(String, Tensor)] {
        buffers.sorted { $0.key < $1.key }.flatMap { name, buffer in
            compactOffsets(store).map { parameter, offset in
                ("optimizer.\(name).\(parameter.name)", Tensor(storage: buffer.storage, offset: buffer.offset + offset, shape: parameter.shape))
            }
        }
    }

    /// Restores values and masks; throws `mismatch` for a missing parameter or a shape the
    /// model does not have.
    package static func restoreParameters(_ store: ParameterStore, from tensors: [String: Tensor], path: String) throws {
        for parameter in store.parameters {
            parameter.value.assign(from: try tensor(parameter.name, parameter.shape, in: tensors, path: path))
            if tensors[parameter.name + maskSuffix] != nil {
                parameter.mask.assign(from: try tensor(parameter.name + maskSuffix, parameter.shape, in: tensors, path: path))
            } else {
                parameter.mask.fill(1)
            }
        }
    }

    /// A flat buffer like the store's values from `prefix`-named tensors; nil when the
    /// checkpoint holds none.
    static func restoreFlat(prefix: String, _ store: ParameterStore, from tensors: [String: Tensor], path: String) throws -> Tensor? {
        guard tensors.keys.contains(where: { $0.hasPrefix(prefix) }) else { return nil }
        let flat = Tensor(zeros: store.values.shape)
        for (name, view) in perParameter(flat, prefix: prefix, store) {
            view.assign(from: try tensor(name, view.shape, in: tensors, path: path))
        }
        return flat
    }

    /// Fills an optimizer's state buffers from the checkpoint's `optimizer.*` tensors.
    static func restoreOptimizer(_ buffers: [String: Tensor], _ store: ParameterStore, from tensors: [String: Tensor], path: String) throws {
        for (name, buffer) in buffers {
            buffer.fill(0)
            for (parameter, offset) in compactOffsets(store) {
                let view = Tensor(storage: buffer.storage, offset: buffer.offset + offset, shape: parameter.shape)
                view.assign(from: try tensor("optimizer.\(name).\(parameter.name)", parameter.shape, in: tensors, path: path))
            }
        }
    }

    /// The names a checkpoint of this model may hold, with their shapes: anything else is
    /// foreign to the run.
    static func expectedShapes(_ store: ParameterStore, optimizerBuffers: [String], movementTargets: [PrunableMatrix]) -> [String: [Int]] {
        var shapes: [String: [Int]] = [:]
        for parameter in store.parameters {
            for name in [parameter.name, parameter.name + maskSuffix, "rewind." + parameter.name] { shapes[name] = parameter.shape }
        }
        for buffer in optimizerBuffers {
            for (parameter, _) in compactOffsets(store) { shapes["optimizer.\(buffer).\(parameter.name)"] = parameter.shape }
        }
        for target in movementTargets { shapes["movement." + target.parameter.name] = [target.rows, target.fanIn] }
        return shapes
    }

    private static func tensor(_ name: String, _ shape: [Int], in tensors: [String: Tensor], path: String) throws -> Tensor {
        guard let tensor = tensors[name] else { throw CheckpointError.mismatch(path: path, detail: "it holds no tensor \(name)") }
        guard tensor.shape == shape else {
            throw CheckpointError.mismatch(path: path, detail: "its tensor \(name) has shape \(tensor.shape), where this run's model has \(shape)")
        }
        return tensor
    }
}
