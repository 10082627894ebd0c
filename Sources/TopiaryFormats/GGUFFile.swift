import Foundation
import TopiaryTensor

/// GGUF version 3 (ggml's model file, what llama.cpp loads), little-endian:
///
///     "GGUF", u32 version, u64 tensor count, u64 metadata count
///     metadata: string key, u32 type, value     (strings: u64 length + UTF-8; arrays: u32 type, u64 count, values)
///     tensor infos: string name, u32 dims, u64 ne[dims] (ne[0] varies fastest), u32 ggml type, u64 offset
///     padding to `general.alignment` (default 32), then the tensor data (offsets relative to it, aligned)
///
/// Reading validates everything before any tensor is touched — counts against the file's size,
/// every string and array inside the file, known value types, offsets aligned and inside the
/// data, tensor sizes matching their type's block layout — each failure a `GGUFError` naming the
/// file. Tensors dequantize to Float32 from F32, F16, BF16, Q8_0, Q4_0 and Q4_1; other types are
/// refused by name. Writing produces F32, F16 and Q8_0.
public struct GGUFFile: Sendable {
    public enum TensorType: UInt32, Sendable, CaseIterable {
        case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q8_0 = 8, bf16 = 30

        public var name: String {
            switch self {
            case .f32: return "F32"
            case .f16: return "F16"
            case .q4_0: return "Q4_0"
            case .q4_1: return "Q4_1"
            case .q8_0: return "Q8_0"
            case .bf16: return "BF16"
            }
        }
        /// Elements per block and bytes per block.
        var block: (elements: Int, bytes: Int) {
            switch self {
            case .f32: return (1, 4)
            case .f16, .bf16: return (1, 2)
            case .q4_0: return (32, 18)
            case .q4_1: return (32, 20)
            case .q8_0: return (32, 34)
            }
        }
    }

    /// A metadata value.
    public indirect enum Value: Sendable, Equatable {
        case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
        case float32(Float), bool(Bool), string(String), uint64(UInt64), int64(Int64), float64(Double)
        case array([Value])

        /// An integer value of any width, as Int (nil for other kinds or out of range).
        public var integer: Int? {
            switch self {
            case .uint8(let v): return Int(v)
            case .int8(let v): return Int(v)
            case .uint16(let v): return Int(v)
            case .int16(let v): return Int(v)
            case .uint32(let v): return Int(v)
            case .int32(let v): return Int(v)
            case .uint64(let v): return Int(exactly: v)
            case .int64(let v): return Int(v)
            default: return nil
            }
        }
    }

    public struct TensorInfo: Sendable, Equatable {
        public let name: String
        /// ggml's ne: ne[0] is the fastest-varying (a PyTorch (rows, columns) matrix has ne = [columns, rows]).
        public let dimensions: [Int]
        public let type: TensorType
        /// Byte range within the file.
        public let range: Range<Int>
        public var count: Int { dimensions.reduce(1, *) }
        /// The row-major shape a PyTorch tensor of this data has: ne reversed.
        public var shape: [Int] { dimensions.reversed() }
    }

    public let version: UInt32
    /// Keys in file order.
    public let metadata: [(key: String, value: Value)]
    public let tensors: [TensorInfo]
    public let alignment: Int
    private let data: Data

    public func value(_ key: String) -> Value? { metadata.first { $0.key == key }?.value }
    public func tensorInfo(_ name: String) -> TensorInfo? { tensors.first { $0.name == name } }

    public static func read(path: String) throws -> GGUFFile {
        guard let data = FileManager.default.contents(atPath: path) else { throw GGUFError(path: path, problem: "cannot be read (missing or not a file)") }
        return try GGUFFile(data: data, path: path)
    }

