import CZlib
import Foundation
import TopiaryReport
import TopiaryTensor

/// A binary checkpoint: named tensors (name, shape, dtype — one per parameter, see
/// `CheckpointLayout`) plus a JSON header describing them and the run's progress, sealed
/// with a CRC-32.
///
///     offset 0   8 bytes  magic "TPRYCKPT"
///            8   UInt32   format version (little-endian)
///           12   UInt32   header length H
///           16   H bytes  header (JSON): sequence, label, progress, tensors' names, shapes, dtypes
///       16 + H   payload  every tensor's values, little-endian, row-major, in header order
///          end   UInt32   CRC-32 of every byte before it
///
/// The only dtype so far is "F32" (safetensors' name for Float32); tensors are read with one
/// copy each, not decoded value by value.
///
/// Reading validates all of it and names the problem: a foreign file, a newer format, a
/// truncated or over-long file, a checksum mismatch.
public struct Checkpoint: Sendable {
    public static let magic = Array("TPRYCKPT".utf8)
    /// 2: one tensor per parameter, with a dtype (1 held the flat buffers "values" and "masks").
    public static let formatVersion: UInt32 = 2
    public static let float32 = "F32"

    public struct TensorEntry: Codable, Sendable, Equatable {
        public var name: String
        public var shape: [Int]
        public var dtype: String
    }

    public struct Header: Codable, Sendable {
        public var sequence: Int
        public var label: String
        public var progress: RunProgress
        public var tensors: [TensorEntry]

        /// Bytes of the payload the tensor list declares; a negative dimension, a repeated
        /// name or a size that overflows is a corrupted header, not a crash.
        func payloadBytes(path: String) throws -> Int {
            var total = 0, names = Set<String>()
            for entry in tensors {
                guard entry.dtype == Checkpoint.float32 else {
                    throw CheckpointError.corrupted(path: path, detail: "tensor \(entry.name) has dtype \(entry.dtype); this Topiary reads \(Checkpoint.float32)")
                }
                guard names.insert(entry.name).inserted else {
                    throw CheckpointError.corrupted(path: path, detail: "tensor \(entry.name) is listed twice")
                }
                var count = 4
                for dimension in entry.shape {
                    let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                    guard dimension >= 0, !overflow else {
                        throw CheckpointError.corrupted(path: path, detail: "tensor \(entry.name) has an impossible shape \(entry.shape)")
                    }
                    count = product
                }
                let (sum, overflow) = total.addingReportingOverflow(count)
                guard !overflow, sum <= 1 << 40 else { throw CheckpointError.corrupted(path: path, detail: "its tensors declare more than 1 TiB") }
                total = sum
            }
            return total
        }
    }

    public var header: Header
    public var tensors: [String: Tensor]

    public init(sequence: Int, label: String, progress: RunProgress, tensors: [(String, Tensor)]) {
        header = Header(sequence: sequence, label: label, progress: progress,
                        tensors: tensors.map { TensorEntry(name: $0.0, shape: $0.1.shape, dtype: Checkpoint.float32) })
        self.tensors = Dictionary(uniqueKeysWithValues: tensors.map { ($0.0, $0.1.copy()) })
    }

    public func encoded() throws -> Data {
        let headerData = try JSONCoding.encoder(pretty: false).encode(header)
        var data = Data(Checkpoint.magic)
        append(Checkpoint.formatVersion, to: &data)
        append(UInt32(headerData.count), to: &data)
        data.append(headerData)
        for entry in header.tensors {
            let tensor = tensors[entry.name]!
            precondition(tensor.shape == entry.shape, "\(entry.name): \(tensor.shape) != \(entry.shape)")
            // Little-endian, as this machine stores Float32: one copy.
            data.append(UnsafeBufferPointer(start: UnsafeRawPointer(tensor.pointer).assumingMemoryBound(to: UInt8.self), count: 4 * tensor.count))
        }
        append(Checkpoint.crc32(data), to: &data)
        return data
    }

    /// Writes the checkpoint atomically (temporary file, then rename).
    public func write(to path: String) throws {
        try AtomicFile.write(try encoded(), to: path)
    }

