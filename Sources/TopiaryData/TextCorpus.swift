import Foundation
import TopiaryTensor

/// The bytes of a text corpus: byte-level language modelling reads UTF-8 bytes as tokens
/// (vocabulary 256), so any text and any later domain share one vocabulary.
///
/// Named corpora come from Debian packages (the project's set-up installs them):
/// - `bible-kjv`: what `bible "Gen1:1-Rev22:21"` prints (package bible-kjv), 4,298,239 bytes;
/// - `jargon`: /usr/share/doc/jargon-text/jargon.txt.gz decompressed (jargon-text), 1,681,817 bytes;
/// - `fortunes`: the fortune files of /usr/share/games/fortunes in name order (fortunes).
/// Or files by path or glob (`*` and `?` in the last path component), plain or gzip, joined
/// in sorted order.
public struct TextCorpus: Sendable {
    public let name: String
    public let bytes: [UInt8]

    public static let namedCorpora = ["bible-kjv", "jargon", "fortunes"]
    /// Larger corpora are refused (a wrong path into a disk image must not fill memory).
    public static let maximumBytes = 1 << 30

    public init(name: String, bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
    }

    /// A corpus by its name (`namedCorpora`) or as files (a path or glob per entry).
    public static func load(_ source: String) throws -> TextCorpus {
        switch source {
        case "bible-kjv": return TextCorpus(name: source, bytes: try commandOutput("/usr/bin/bible", ["Gen1:1-Rev22:21"], package: "bible-kjv"))
        case "jargon": return TextCorpus(name: source, bytes: try file("/usr/share/doc/jargon-text/jargon.txt.gz", package: "jargon-text"))
        case "fortunes":
            let folder = "/usr/share/games/fortunes"
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
                .filter { !$0.contains(".") }.sorted()
            guard !names.isEmpty else { throw TextCorpusError.notInstalled(corpus: source, package: "fortunes") }
            return TextCorpus(name: source, bytes: try names.flatMap { try file(folder + "/" + $0, package: "fortunes") })
        default:
            let paths = try expand(source)
            return TextCorpus(name: source, bytes: try paths.flatMap { try file($0, package: nil) })
        }
    }

    /// The first ⌊fraction · count⌋ bytes and the rest: contiguous, so no held-out window
    /// shares text with a training window (the W3 reference's split).
    public func split(trainFraction: Double) -> (train: ArraySlice<UInt8>, heldOut: ArraySlice<UInt8>) {
        precondition(trainFraction > 0 && trainFraction < 1, "the training fraction must lie in (0, 1), but got \(trainFraction)")
        let cut = Int(Double(bytes.count) * trainFraction)
        return (bytes[..<cut], bytes[cut...])
    }

    static func file(_ path: String, package: String?) throws -> [UInt8] {
        do {
            return try readWholeFile(path, maximumBytes: maximumBytes)
        } catch .missing {
            if let package { throw TextCorpusError.notInstalled(corpus: path, package: package) }
            throw TextCorpusError.missing(path: path)
        } catch .unreadable(let reason) {
            throw TextCorpusError.unreadable(path: path, reason: reason)
        } catch .tooLarge(let limit) {
            throw TextCorpusError.tooLarge(path: path, limitBytes: limit)
        }
    }

    /// Paths matching `pattern` (a glob in its last component), sorted; a plain path as is.
    static func expand(_ pattern: String) throws -> [String] {
        let url = URL(fileURLWithPath: pattern)
        let last = url.lastPathComponent
        guard last.contains("*") || last.contains("?") else { return [pattern] }
        let folder = url.deletingLastPathComponent().path
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        let matches = names.filter { fnmatch(last, $0, 0) == 0 }.sorted().map { folder + "/" + $0 }
        guard !matches.isEmpty else { throw TextCorpusError.noMatch(pattern: pattern) }
        return matches
    }