    public init(data: Data, path: String) throws {
        var reader = ByteReader(bytes: [UInt8](data), path: path)
        guard reader.bytes.count >= 4, reader.bytes[0..<4] == [0x47, 0x47, 0x55, 0x46] else {
            throw GGUFError(path: path, problem: "does not start with the magic GGUF: not a GGUF file")
        }
        reader.position = 4
        version = try reader.u32("the version")
        guard version == 3 else { throw reader.fail("is GGUF version \(version); Topiary reads version 3") }
        let tensorCount = try reader.count("the tensor count", minimumBytesEach: 24)
        let metadataCount = try reader.count("the metadata count", minimumBytesEach: 12)
        var metadata: [(key: String, value: Value)] = []
        var keys = Set<String>()
        for _ in 0..<metadataCount {
            let key = try reader.string("a metadata key")
            guard keys.insert(key).inserted else { throw reader.fail("repeats the metadata key '\(key)'") }
            let type = try reader.u32("the type of '\(key)'")
            metadata.append((key, try reader.value(type: type, key: key, depth: 0)))
        }
        self.metadata = metadata
        var alignment = 32
        if let entry = metadata.first(where: { $0.key == "general.alignment" }) {
            guard case .uint32(let value) = entry.value, value > 0, value % 8 == 0, value <= 1 << 20 else {
                throw reader.fail("has general.alignment \(entry.value), not a u32 multiple of 8")
            }
            alignment = Int(value)
        }
        self.alignment = alignment
        var infos: [(name: String, dimensions: [Int], type: TensorType, offset: Int)] = []
        var names = Set<String>()
        for _ in 0..<tensorCount {
            let name = try reader.string("a tensor name")
            guard names.insert(name).inserted else { throw reader.fail("names the tensor '\(name)' twice") }
            let dimensionCount = try reader.u32("the dimensions of '\(name)'")
            guard (1...4).contains(dimensionCount) else { throw reader.fail("gives '\(name)' \(dimensionCount) dimensions (1 to 4 allowed)") }
            var dimensions: [Int] = []
            for _ in 0..<dimensionCount {
                let size = try reader.u64("a dimension of '\(name)'")
                guard size > 0 else { throw reader.fail("gives '\(name)' a dimension of 0") }
                guard size <= UInt64(reader.bytes.count) * 2 else { throw reader.fail("gives '\(name)' a dimension of \(size), larger than the file could hold") }
                dimensions.append(Int(size))
            }
            let rawType = try reader.u32("the type of '\(name)'")
            guard let type = TensorType(rawValue: rawType) else {
                throw reader.fail("stores '\(name)' as ggml type \(rawType); Topiary reads \(TensorType.allCases.map(\.name).joined(separator: ", "))")
            }
            let offset = try reader.u64("the offset of '\(name)'")
            guard offset % UInt64(alignment) == 0, offset <= UInt64(reader.bytes.count) else {
                throw reader.fail("places '\(name)' at offset \(offset), not a multiple of the alignment \(alignment) inside the file")
            }
            infos.append((name, dimensions, type, Int(offset)))
        }
        let dataStart = (reader.position + alignment - 1) / alignment * alignment
        guard dataStart <= reader.bytes.count else { throw reader.fail("ends before its tensor data begins (truncated)") }
        var tensors: [TensorInfo] = []
        for info in infos {
            var elements = 1
            for size in info.dimensions {
                let (product, overflow) = elements.multipliedReportingOverflow(by: size)
                guard !overflow, product <= reader.bytes.count * 2 else { throw reader.fail("gives '\(info.name)' more elements than the file could hold") }
                elements = product
            }
            let block = info.type.block
            guard elements % block.elements == 0, info.dimensions[0] % block.elements == 0 else {
                throw reader.fail("gives '\(info.name)' rows of \(info.dimensions[0]) elements, not whole \(info.type.name) blocks of \(block.elements)")
            }
            let size = elements / block.elements * block.bytes
            let start = dataStart + info.offset
            guard start + size <= reader.bytes.count else {
                throw reader.fail("holds '\(info.name)' (\(size) bytes at \(start)) past its end: the file is truncated")
            }
            tensors.append(TensorInfo(name: info.name, dimensions: info.dimensions, type: info.type, range: start..<(start + size)))
        }
        self.tensors = tensors
        self.data = data
    }

