import Foundation
import TopiaryData
import TopiaryFormats
import TopiarySpec

/// Text as a pre-trained model's tokens: its GGUF's tokenizer, and corpora encoded once and
/// kept in the data cache (`tokens/`), keyed by the text and the tokenizer file, so a sweep
/// of runs over one corpus tokenizes it once.
public enum TextTokens {
    /// How a run's language model reads and writes text: its GGUF's BPE when the spec's text
    /// is read in a model's tokens, else bytes.
    public static func codec(for spec: ResolvedSpec) throws -> TokenCodec {
        guard case .text(let text) = spec.source, let file = text.tokenizerFile else { return .bytes }
        return .bpe(try tokenizer(file))
    }

    static func tokenizer(_ path: String) throws -> ByteLevelBPE {
        try LlamaSources.reading(path) { try $0.tokenizer() }
    }

    /// The ids of `bytes` (UTF-8 text; invalid sequences read as U+FFFD) under `tokenizer`,
    /// from the cache when this text met this tokenizer file before.
    static func encode(_ bytes: ArraySlice<UInt8>, with tokenizer: ByteLevelBPE, file: String) -> [Int32] {
        // A Hugging Face folder's tokenizer is its tokenizer.json.
        let tokenizerFile = HuggingFaceLlamaFolder.isModelFolder(file) ? file + "/tokenizer.json" : file
        let size = (try? FileManager.default.attributesOfItem(atPath: tokenizerFile)[.size] as? Int) ?? 0
        var hash = FowlerNollVo()
        hash.add(bytes)
        hash.add(Array("\(URL(fileURLWithPath: file).lastPathComponent) \(size) \(bytes.count)".utf8)[...])
        let cached = DataCache.directory + "/tokens/" + String(hash.value, radix: 16) + ".i32"
        if let data = FileManager.default.contents(atPath: cached), data.count % 4 == 0 {
            let ids = data.withUnsafeBytes { raw in (0..<(data.count / 4)).map { Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) } }
            if ids.allSatisfy({ $0 >= 0 && Int($0) < tokenizer.tokens.count }) { return ids }   // else damaged: encode again
        }
        let ids = tokenizer.encode(String(decoding: bytes, as: UTF8.self)).map(Int32.init)
        var data = Data(capacity: 4 * ids.count)
        for id in ids { withUnsafeBytes(of: id.littleEndian) { data.append(contentsOf: $0) } }
        // A cache entry is written whole or not at all (temp file + rename); failing to
        // write one only costs the next run the encoding.
        try? FileManager.default.createDirectory(atPath: DataCache.directory + "/tokens", withIntermediateDirectories: true)
        let temporary = cached + ".\(ProcessInfo.processInfo.processIdentifier).tmp"
        if FileManager.default.createFile(atPath: temporary, contents: data) {
            if rename(temporary, cached) != 0 { try? FileManager.default.removeItem(atPath: temporary) }
        }
        return ids
    }
}

/// 64-bit FNV-1a: a fast content key for cache files (not a defence against tampering).
struct FowlerNollVo {
    private(set) var value: UInt64 = 0xcbf29ce484222325
    mutating func add(_ bytes: ArraySlice<UInt8>) {
        for byte in bytes { value = (value ^ UInt64(byte)) &* 0x100000001b3 }
    }
}