    public static func read(from path: String) throws -> Checkpoint {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointError.unreadable(path: path)
        }
        return try decode(data, path: path)
    }

    /// Only the header (label, progress, tensor shapes), without reading the tensors: what
    /// finding the checkpoint of a stage needs.
    public static func readHeader(from path: String) throws -> Header {
        guard let file = FileHandle(forReadingAtPath: path) else { throw CheckpointError.unreadable(path: path) }
        defer { try? file.close() }
        let size = Int(file.seekToEndOfFile())
        file.seek(toFileOffset: 0)
        var bytes = [UInt8](file.readData(ofLength: 16))
        if bytes.count == 16, Array(bytes[0..<8]) == magic {
            // Never more than the file holds, whatever a damaged length field says.
            bytes += file.readData(ofLength: min(Int(readUInt32(bytes, at: 12)) + 4, size - 16))
        }
        return try parseHeader(bytes, path: path).header
    }

    /// The header at the start of `bytes` (magic, version, length, JSON) and its length;
    /// `bytes` must reach at least 4 bytes past it.
    private static func parseHeader(_ bytes: [UInt8], path: String) throws -> (header: Header, length: Int) {
        guard bytes.count >= 8, Array(bytes[0..<8]) == magic else { throw CheckpointError.foreign(path: path) }
        guard bytes.count >= 20 else { throw CheckpointError.truncated(path: path, expected: 20, found: bytes.count) }
        let version = readUInt32(bytes, at: 8)
        guard version == formatVersion else { throw CheckpointError.unsupportedVersion(path: path, version: version) }
        let headerLength = Int(readUInt32(bytes, at: 12))
        guard bytes.count >= 16 + headerLength + 4 else {
            throw CheckpointError.truncated(path: path, expected: 16 + headerLength + 4, found: bytes.count)
        }
        do {
            return (try JSONCoding.decoder.decode(Header.self, from: Data(bytes[16..<(16 + headerLength)])), headerLength)
        } catch {
            throw CheckpointError.corrupted(path: path, detail: "its header does not parse")
        }
    }

    public static func decode(_ data: Data, path: String) throws -> Checkpoint {
        let bytes = [UInt8](data)
        let (header, headerLength) = try parseHeader(bytes, path: path)
        let payloadBytes = try header.payloadBytes(path: path)
        let expected = 16 + headerLength + payloadBytes + 4
        guard bytes.count >= expected else { throw CheckpointError.truncated(path: path, expected: expected, found: bytes.count) }
        guard bytes.count == expected else { throw CheckpointError.corrupted(path: path, detail: "\(bytes.count - expected) bytes past its end") }
        let stored = readUInt32(bytes, at: expected - 4)
        let computed = bytes.withUnsafeBufferPointer { crc32Bytes($0.baseAddress!, expected - 4) }
        guard stored == computed else { throw CheckpointError.corrupted(path: path, detail: "checksum mismatch") }
        if let problem = header.progress.problem { throw CheckpointError.corrupted(path: path, detail: problem) }
        var tensors: [String: Tensor] = [:]
        var offset = 16 + headerLength
        for entry in header.tensors {
            let tensor = Tensor(zeros: entry.shape)
            // The payload is little-endian Float32, as this machine stores it: one copy.
            bytes.withUnsafeBytes { raw in
                UnsafeMutableRawPointer(tensor.pointer).copyMemory(from: raw.baseAddress! + offset, byteCount: 4 * tensor.count)
            }
            offset += 4 * tensor.count
            tensors[entry.name] = tensor
        }
        return Checkpoint(header: header, tensors: tensors)
    }

    private init(header: Header, tensors: [String: Tensor]) {
        self.header = header
        self.tensors = tensors
    }

    static func crc32(_ data: Data) -> UInt32 {
        data.withUnsafeBytes { crc32Bytes($0.baseAddress!.assumingMemoryBound(to: UInt8.self), data.count) }
    }
}

private func crc32Bytes(_ pointer: UnsafePointer<UInt8>, _ count: Int) -> UInt32 {
    UInt32(CZlib.crc32(0, pointer, uInt(count)))
}

private func append(_ value: UInt32, to data: inout Data) {
    withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) }
}

private func readUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
}

public enum CheckpointError: Error, LocalizedError, Equatable {
    case unreadable(path: String)
    case foreign(path: String)
    case unsupportedVersion(path: String, version: UInt32)
    case truncated(path: String, expected: Int, found: Int)
    case corrupted(path: String, detail: String)
    case mismatch(path: String, detail: String)
    case nothingToResume(directory: String)
    case notARunFolder(directory: String)

    public var errorDescription: String? {
        switch self {
        case .unreadable(let path):
            return "cannot read checkpoint \(path)."
        case .foreign(let path):
            return "\(path) is not a Topiary checkpoint (its first bytes are not TPRYCKPT)."
        case .unsupportedVersion(let path, let version):
            return "\(path) has checkpoint format \(version); this Topiary reads format \(Checkpoint.formatVersion). Use the Topiary version that wrote it."
        case .truncated(let path, let expected, let found):
            return "checkpoint \(path) is truncated: \(found) of \(expected) bytes. Delete it to resume from the previous checkpoint."
        case .corrupted(let path, let detail):
            return "checkpoint \(path) is corrupted (\(detail)). Delete it to resume from the previous checkpoint."
        case .mismatch(let path, let detail):
            return "checkpoint \(path) does not belong to this run: \(detail)."
        case .nothingToResume(let directory):
            return "\(directory) has no report.json of a Topiary run to resume. Check the folder, or start a new run without --resume."
        case .notARunFolder(let directory):
            return "\(directory) is not a Topiary run folder: it has no report.json (or one that cannot be read). Name the folder a run wrote (--out), e.g. notebooks-out/<experiment>/<run>."
        }
    }
}
