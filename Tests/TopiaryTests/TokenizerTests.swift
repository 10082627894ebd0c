import Foundation
import Testing
import TopiaryData
import TopiaryFormats

/// Byte-level BPE from SmolLM2's GGUF: the token ids Hugging Face `tokenizers` gives on varied
/// text (unicode, digits, whitespace runs, contractions; Tests/Fixtures/bpe_golden.json, made
/// by make_bpe_golden.py beside it), and decode(encode(text)) == text.
extension AllTests {
@Suite struct TokenizerTests {
    struct Golden: Decodable {
        struct Case: Decodable { let text: String; let ids: [Int] }
        let cases: [Case]
    }

    @Test func smolLM2TokenizerMatchesTheIndependentImplementation() throws {
        let path = try TestData.smolLM2()
        let tokenizer = try ByteLevelBPE(gguf: try GGUFFile.read(path: path), path: path)
        #expect(tokenizer.tokens.count == 49_152)
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: packageRoot + "/Tests/Fixtures/bpe_golden.json")))
        #expect(golden.cases.count >= 12)
        for entry in golden.cases {
            #expect(tokenizer.encode(entry.text) == entry.ids, "\(entry.text.debugDescription)")
            #expect(tokenizer.decode(tokenizer.encode(entry.text)) == entry.text, "round trip of \(entry.text.debugDescription)")
        }
    }

    @Test func preTokenizationSplitsDigitsAndKeepsSpacesWithWords() {
        #expect(ByteLevelBPE.preTokenize("ab 12  cd's") == ["ab", " ", "1", "2", " ", " cd", "'s"])
        #expect(ByteLevelBPE.preTokenize("") == [])
        // Digits are Unicode number categories (a CJK numeral is a letter), and the split works
        // on code points: a combining mark leaves the letter it follows.
        #expect(ByteLevelBPE.preTokenize("三4") == ["三", "4"])
        #expect(ByteLevelBPE.preTokenize("e\u{301}x") == ["e", "\u{301}", "x"])
        #expect(throws: DataError.self) { try ByteLevelBPE(tokens: ["a"], merges: ["a"]) }
    }
}
}
