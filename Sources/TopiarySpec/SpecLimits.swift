import Foundation
import Yams

/// What reading a spec may cost. A YAML alias bomb in `sweep:` made even `topiary plan` spin
/// with unbounded memory; a 50 MB value took a minute and 4 GB and was echoed whole in the
/// error. A spec is bounded in bytes, in nodes after its aliases are expanded, and in how
/// much of it an error quotes.
enum SpecLimits {
    /// The largest spec file read: the shipped ones are a few KB.
    static let maximumBytes = 1 << 20
    /// Scalars, sequences and mappings after aliases are expanded (libyaml already bounds
    /// nesting depth at 1,000).
    static let maximumNodes = 100_000
    /// The most characters of a problem an error message quotes.
    static let maximumProblemCharacters = 600

    static func checkSize(_ text: String) throws {
        let bytes = text.utf8.count
        if bytes > maximumBytes {
            throw SpecProblem(keyPath: "", problem: "is \(bytes) bytes; a spec may be at most \(maximumBytes) bytes (1 MiB). Is it the right file?")
        }
    }

    /// Counts `node`'s nodes as the decoder would visit them (an alias as many times as it is
    /// used), stopping as soon as the count passes the limit, so the check itself is cheap.
    static func checkExpansion(_ node: Node) throws {
        var remaining = maximumNodes
        func visit(_ node: Node) -> Bool {
            remaining -= 1
            if remaining < 0 { return false }
            switch node {
            case .mapping(let mapping): return mapping.allSatisfy { visit($0.key) && visit($0.value) }
            case .sequence(let sequence): return sequence.allSatisfy(visit)
            case .scalar, .alias: return true
            }
        }
        if !visit(node) {
            throw SpecProblem(keyPath: "", problem: "expands to more than \(maximumNodes) YAML nodes (its aliases repeat content exponentially?). A spec this large is refused.")
        }
    }

    /// `text` cut in the middle when it is longer than the limit, saying how much was left out.
    static func excerpt(_ text: String) -> String {
        guard text.count > maximumProblemCharacters else { return text }
        let keep = maximumProblemCharacters / 2
        return String(text.prefix(keep)) + " … (\(text.count - 2 * keep) characters left out) … " + String(text.suffix(keep))
    }
}
