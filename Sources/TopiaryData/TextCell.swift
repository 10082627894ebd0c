// Helpers shared by the text readers (CSV, .ts) for one cell or line of text.

/// `text` made safe to quote inside a one-line message: control characters escaped, and cut
/// to at most `limit` characters (ending in "…" when cut), so that a hostile cell cannot
/// flood a terminal or a log.
func messageExcerpt(_ text: some StringProtocol, limit: Int = 40) -> String {
    var escaped = "", cut = false
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\n": escaped += "\\n"
        case "\r": escaped += "\\r"
        case "\t": escaped += "\\t"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F {
                escaped += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                escaped.unicodeScalars.append(scalar)
            }
        }
        if escaped.unicodeScalars.count > limit {
            cut = true
            break
        }
    }
    return cut || escaped.count > limit ? String(escaped.prefix(limit - 1)) + "…" : escaped
}

/// `text` without the spaces, tabs and carriage returns at either end (byte-wise: a
/// combining mark after a space cannot hide it).
func trimmingBlanks(_ text: Substring) -> Substring {
    let utf8 = text.utf8
    func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D }
    guard let first = utf8.firstIndex(where: { !isBlank($0) }) else { return text[text.endIndex...] }
    let last = utf8.lastIndex(where: { !isBlank($0) })!
    return Substring(utf8[first...last])
}

/// A decimal (or hex) number that fits a Float, blanks around it ignored; nil for anything
/// else, NaN and infinities included: they would poison every sum downstream without a trace
/// of the cell they came from. A NUL byte is refused first: `Float(_:)` reads its text as a C
/// string and would take "1\0garbage" for 1.
func finiteFloat(_ text: some StringProtocol) -> Float? {
    guard !text.utf8.contains(0), let value = Float(trimmingBlanks(Substring(text))), value.isFinite else { return nil }
    return value
}
