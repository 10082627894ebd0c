import Foundation

/// `const` C arrays. Floats are written as hexadecimal literals (C99 `0x1.8p+1f`): exact, so
/// the compiled constant is the Float32 Topiary holds, bit for bit.
enum CLiteral {
    static func floats(_ name: String, _ values: [Float]) -> String {
        array(name, type: "float", values.map(hexadecimal))
    }

    static func integers(_ name: String, type: String, _ values: [Int]) -> String {
        array(name, type: type, values.map(String.init))
    }

    /// An empty array is declared with one element (C has no zero-length arrays).
    private static func array(_ name: String, type: String, _ items: [String]) -> String {
        let items = items.isEmpty ? ["0"] : items
        var text = "static const \(type) \(name)[\(items.count)] = {"
        text.reserveCapacity(text.count + items.count * 16)
        for (index, item) in items.enumerated() {
            text += index % 8 == 0 ? "\n    " : " "
            text += item
            text += ","
        }
        return text + "\n};\n"
    }

    /// The exact value of `value` as a C99 hexadecimal float literal.
    static func hexadecimal(_ value: Float) -> String {
        precondition(value.isFinite, "an exported weight must be finite, got \(value)")
        if value == 0 { return value.sign == .minus ? "-0.0f" : "0.0f" }
        // value = significand · 2^exponent with the significand in [1, 2) (normal numbers;
        // subnormals are written with their own exponent, still exact).
        let exponent = Int(value.exponent)
        let significand = abs(value).significand   // [1, 2)
        let fraction = UInt32((significand - 1) * Float(1 << 23))   // 23 bits, exact
        let digits = String(fraction << 1, radix: 16)   // 24 bits = 6 hex digits
        let padded = String(repeating: "0", count: 6 - digits.count) + digits
        var trimmed = Substring(padded)
        while trimmed.last == "0" { trimmed = trimmed.dropLast() }
        return (value.sign == .minus ? "-" : "") + "0x1" + (trimmed.isEmpty ? "" : "." + trimmed) + "p\(exponent)f"
    }
}
