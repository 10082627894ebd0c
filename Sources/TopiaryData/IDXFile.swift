import CZlib
import Foundation

/// An IDX array (LeCun's MNIST format): magic 00 00 <type> <rank>, `rank` big-endian UInt32
/// dimensions, then the elements. Only unsigned-byte elements (type 0x08) are supported.
/// Files are read through zlib, so `.gz` and uncompressed files both work.
public struct IDXFile: Sendable {
    public let dimensions: [Int]
    public let bytes: [UInt8]

    /// Reads and validates an IDX file; throws `DataError` naming the file and the problem.
    public init(contentsOf path: String, expectedRank: Int? = nil) throws {
        let raw = try IDXFile.readDecompressed(path)
        guard raw.count >= 4, raw[0] == 0, raw[1] == 0 else {
            throw DataError.badMagic(path: path, found: Array(raw.prefix(4)))
        }
        guard raw[2] == 0x08 else { throw DataError.unsupportedElementType(path: path, typeCode: raw[2]) }
        let rank = Int(raw[3])
        guard rank >= 1 else { throw DataError.badMagic(path: path, found: Array(raw.prefix(4))) }
        if let expectedRank, rank != expectedRank {
            throw DataError.wrongRank(path: path, expected: expectedRank, found: rank)
        }
        let headerBytes = 4 + 4 * rank
        guard raw.count >= headerBytes else {
            throw DataError.truncated(path: path, expectedBytes: headerBytes, foundBytes: raw.count)
        }
        var dimensions: [Int] = []
        for d in 0..<rank {
            let at = 4 + 4 * d
            dimensions.append(Int(raw[at]) << 24 | Int(raw[at + 1]) << 16 | Int(raw[at + 2]) << 8 | Int(raw[at + 3]))
        }
        let (expected, overflow) = dimensions.reduce((1, false)) { acc, d in
            let (product, o) = acc.0.multipliedReportingOverflow(by: d)
            return (product, acc.1 || o)
        }
        let payload = raw.count - headerBytes
        if overflow || payload < expected {
            throw DataError.truncated(path: path, expectedBytes: overflow ? Int.max : expected, foundBytes: payload)
        }
        if payload > expected {
            throw DataError.trailingBytes(path: path, expectedBytes: expected, foundBytes: payload)
        }
        self.dimensions = dimensions
        self.bytes = Array(raw[headerBytes...])
    }

    /// The whole file, decompressed when it is gzip (zlib passes plain files through).
    static func readDecompressed(_ path: String) throws -> [UInt8] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw DataError.fileMissing(path: path, hint: "Check the path.")
        }
        guard let file = gzopen(path, "rb") else {
            throw DataError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let read = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            if read < 0 {
                var code: Int32 = 0
                let message = String(cString: gzerror(file, &code))
                gzclose(file)
                throw DataError.unreadable(path: path, reason: "decompression failed (\(message))")
            }
            if read == 0 { break }
            result.append(contentsOf: chunk[0..<Int(read)])
        }
        // Z_BUF_ERROR on close: the gzip stream ended in the middle (a cut-off download).
        let closeStatus = gzclose_r(file)
        if closeStatus == Z_BUF_ERROR {
            throw DataError.unreadable(path: path, reason: "the gzip stream ends early (file truncated)")
        }
        return result
    }
}
