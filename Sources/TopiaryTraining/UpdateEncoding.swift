import Foundation
import TopiaryNN
import TopiaryTensor

/// How a federated client's update Δ = w_local − w_global travels to the server, as bytes
/// (what a round's upload is counted from):
///
/// - `dense`: every trained element, Float32 little-endian.
/// - `sparse`: only elements alive under the mask both sides hold (the server broadcast it),
///   Float32 in mask order; no indices travel.
/// - `sparseInt8`: the alive elements as int8, one Float32 scale per parameter first
///   (largest |Δ| / 127, rounded to nearest): a quarter of `sparse`, and lossy.
public enum UpdateEncoding: String, Codable, CaseIterable, Sendable {
    case dense, sparse
    case sparseInt8 = "sparse_int8"
}

/// Encodes and decodes updates of a store's trainable parameters. Updates are flat tensors
/// laid out as `store.values` (padding and frozen parameters ignored, decoded as 0).
public struct UpdateCodec {
    public let store: ParameterStore
    let trained: [Parameter]

    public init(store: ParameterStore) {
        self.store = store
        trained = store.parameters.filter(\.trainable)
    }

    public func encode(_ update: Tensor, as encoding: UpdateEncoding) -> [UInt8] {
        precondition(update.count == store.flatCount, "an update is laid out as the store: \(store.flatCount) floats, got \(update.count)")
        var bytes: [UInt8] = []
        func append(_ value: Float) { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        for parameter in trained {
            let values = update.pointer + parameter.offset, mask = parameter.mask.pointer
            switch encoding {
            case .dense:
                for i in 0..<parameter.count { append(values[i]) }
            case .sparse:
                for i in 0..<parameter.count where mask[i] != 0 { append(values[i]) }
            case .sparseInt8:
                var largest: Float = 0
                for i in 0..<parameter.count where mask[i] != 0 { largest = max(largest, abs(values[i])) }
                let scale = largest / 127
                append(scale)
                for i in 0..<parameter.count where mask[i] != 0 {
                    let level = scale > 0 ? (values[i] / scale).rounded() : 0
                    bytes.append(UInt8(bitPattern: Int8(max(-127, min(127, level)))))
                }
            }
        }
        return bytes
    }

    /// The update `bytes` encode, under the masks the store holds now (the ones encoding saw).
    public func decode(_ bytes: [UInt8], as encoding: UpdateEncoding) -> Tensor {
        let update = Tensor(zeros: [store.flatCount])
        var offset = 0
        func next() -> Float {
            defer { offset += 4 }
            return Float(bitPattern: UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24)
        }
        for parameter in trained {
            let values = update.pointer + parameter.offset, mask = parameter.mask.pointer
            switch encoding {
            case .dense:
                for i in 0..<parameter.count { values[i] = next() }
            case .sparse:
                for i in 0..<parameter.count where mask[i] != 0 { values[i] = next() }
            case .sparseInt8:
                let scale = next()
                for i in 0..<parameter.count where mask[i] != 0 {
                    values[i] = Float(Int8(bitPattern: bytes[offset])) * scale
                    offset += 1
                }
            }
        }
        precondition(offset == bytes.count, "decoded \(offset) of \(bytes.count) bytes: the masks changed since encoding")
        return update
    }

    /// Bytes of a whole model sent sparse with its masks — every weight and bias alive, frozen
    /// ones included (a LoRA base): what a client needs once per phase before adapters.
    public static func sparseModelBytes(_ store: ParameterStore) -> Int {
        store.parameters.filter { $0.role != .buffer }.reduce(0) { $0 + 4 * $1.aliveCount + ($1.count + 7) / 8 }
    }

    /// Bytes of the global model sent to a client: trained values alive under the mask as
    /// Float32 (every one for dense), plus the mask as a bitmap when it changed since the
    /// client last held it.
    public func broadcastBytes(encoding: UpdateEncoding, withMask: Bool) -> Int {
        let alive = trained.reduce(0) { $0 + (encoding == .dense ? $1.count : $1.aliveCount) }
        let bitmap = withMask ? trained.reduce(0) { $0 + ($1.count + 7) / 8 } : 0
        return 4 * alive + bitmap
    }
}