    static func commandOutput(_ executable: String, _ arguments: [String], package: String) throws -> [UInt8] {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw TextCorpusError.notInstalled(corpus: executable, package: package)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, !data.isEmpty else {
            throw TextCorpusError.unreadable(path: ([executable] + arguments).joined(separator: " "),
                                             reason: "exit status \(process.terminationStatus)")
        }
        return [UInt8](data)
    }
}

/// Windows of a token sequence (bytes, or a tokenizer's ids) as a next-token data set:
/// inputs (N, T) are tokens t ..< t+T of each window, targets (N, T) the tokens one further;
/// token ids are held as floats (exact below 2²⁴), `classCount` the vocabulary.
public enum TextWindows {
    /// `count` windows at offsets drawn uniformly from every start that leaves T + 1 tokens
    /// (what the reference's `torch.randint(len - T - 1)` draws), from `generator`.
    public static func random<Tokens: RandomAccessCollection>(_ tokens: Tokens, count: Int, length: Int, classCount: Int = 256,
                                                              generator: inout SeededGenerator) -> Dataset
        where Tokens.Element: BinaryInteger, Tokens.Index == Int {
        precondition(tokens.count > length + 1, "a window of \(length) + 1 tokens needs more than \(tokens.count) tokens")
        let offsets = (0..<count).map { _ in generator.nextInt(below: tokens.count - length - 1) }
        return windows(tokens, offsets: offsets, length: length, classCount: classCount)
    }

    /// `count` consecutive non-overlapping windows at offsets first·T, (first + 1)·T, … (the
    /// reference evaluates the first 256 of its validation split).
    public static func consecutive<Tokens: RandomAccessCollection>(_ tokens: Tokens, first: Int = 0, count: Int, length: Int,
                                                                   classCount: Int = 256) -> Dataset
        where Tokens.Element: BinaryInteger, Tokens.Index == Int {
        windows(tokens, offsets: (first..<(first + count)).map { $0 * length }, length: length, classCount: classCount)
    }

    /// How many consecutive windows of `length` (+ 1 target token) fit.
    public static func available<Tokens: Collection>(_ tokens: Tokens, length: Int) -> Int { max(0, (tokens.count - 1) / length) }

    static func windows<Tokens: RandomAccessCollection>(_ tokens: Tokens, offsets: [Int], length: Int, classCount: Int) -> Dataset
        where Tokens.Element: BinaryInteger, Tokens.Index == Int {
        let inputs = Tensor(zeros: [offsets.count, length]), targets = Tensor(zeros: [offsets.count, length])
        let base = tokens.startIndex
        for (row, offset) in offsets.enumerated() {
            precondition(offset >= 0 && offset + length < tokens.count, "window at \(offset) runs past \(tokens.count) tokens")
            for t in 0..<length {
                inputs[row * length + t] = Float(tokens[base + offset + t])
                targets[row * length + t] = Float(tokens[base + offset + t + 1])
            }
        }
        return Dataset(inputs: inputs, targets: targets, classCount: classCount)
    }
}

/// A text corpus that cannot be read, and what to do.
public enum TextCorpusError: Error, LocalizedError, Equatable {
    case notInstalled(corpus: String, package: String)
    case missing(path: String)
    case noMatch(pattern: String)
    case unreadable(path: String, reason: String)
    case tooLarge(path: String, limitBytes: Int)
    case tooShort(corpus: String, bytes: Int, needed: Int)

    public var errorDescription: String? {
        switch self {
        case .notInstalled(let corpus, let package):
            return "text corpus \(corpus) is not installed. Install the Debian package \(package) (make run and make test do)."
        case .missing(let path): return "text file \(path) does not exist. Check the path in data.train."
        case .noMatch(let pattern): return "no file matches \(pattern). Check the folder and the pattern in data.train."
        case .unreadable(let path, let reason): return "cannot read text from \(path): \(reason)."
        case .tooLarge(let path, let limit): return "text file \(path) holds more than \(limit) bytes. Use a smaller corpus."
        case .tooShort(let corpus, let bytes, let needed):
            return "text corpus \(corpus) has \(bytes) bytes in a split that needs at least \(needed). Use more text or a shorter context."
        }
    }
}
