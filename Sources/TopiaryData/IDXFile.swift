import CZlib
import Foundation

/// An IDX array (LeCun's MNIST format): magic 00 00 <type> <rank>, `rank` big-endian UInt32
/// dimensions, then the elements. Only unsigned-byte elements (type 0x08) are supported.
/// Files are read through zlib, so `.gz` and uncompressed files both work.
///
/// The header is read first and the payload only up to what it declares, so a damaged or
/// hostile file (a gzip bomb, a header declaring terabytes) costs at most the declared size,
/// and a declared size past `maximumPayloadBytes` is refused before anything is allocated.
public struct IDXFile: Sendable {
    public let dimensions: [Int]
    public let bytes: [UInt8]

    /// The largest payload read: 4 GiB (Fashion-MNIST's training images are 47 MB).
    public static let maximumPayloadBytes = 1 << 32

    /// Reads and validates an IDX file; throws `DataError` naming the file and the problem.
    public init(contentsOf path: String, expectedRank: Int? = nil) throws {
        let stream = try GzipStream(path: path)
        let magic = try stream.read(upTo: 4)
        guard magic.count == 4, magic[0] == 0, magic[1] == 0 else { throw DataError.badMagic(path: path, found: magic) }
        guard magic[2] == 0x08 else { throw DataError.unsupportedElementType(path: path, typeCode: magic[2]) }
        let rank = Int(magic[3])
        guard rank >= 1 else { throw DataError.badMagic(path: path, found: magic) }
        if let expectedRank, rank != expectedRank {
            throw DataError.wrongRank(path: path, expected: expectedRank, found: rank)
        }
        let header = try stream.read(upTo: 4 * rank)
        guard header.count == 4 * rank else {
            throw DataError.truncated(path: path, expectedBytes: 4 + 4 * rank, foundBytes: 4 + header.count)
        }
        let dimensions = (0..<rank).map { d in
            header[4 * d ..< 4 * d + 4].reduce(0) { $0 << 8 | Int($1) }
        }
        let (expected, overflow) = dimensions.reduce((1, false)) { acc, d in
            let (product, o) = acc.0.multipliedReportingOverflow(by: d)
            return (product, acc.1 || o)
        }
        if overflow || expected > IDXFile.maximumPayloadBytes {
            throw DataError.tooLarge(path: path, dimensions: dimensions, limitBytes: IDXFile.maximumPayloadBytes)
        }
        let payload = try stream.read(upTo: expected)
        if payload.count < expected {
            throw DataError.truncated(path: path, expectedBytes: expected, foundBytes: payload.count)
        }
        let trailing = try stream.countRemaining()
        if trailing > 0 {
            throw DataError.trailingBytes(path: path, expectedBytes: expected, foundBytes: expected + trailing)
        }
        self.dimensions = dimensions
        self.bytes = payload
    }
}

/// A file read through zlib (gzip or plain), with every failure a `DataError` naming it.
final class GzipStream {
    private let path: String
    private let file: gzFile

    init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw DataError.fileMissing(path: path, hint: "Check the path.")
        }
        guard let file = gzopen(path, "rb") else {
            throw DataError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        self.path = path
        self.file = file
    }

    deinit { gzclose(file) }

    /// Up to `count` bytes; fewer only at the end of the stream. Memory grows with what is
    /// actually read (16 MiB at a time), not with `count`: a header that declares gigabytes
    /// in front of a short file costs nothing.
    func read(upTo count: Int) throws -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: min(count, 1 << 24))
        while result.count < count {
            let wanted = UInt32(min(count - result.count, chunk.count))
            let read = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress!, wanted) }
            try check(read)
            if read == 0 { break }
            result += chunk[0..<Int(read)]
        }
        return result
    }

    /// Bytes left before the end (read and discarded in chunks: memory stays bounded).
    func countRemaining() throws -> Int {
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var total = 0
        while true {
            let read = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            try check(read)
            if read == 0 { return total }
            total += Int(read)
        }
    }

    /// A negative count is a decompression error; at the end, Z_BUF_ERROR means the gzip
    /// stream stopped in the middle (a cut-off download).
    private func check(_ read: Int32) throws {
        var code: Int32 = 0
        if read < 0 {
            let message = String(cString: gzerror(file, &code))
            throw DataError.unreadable(path: path, reason: "decompression failed (\(message))")
        }
        if read == 0 {
            _ = gzerror(file, &code)
            if code == Z_BUF_ERROR { throw DataError.unreadable(path: path, reason: "the gzip stream ends early (file truncated)") }
        }
    }
}
