/// Seeded mutations of text files for fuzzing the text readers (CSV, .ts): the byte-level
/// edits of `ByteMutator`, plus edits that reach deeper into a text grammar — inserting the
/// format's own tokens (quotes, separators, `@` keys, `?`), and deleting, duplicating,
/// swapping or cutting whole lines.
struct TextMutator {
    var bytes: ByteMutator
    /// The format's tokens: inserted inside a line, or as a line of their own.
    let tokens: [String]
    let lines: [String]

    init(seed: UInt64, tokens: [String], lines: [String]) {
        bytes = ByteMutator(seed: seed)
        self.tokens = tokens
        self.lines = lines
    }

    private mutating func index(_ count: Int) -> Int { bytes.index(count) }

    /// One to three stacked edits.
    mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var text = input
        for _ in 0...index(3) {
            var split = text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
            switch index(9) {
            case 0:
                text = bytes.mutate(text)
                continue
            case 1:
                text.insert(contentsOf: Array(tokens[index(tokens.count)].utf8), at: index(text.count + 1))
                continue
            case 2:
                guard !text.isEmpty else { continue }
                let at = index(text.count)
                text.replaceSubrange(at...at, with: Array(tokens[index(tokens.count)].utf8))
                continue
            case 3:
                if !split.isEmpty { split.remove(at: index(split.count)) }
            case 4:
                if !split.isEmpty { split.insert(split[index(split.count)], at: index(split.count + 1)) }
            case 5:
                if split.count > 1 { split.swapAt(index(split.count), index(split.count)) }
            case 6:
                split.insert(Array(lines[index(lines.count)].utf8), at: index(split.count + 1))
            case 7:
                split = Array(split.prefix(index(split.count + 1)))
            default:
                // A line's end cut off: a case or row ends mid-value.
                if !split.isEmpty {
                    let line = index(split.count)
                    split[line] = Array(split[line].prefix(index(split[line].count + 1)))
                }
            }
            text = Array(split.joined(separator: [UInt8(ascii: "\n")]))
        }
        return text
    }
}
