import Foundation
import TopiaryTensor

/// The safetensors format (Hugging Face): an 8-byte little-endian header length N, N bytes of
/// UTF-8 JSON — `{"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, …,
/// "__metadata__": {"key": "value"}}`, padded with spaces — then the byte buffer the offsets
/// index (relative to its start), each tensor row-major, little-endian.
///
/// Reading enforces the format's rules before touching any tensor: the header is at most
/// 100 MB, valid JSON with no duplicate name; every entry has a known dtype, a shape of
/// non-negative sizes whose byte count equals end − begin, offsets within the buffer; and the
/// entries, sorted by offset, cover the buffer exactly — no overlap, no hole, nothing after.
/// Any violation is a `SafetensorsError` naming the file and the rule; nothing crashes.
public struct SafetensorsFile: Sendable {
    public enum DType: String, CaseIterable, Sendable {
        case f32 = "F32", f16 = "F16", bf16 = "BF16"
        public var bytes: Int { self == .f32 ? 4 : 2 }
    }

    public struct Entry: Sendable, Equatable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        /// Byte range within the buffer.
        public let range: Range<Int>
        public var count: Int { shape.reduce(1, *) }
    }

    public static let maximumHeaderBytes = 100_000_000
    /// Entries in file order (by offset).
    public let entries: [Entry]
    public let metadata: [String: String]
    private let buffer: Data

    public func entry(_ name: String) -> Entry? { entries.first { $0.name == name } }

    public static func read(path: String) throws -> SafetensorsFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SafetensorsError(path: path, problem: "cannot be read (missing or not a file)")
        }
        return try SafetensorsFile(data: data, path: path)
    }

    public init(data: Data, path: String) throws {
        func fail(_ problem: String) -> SafetensorsError { SafetensorsError(path: path, problem: problem) }
        guard data.count >= 8 else { throw fail("is \(data.count) bytes, shorter than the 8-byte header length: not a safetensors file") }
        let bytes = [UInt8](data)
        var length: UInt64 = 0
        for i in (0..<8).reversed() { length = length << 8 | UInt64(bytes[i]) }
        guard length <= UInt64(SafetensorsFile.maximumHeaderBytes) else {
            throw fail("declares a header of \(length) bytes, over the 100 MB limit: not a safetensors file, or a corrupt one")
        }
        guard 8 + Int(length) <= bytes.count else {
            throw fail("declares a header of \(length) bytes but holds only \(bytes.count - 8) after the length: the file is truncated")
        }
        let headerBytes = Array(bytes[8..<(8 + Int(length))])
        guard headerBytes.first == UInt8(ascii: "{") else { throw fail("has a header that does not start with '{'") }
        let header: HeaderJSON
        do { header = try HeaderJSON.parse(headerBytes) } catch let problem as HeaderJSON.Problem {
            throw fail("has a header that is not valid JSON: \(problem.message) at byte \(8 + problem.offset)")
        }
        guard case .object(let members) = header else { throw fail("has a header that is not a JSON object") }
        var seen = Set<String>()
        var entries: [Entry] = []
        var metadata: [String: String] = [:]
        let bufferSize = bytes.count - 8 - Int(length)
        for (name, value) in members {
            guard seen.insert(name).inserted else { throw fail("names '\(name)' twice in its header") }
            if name == "__metadata__" {
                guard case .object(let pairs) = value else { throw fail("has __metadata__ that is not an object of strings") }
                for (key, item) in pairs {
                    guard case .string(let text) = item else { throw fail("has __metadata__ '\(key)' that is not a string") }
                    guard metadata[key] == nil else { throw fail("names __metadata__ '\(key)' twice") }
                    metadata[key] = text
                }
                continue
            }
            entries.append(try SafetensorsFile.entry(name, value, bufferSize: bufferSize, fail: fail))
        }
        entries.sort { ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound) }
        var next = 0
        for entry in entries {
            if entry.range.lowerBound > next { throw fail("leaves bytes \(next)..<\(entry.range.lowerBound) of its buffer to no tensor (before '\(entry.name)')") }
            if entry.range.lowerBound < next { throw fail("has tensor '\(entry.name)' overlapping the one before it") }
            next = entry.range.upperBound
        }
        guard next == bufferSize else { throw fail("has \(bufferSize - next) bytes after its last tensor that no tensor covers") }
        self.entries = entries
        self.metadata = metadata
        buffer = data.subdata(in: (8 + Int(length))..<data.count)
    }

    private static func entry(_ name: String, _ value: HeaderJSON, bufferSize: Int, fail: (String) -> SafetensorsError) throws -> Entry {
        guard case .object(let fields) = value else { throw fail("has entry '\(name)' that is not an object") }
        var dtype: DType?, shape: [Int]?, offsets: [Int]?
        var named = Set<String>()
        for (key, field) in fields {
            guard named.insert(key).inserted else { throw fail("repeats the field '\(key)' of entry '\(name)'") }
            switch key {
            case "dtype":
                guard case .string(let text) = field else { throw fail("has a dtype of '\(name)' that is not a string") }
                guard let known = DType(rawValue: text) else {
                    throw fail("stores '\(name)' as \(text); Topiary reads \(DType.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                dtype = known
            case "shape": shape = try integers(field, "the shape of '\(name)'", fail: fail)
            case "data_offsets": offsets = try integers(field, "the data_offsets of '\(name)'", fail: fail)
            default: throw fail("has an unknown field '\(key)' in entry '\(name)'")
            }
        }
        guard let dtype, let shape, let offsets else { throw fail("has entry '\(name)' without dtype, shape and data_offsets") }
        guard offsets.count == 2, offsets[0] <= offsets[1], offsets[1] <= bufferSize else {
            throw fail("has data_offsets \(offsets) for '\(name)' outside its \(bufferSize)-byte buffer")
        }
        var elements = 1
        for size in shape {
            let (product, overflow) = elements.multipliedReportingOverflow(by: size)
            guard !overflow, product <= bufferSize else { throw fail("has a shape \(shape) for '\(name)' larger than the file") }
            elements = product
        }
        guard elements * dtype.bytes == offsets[1] - offsets[0] else {
            throw fail("gives '\(name)' shape \(shape) of \(dtype.rawValue) (\(elements * dtype.bytes) bytes) but \(offsets[1] - offsets[0]) bytes of data")
        }
        return Entry(name: name, dtype: dtype, shape: shape, range: offsets[0]..<offsets[1])
    }

    private static func integers(_ value: HeaderJSON, _ what: String, fail: (String) -> SafetensorsError) throws -> [Int] {
        guard case .array(let items) = value, items.count <= 64 else { throw fail("has \(what) that is not a list of integers") }
        return try items.map { item in
            guard case .number(let text) = item, let number = Int(text), number >= 0 else { throw fail("has \(what) that is not a list of integers ≥ 0") }
            return number
        }
    }

    /// The tensor `name` as Float32 (F16 and BF16 widened exactly).
    public func tensor(_ name: String) -> Tensor? {
        guard let entry = entry(name) else { return nil }
        let tensor = Tensor(zeros: entry.shape)
        guard entry.count > 0 else { return tensor }
        buffer.withUnsafeBytes { raw in
            let base = raw.baseAddress!.advanced(by: entry.range.lowerBound)
            for i in 0..<entry.count {
                switch entry.dtype {
                case .f32: tensor[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                case .f16: tensor[i] = HalfPrecision.float(half: UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                case .bf16: tensor[i] = Float(bitPattern: UInt32(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
                }
            }
        }
        return tensor
    }

    /// A safetensors file of `tensors` (names unique) stored as `dtype`, the header padded with
    /// spaces to a multiple of 8 bytes.
    public static func encode(_ tensors: [(name: String, tensor: Tensor)], dtype: DType, metadata: [String: String] = [:]) -> Data {
        precondition(Set(tensors.map(\.name)).count == tensors.count, "safetensors names must be unique")
        var header = "{"
        var offset = 0
        var parts: [String] = []
        if !metadata.isEmpty {
            parts.append("\"__metadata__\":{" + metadata.keys.sorted().map { "\(quoted($0)):\(quoted(metadata[$0]!))" }.joined(separator: ",") + "}")
        }
        for (name, tensor) in tensors {
            let size = tensor.count * dtype.bytes
            parts.append("\(quoted(name)):{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[\(tensor.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + size)]}")
            offset += size
        }
        header += parts.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        var data = Data()
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: headerBytes)
        data.reserveCapacity(data.count + offset)
        for (_, tensor) in tensors {
            for i in 0..<tensor.count {
                switch dtype {
                case .f32: withUnsafeBytes(of: tensor[i].bitPattern.littleEndian) { data.append(contentsOf: $0) }
                case .f16: withUnsafeBytes(of: HalfPrecision.half(tensor[i]).littleEndian) { data.append(contentsOf: $0) }
                case .bf16: withUnsafeBytes(of: HalfPrecision.bfloat16(tensor[i]).littleEndian) { data.append(contentsOf: $0) }
                }
            }
        }
        return data
    }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if scalar.value < 0x20 { result += String(format: "\\u%04x", scalar.value) } else { result.unicodeScalars.append(scalar) }
            }
        }
        return result + "\""
    }
}

/// What is wrong with a safetensors file, and where.
public struct SafetensorsError: LocalizedError, Equatable {
    public let path: String
    public let problem: String
    public var errorDescription: String? { "safetensors file \(path) \(problem)." }
}

/// IEEE binary16 and bfloat16 conversions, rounding to nearest even.
enum HalfPrecision {
    static func float(half bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = Int((bits >> 10) & 0x1F), fraction = UInt32(bits & 0x3FF)
        switch exponent {
        case 0:
            // Zero or subnormal: fraction · 2⁻²⁴.
            let magnitude = Float(fraction) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign != 0 ? -magnitude : magnitude
        case 31: return Float(bitPattern: sign | 0x7F80_0000 | fraction << 13)
        default: return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | fraction << 13)
        }
    }

    static func half(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        if value.isNaN { return sign | 0x7E00 }
        let magnitude = abs(value)
        if magnitude >= 65520 { return sign | 0x7C00 }   // rounds to infinity
        if magnitude < Float(sign: .plus, exponent: -14, significand: 1) {
            // Subnormal half: round magnitude / 2⁻²⁴ to the nearest even integer.
            let scaled = magnitude * Float(sign: .plus, exponent: 24, significand: 1)
            return sign | UInt16(scaled.rounded(.toNearestOrEven))
        }
        let exponent = Int((bits >> 23) & 0xFF) - 127 + 15
        var fraction = bits & 0x7F_FFFF
        var result = UInt32(exponent) << 10 | fraction >> 13
        fraction &= 0x1FFF
        if fraction > 0x1000 || (fraction == 0x1000 && result & 1 == 1) { result += 1 }   // a carry into the exponent is right
        return sign | UInt16(result)
    }

    static func bfloat16(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(bits >> 16) | 0x0040 }
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(rounded >> 16)
    }
}