    /// The tensor `name` dequantized to Float32, shaped as PyTorch holds it (ne reversed).
    public func tensor(_ name: String) -> Tensor? {
        guard let info = tensorInfo(name) else { return nil }
        let out = Tensor(zeros: info.shape)
        let target = out.pointer
        data.withUnsafeBytes { raw in
            let base = raw.baseAddress!.advanced(by: info.range.lowerBound)
            func half(_ offset: Int) -> Float { HalfPrecision.float(half: UInt16(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self))) }
            switch info.type {
            case .f32:
                for i in 0..<info.count { target[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            case .f16:
                for i in 0..<info.count { target[i] = half(2 * i) }
            case .bf16:
                for i in 0..<info.count { target[i] = Float(bitPattern: UInt32(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
            case .q8_0:
                for b in 0..<(info.count / 32) {
                    let d = half(34 * b), block = target + 32 * b
                    for j in 0..<32 { block[j] = d * Float(Int8(bitPattern: base.load(fromByteOffset: 34 * b + 2 + j, as: UInt8.self))) }
                }
            case .q4_0, .q4_1:
                let blockBytes = info.type.block.bytes, quants = info.type == .q4_0 ? 2 : 4
                for b in 0..<(info.count / 32) {
                    let d = half(blockBytes * b), block = target + 32 * b
                    let m: Float = info.type == .q4_1 ? half(blockBytes * b + 2) : 0
                    let offset: Int = info.type == .q4_0 ? -8 : 0
                    for j in 0..<16 {
                        let byte = base.load(fromByteOffset: blockBytes * b + quants + j, as: UInt8.self)
                        block[j] = Float(Int(byte & 0x0F) + offset) * d + m
                        block[j + 16] = Float(Int(byte >> 4) + offset) * d + m
                    }
                }
            }
        }
        return out
    }

    // MARK: - Writing

    /// A GGUF v3 file of `metadata` and `tensors` (PyTorch row-major shapes; ne is their
    /// reverse) in `type` (F32, F16 or Q8_0; a Q8_0 tensor's last axis must hold whole
    /// blocks of 32, else it is written F32), aligned to 32 bytes. Tensors named in `exact`
    /// are written F32 whatever `type` says (pruning masks must stay exactly 0 and 1).
    public static func encode(metadata: [(key: String, value: Value)], tensors: [(name: String, tensor: Tensor)], type: TensorType,
                              exact: Set<String> = []) -> Data {
        precondition([.f32, .f16, .q8_0].contains(type), "GGUF writing supports F32, F16 and Q8_0, not \(type.name)")
        var out = ByteWriter()
        out.bytes += [0x47, 0x47, 0x55, 0x46]
        out.u32(3)
        out.u64(UInt64(tensors.count))
        out.u64(UInt64(metadata.count))
        for (key, value) in metadata {
            out.string(key)
            out.value(value, withType: true)
        }
        let alignment = 32
        var payloads: [[UInt8]] = []
        var offset = 0
        for (name, tensor) in tensors {
            let chosen = exact.contains(name) || (type == .q8_0 && (tensor.shape.last ?? 0) % 32 != 0) ? TensorType.f32 : type
            let payload = encodeTensor(tensor, as: chosen)
            out.string(name)
            out.u32(UInt32(tensor.shape.count))
            for size in tensor.shape.reversed() { out.u64(UInt64(size)) }
            out.u32(chosen.rawValue)
            out.u64(UInt64(offset))
            offset += (payload.count + alignment - 1) / alignment * alignment
            payloads.append(payload)
        }
        while out.bytes.count % alignment != 0 { out.bytes.append(0) }
        for payload in payloads {
            out.bytes += payload
            while out.bytes.count % alignment != 0 { out.bytes.append(0) }
        }
        return Data(out.bytes)
    }

    /// Q8_0 as ggml quantizes: per block of 32, d = max|x| / 127, q = round(x / d) (ties away from zero).
    static func encodeTensor(_ tensor: Tensor, as type: TensorType) -> [UInt8] {
        var out = ByteWriter()
        switch type {
        case .f32: for i in 0..<tensor.count { out.u32(tensor[i].bitPattern) }
        case .f16: for i in 0..<tensor.count { out.u16(HalfPrecision.half(tensor[i])) }
        case .q8_0:
            for b in 0..<(tensor.count / 32) {
                var largest: Float = 0
                for j in 0..<32 { largest = max(largest, abs(tensor[32 * b + j])) }
                let d = largest / 127
                let inverse: Float = d != 0 && (1 / d).isFinite ? 1 / d : 0
                out.u16(HalfPrecision.half(d))
                for j in 0..<32 {
                    let scaled = tensor[32 * b + j] * inverse
                    let code = scaled.isFinite ? max(-127, min(127, scaled.rounded())) : 0
                    out.bytes.append(UInt8(bitPattern: Int8(code)))
                }
            }
        default: preconditionFailure("not a writable type")
        }
        return out.bytes
    }
}

/// What is wrong with a GGUF file, and where.
public struct GGUFError: LocalizedError, Equatable {
    public let path: String
    public let problem: String
    public var errorDescription: String? { "GGUF file \(path) \(problem)." }
}

/// Bounds-checked little-endian reads of a GGUF file.
private struct ByteReader {
    let bytes: [UInt8]
    let path: String
    var position = 0
    static let maximumDepth = 4

    func fail(_ problem: String) -> GGUFError { GGUFError(path: path, problem: problem) }

    mutating func take(_ count: Int, _ what: String) throws -> ArraySlice<UInt8> {
        guard count >= 0, position + count <= bytes.count else { throw fail("ends inside \(what) at byte \(position) (truncated)") }
        defer { position += count }
        return bytes[position..<(position + count)]
    }

    mutating func integer<T: FixedWidthInteger>(_ type: T.Type, _ what: String) throws -> T {
        var value: T = 0
        for (index, byte) in try take(MemoryLayout<T>.size, what).enumerated() { value |= T(truncatingIfNeeded: byte) << (8 * index) }
        return value
    }

    mutating func u32(_ what: String) throws -> UInt32 { try integer(UInt32.self, what) }
    mutating func u64(_ what: String) throws -> UInt64 { try integer(UInt64.self, what) }

    /// A count whose items take at least `minimumBytesEach`: more than the rest of the file could hold is refused.
    mutating func count(_ what: String, minimumBytesEach: Int) throws -> Int {
        let value = try u64(what)
        guard value <= UInt64((bytes.count - position) / minimumBytesEach) else { throw fail("declares \(value) for \(what), more than the file could hold (truncated, or a corrupt count)") }
        return Int(value)
    }

    mutating func string(_ what: String) throws -> String {
        let length = try u64("the length of \(what)")
        guard length <= UInt64(bytes.count - position) else { throw fail("declares \(what) of \(length) bytes, past the end of the file") }
        guard let text = String(validating: try take(Int(length), what), as: UTF8.self) else { throw fail("has \(what) that is not UTF-8") }
        return text
    }

    mutating func value(type: UInt32, key: String, depth: Int) throws -> GGUFFile.Value {
        switch type {
        case 0: return .uint8(try integer(UInt8.self, key))
        case 1: return .int8(try integer(Int8.self, key))
        case 2: return .uint16(try integer(UInt16.self, key))
        case 3: return .int16(try integer(Int16.self, key))
        case 4: return .uint32(try integer(UInt32.self, key))
        case 5: return .int32(try integer(Int32.self, key))
        case 6: return .float32(Float(bitPattern: try u32(key)))
        case 7:
            let byte = try integer(UInt8.self, key)
            guard byte <= 1 else { throw fail("has bool '\(key)' of value \(byte), not 0 or 1") }
            return .bool(byte == 1)
        case 8: return .string(try string("the string '\(key)'"))
        case 9:
            guard depth < ByteReader.maximumDepth else { throw fail("nests arrays in '\(key)' deeper than \(ByteReader.maximumDepth)") }
            let elementType = try u32("the element type of '\(key)'")
            let count = try self.count("the length of '\(key)'", minimumBytesEach: 1)
            var items: [GGUFFile.Value] = []
            items.reserveCapacity(min(count, 1 << 20))
            for _ in 0..<count { items.append(try value(type: elementType, key: key, depth: depth + 1)) }
            return .array(items)
        case 10: return .uint64(try u64(key))
        case 11: return .int64(try integer(Int64.self, key))
        case 12: return .float64(Double(bitPattern: try u64(key)))
        default: throw fail("gives '\(key)' the unknown value type \(type)")
        }
    }
}

/// Little-endian writes.
private struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func u16(_ value: UInt16) { append(value) }
    mutating func u32(_ value: UInt32) { append(value) }
    mutating func u64(_ value: UInt64) { append(value) }
    mutating func string(_ text: String) {
        u64(UInt64(text.utf8.count))
        bytes += text.utf8
    }

    /// The type code of a value (an array's elements take the first element's, u8 when empty).
    static func typeCode(_ value: GGUFFile.Value) -> UInt32 {
        switch value {
        case .uint8: return 0
        case .int8: return 1
        case .uint16: return 2
        case .int16: return 3
        case .uint32: return 4
        case .int32: return 5
        case .float32: return 6
        case .bool: return 7
        case .string: return 8
        case .array: return 9
        case .uint64: return 10
        case .int64: return 11
        case .float64: return 12
        }
    }

    mutating func value(_ value: GGUFFile.Value, withType: Bool) {
        if withType { u32(ByteWriter.typeCode(value)) }
        switch value {
        case .uint8(let v): append(v)
        case .int8(let v): append(v)
        case .uint16(let v): append(v)
        case .int16(let v): append(v)
        case .uint32(let v): append(v)
        case .int32(let v): append(v)
        case .float32(let v): append(v.bitPattern)
        case .bool(let v): append(UInt8(v ? 1 : 0))
        case .string(let v): string(v)
        case .uint64(let v): append(v)
        case .int64(let v): append(v)
        case .float64(let v): append(v.bitPattern)
        case .array(let items):
            precondition(Set(items.map(ByteWriter.typeCode)).count <= 1, "a GGUF array holds one type")
            u32(items.first.map(ByteWriter.typeCode) ?? 0)
            u64(UInt64(items.count))
            for item in items { self.value(item, withType: false) }
        }
    }
}
