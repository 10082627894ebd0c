/// A small strict JSON reader for file-format headers (safetensors): objects keep their keys
/// in order so duplicates can be refused (Foundation's parser keeps the last silently),
/// numbers are kept as text for exact integer reading, nesting is bounded, and any malformed
/// input is a `Problem` with the byte offset, never a crash.
enum HeaderJSON: Equatable {
    case object([(key: String, value: HeaderJSON)])
    case array([HeaderJSON])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    struct Problem: Error, Equatable {
        let offset: Int
        let message: String
    }

    static func == (a: HeaderJSON, b: HeaderJSON) -> Bool {
        switch (a, b) {
        case (.object(let x), .object(let y)): return x.map(\.key) == y.map(\.key) && x.map(\.value) == y.map(\.value)
        case (.array(let x), .array(let y)): return x == y
        case (.string(let x), .string(let y)), (.number(let x), .number(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.null, .null): return true
        default: return false
        }
    }

    /// Parses `bytes` whole (trailing spaces allowed, as safetensors pads its header).
    static func parse(_ bytes: [UInt8]) throws -> HeaderJSON {
        var parser = Parser(bytes: bytes)
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw Problem(offset: parser.index, message: "unexpected bytes after the JSON value") }
        return value
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0
        static let maximumDepth = 32

        mutating func skipWhitespace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        func problem(_ message: String) -> Problem { Problem(offset: index, message: message) }

        mutating func value(depth: Int) throws -> HeaderJSON {
            guard depth < Parser.maximumDepth else { throw problem("nesting deeper than \(Parser.maximumDepth)") }
            skipWhitespace()
            guard index < bytes.count else { throw problem("unexpected end of the header") }
            switch bytes[index] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            default: throw problem("unexpected character '\(Character(UnicodeScalar(bytes[index])))'")
            }
        }

        mutating func literal(_ word: String) throws {
            let expected = Array(word.utf8)
            guard index + expected.count <= bytes.count, Array(bytes[index..<(index + expected.count)]) == expected else {
                throw problem("expected \(word)")
            }
            index += expected.count
        }

        mutating func object(depth: Int) throws -> HeaderJSON {
            index += 1
            var members: [(key: String, value: HeaderJSON)] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw problem("expected a quoted key") }
                let key = try string()
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw problem("expected ':' after a key") }
                index += 1
                members.append((key, try value(depth: depth + 1)))
                skipWhitespace()
                guard index < bytes.count else { throw problem("unexpected end inside an object") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
                throw problem("expected ',' or '}' in an object")
            }
        }

        mutating func array(depth: Int) throws -> HeaderJSON {
            index += 1
            var elements: [HeaderJSON] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
            while true {
                elements.append(try value(depth: depth + 1))
                skipWhitespace()
                guard index < bytes.count else { throw problem("unexpected end inside an array") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
                throw problem("expected ',' or ']' in an array")
            }
        }

        /// A string's bytes between quotes, with the escapes JSON defines (\u with four hex digits included).
        mutating func string() throws -> String {
            index += 1
            var scalars = String.UnicodeScalarView()
            var raw: [UInt8] = []
            func flush() throws {
                guard !raw.isEmpty else { return }
                guard let text = String(validating: raw, as: UTF8.self) else { throw problem("a string is not valid UTF-8") }
                scalars.append(contentsOf: text.unicodeScalars)
                raw.removeAll()
            }
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    try flush()
                    return String(scalars)
                case UInt8(ascii: "\\"):
                    try flush()
                    guard index < bytes.count else { break }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""): scalars.append("\"")
                    case UInt8(ascii: "\\"): scalars.append("\\")
                    case UInt8(ascii: "/"): scalars.append("/")
                    case UInt8(ascii: "b"): scalars.append("\u{08}")
                    case UInt8(ascii: "f"): scalars.append("\u{0C}")
                    case UInt8(ascii: "n"): scalars.append("\n")
                    case UInt8(ascii: "r"): scalars.append("\r")
                    case UInt8(ascii: "t"): scalars.append("\t")
                    case UInt8(ascii: "u"):
                        var code = try hexQuad()
                        if (0xD800..<0xDC00).contains(code) {
                            // A high surrogate must be followed by \u and a low one: one code point.
                            guard index + 2 <= bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                                throw problem("a lone surrogate in a \\u escape")
                            }
                            index += 2
                            let low = try hexQuad()
                            guard (0xDC00..<0xE000).contains(low) else { throw problem("a lone surrogate in a \\u escape") }
                            let high: UInt32 = (code - 0xD800) << 10
                            code = 0x10000 + high + (low - 0xDC00)
                        }
                        guard let scalar = UnicodeScalar(code) else { throw problem("a \\u escape is not a character") }
                        scalars.append(scalar)
                    default: throw problem("unknown escape '\\\(Character(UnicodeScalar(escape)))'")
                    }
                case 0..<0x20: throw problem("a control character inside a string")
                default: raw.append(byte)
                }
            }
            throw problem("a string is not closed")
        }

        /// Four hex digits of a \u escape.
        mutating func hexQuad() throws -> UInt32 {
            guard index + 4 <= bytes.count, let code = UInt32(String(decoding: bytes[index..<(index + 4)], as: UTF8.self), radix: 16) else {
                throw problem("a \\u escape needs four hex digits")
            }
            index += 4
            return code
        }

        mutating func number() throws -> String {
            let start = index
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            let allowed: Set<UInt8> = Set(Array("0123456789.eE+-".utf8))
            while index < bytes.count, allowed.contains(bytes[index]) { index += 1 }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            guard Double(text) != nil else { throw problem("'\(text)' is not a number") }
            return text
        }
    }
}
