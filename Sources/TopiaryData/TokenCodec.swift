/// How a language model's token ids and text map onto each other: UTF-8 bytes (a byte-level
/// model, vocabulary 256) or a pre-trained model's byte-level BPE.
public enum TokenCodec: Sendable {
    case bytes
    case bpe(ByteLevelBPE)

    public var vocabulary: Int {
        switch self {
        case .bytes: return 256
        case .bpe(let tokenizer): return tokenizer.tokens.count
        }
    }

    public func encode(_ text: String) -> [Int] {
        switch self {
        case .bytes: return text.utf8.map(Int.init)
        case .bpe(let tokenizer): return tokenizer.encode(text)
        }
    }

    /// The text of `ids`; bytes that do not form UTF-8 become U+FFFD.
    public func decode(_ ids: [Int]) -> String {
        switch self {
        case .bytes: return String(decoding: ids.map { UInt8(clamping: $0) }, as: UTF8.self)
        case .bpe(let tokenizer): return tokenizer.decode(ids)
        }
    }
}
