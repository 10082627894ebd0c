import CZlib
import Foundation

/// Why a whole text file could not be read. Each text reader turns this into its own error
/// type, so that the message speaks of the format the user pointed at.
enum WholeFileFailure: Error, Equatable {
    case missing
    case unreadable(reason: String)
    case tooLarge(limitBytes: Int)
}

/// Every byte of the file at `path`, read through zlib so that a gzip-compressed file and a
/// plain one both work (gzread passes a file without the gzip magic through unchanged).
///
/// `maximumBytes` counts decompressed bytes and is checked while reading, so a gzip bomb or
/// a runaway file costs at most the limit plus one chunk of memory.
func readWholeFile(_ path: String, maximumBytes: Int) throws(WholeFileFailure) -> [UInt8] {
    precondition(maximumBytes >= 0, "maximumBytes must be >= 0, but got \(maximumBytes)")
    guard FileManager.default.fileExists(atPath: path) else { throw .missing }
    guard let file = gzopen(path, "rb") else { throw .unreadable(reason: String(cString: strerror(errno))) }
    defer { gzclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let read = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
        var code: Int32 = 0
        if read < 0 {
            let message = String(cString: gzerror(file, &code))
            // Z_ERRNO: the system call failed (a folder, an I/O error); zlib's message then
            // repeats the path, strerror does not.
            throw .unreadable(reason: code == Z_ERRNO ? String(cString: strerror(errno)) : "decompression failed (\(message))")
        }
        if read == 0 {
            // At the end, Z_BUF_ERROR means the gzip stream stopped in the middle.
            _ = gzerror(file, &code)
            if code == Z_BUF_ERROR { throw .unreadable(reason: "the gzip stream ends early (file truncated)") }
            return bytes
        }
        if bytes.count + Int(read) > maximumBytes { throw .tooLarge(limitBytes: maximumBytes) }
        bytes += chunk[0..<Int(read)]
    }
}

/// The 1-based line holding the first byte sequence that is not UTF-8.
struct InvalidUTF8: Error { let line: Int }

/// `bytes` as text, a leading UTF-8 byte-order mark dropped; throws the line of the first
/// invalid byte sequence (lines end at LF).
func utf8Text(_ bytes: [UInt8]) throws(InvalidUTF8) -> String {
    let body = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? bytes[3...] : bytes[...]
    if let text = String(validating: body, as: UTF8.self) { return text }
    var line = 1
    for lineBytes in body.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
        if String(validating: lineBytes, as: UTF8.self) == nil { throw InvalidUTF8(line: line) }
        line += 1
    }
    throw InvalidUTF8(line: line)   // not reached: some line holds the invalid sequence
}
