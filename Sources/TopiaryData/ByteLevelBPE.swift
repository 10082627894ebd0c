import Foundation

/// Byte-level BPE (GPT-2's, and SmolLM's and most small Llama-family models'): text is split
/// into pre-tokens, each pre-token's UTF-8 bytes are written as printable characters (GPT-2's
/// byte-to-unicode table), and adjacent symbols are merged, lowest merge rank first, until no
/// listed merge applies; each final symbol is a vocabulary entry.
///
/// Pre-tokenization as SmolLM's tokenizer (llama.cpp's "smollm"): every digit alone, then
/// GPT-2's split of the rest — contractions, letters with an optional leading space, numbers,
/// other symbols, and runs of whitespace (a run followed by a word leaves its last space to it).
/// Tested against Hugging Face `tokenizers` on varied text (Tests/Fixtures/bpe_golden.json).
public struct ByteLevelBPE: Sendable {
    public let tokens: [String]
    private let ids: [String: Int]
    /// "left right" → rank (0 merges first).
    private let ranks: [String: Int]

    /// `tokens` in id order; `merges` as "left right", highest priority first (GGUF's
    /// tokenizer.ggml.tokens and tokenizer.ggml.merges). A merge that is not two symbols
    /// separated by one space is refused. Special tokens in text (`<|im_start|>`) are not
    /// recognised: they are encoded as their bytes.
    public init(tokens: [String], merges: [String]) throws {
        self.tokens = tokens
        var ids: [String: Int] = [:]
        for (index, token) in tokens.enumerated() where ids[token] == nil { ids[token] = index }
        self.ids = ids
        var ranks: [String: Int] = [:]
        for (rank, merge) in merges.enumerated() {
            let parts = merge.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw DataError.unreadable(path: "tokenizer merges", reason: "merge \(rank) is \"\(merge)\", not two symbols separated by one space")
            }
            if ranks[merge] == nil { ranks[merge] = rank }
        }
        self.ranks = ranks
    }

    /// GPT-2's byte → character table: printable Latin-1 bytes stand for themselves, the rest
    /// map to U+0100 onwards in byte order.
    static let byteCharacters: [Character] = {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var table = [Character](repeating: " ", count: 256)
        var next = 256
        for byte in 0..<256 {
            if printable.contains(byte) {
                table[byte] = Character(UnicodeScalar(byte)!)
            } else {
                table[byte] = Character(UnicodeScalar(next)!)
                next += 1
            }
        }
        printable.removeAll()
        return table
    }()

    static let characterBytes: [Character: UInt8] = {
        Dictionary(uniqueKeysWithValues: byteCharacters.enumerated().map { ($0.element, UInt8($0.offset)) })
    }()

    /// GPT-2's split: contractions, ` ?letters`, ` ?numbers`, ` ?other symbols`, whitespace
    /// not followed by a non-space, other whitespace.
    /// Matched one code point at a time, as Hugging Face's and llama.cpp's regex engines do
    /// (Swift's default, whole characters, would keep combining marks with their letter).
    nonisolated(unsafe) static let split = try! Regex(#"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#)
        .matchingSemantics(.unicodeScalar)

    /// Hugging Face's digit splitter: Unicode number categories (Nd, Nl, No).
    static func isDigit(_ scalar: Unicode.Scalar) -> Bool {
        [.decimalNumber, .letterNumber, .otherNumber].contains(scalar.properties.generalCategory)
    }

    /// Pieces of `text` before BPE: each digit alone, then GPT-2's split within the rest.
    public static func preTokenize(_ text: String) -> [Substring] {
        var pieces: [Substring] = []
        let scalars = text.unicodeScalars
        var start = scalars.startIndex
        var index = scalars.startIndex
        func flush(upTo end: String.Index) {
            guard start < end else { return }
            let segment = text[start..<end]
            for match in segment.matches(of: split) { pieces.append(segment[match.range]) }
        }
        while index < scalars.endIndex {
            let next = scalars.index(after: index)
            if isDigit(scalars[index]) {
                flush(upTo: index)
                pieces.append(text[index..<next])
                start = next
            }
            index = next
        }
        flush(upTo: scalars.endIndex)
        return pieces
    }

    /// Token ids of `text` (no special tokens added). Each distinct pre-token is merged once
    /// per call (text repeats its words, so a corpus encodes many times faster).
    public func encode(_ text: String) -> [Int] {
        var result: [Int] = []
        var known: [Substring: [Int]] = [:]
        for piece in ByteLevelBPE.preTokenize(text) {
            if let ids = known[piece] {
                result += ids
                continue
            }
            let ids = encode(piece: piece)
            known[piece] = ids
            result += ids
        }
        return result
    }

    /// One pre-token's ids: its bytes as symbols, merged lowest rank first.
    func encode(piece: Substring) -> [Int] {
        var symbols = piece.utf8.map { String(ByteLevelBPE.byteCharacters[Int($0)]) }
        while symbols.count > 1 {
            var best: (rank: Int, index: Int)?
            for i in 0..<(symbols.count - 1) {
                if let rank = ranks[symbols[i] + " " + symbols[i + 1]], rank < best?.rank ?? .max { best = (rank, i) }
            }
            guard let best else { break }
            symbols[best.index] += symbols[best.index + 1]
            symbols.remove(at: best.index + 1)
        }
        var result: [Int] = []
        for symbol in symbols {
            if let id = ids[symbol] {
                result.append(id)
            } else {
                // A symbol outside the vocabulary falls back to its single bytes.
                for character in symbol { if let id = ids[String(character)] { result.append(id) } }
            }
        }
        return result
    }

    /// The merges as "left right", highest priority first (as given, duplicates dropped).
    public var merges: [String] { ranks.sorted { $0.value < $1.value }.map(\.key) }

    /// UTF-8 bytes each token stands for (bits per byte counts text, not tokens).
    public var tokenByteCounts: [Int] {
        tokens.map { token in token.reduce(0) { $0 + (ByteLevelBPE.characterBytes[$1] == nil ? 0 : 1) } }
    }

    /// The text of `ids`; bytes that do not form UTF-8 become U+FFFD.
    public func decode(_ ids: [Int]) -> String {
        var bytes: [UInt8] = []
        for id in ids where tokens.indices.contains(id) {
            for character in tokens[id] { if let byte = ByteLevelBPE.characterBytes[character] { bytes.append(byte) } }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
