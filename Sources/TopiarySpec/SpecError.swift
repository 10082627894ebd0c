import Foundation

/// A problem with an experiment spec the user wrote. The message names the file, the key
/// path inside it, what is wrong, and what to do.
public struct SpecError: Error, LocalizedError, Equatable {
    public let file: String
    public let keyPath: String
    public let problem: String

    /// `problem` is cut to an excerpt when long (a value or a YAML line can be megabytes).
    public init(file: String, keyPath: String, problem: String) {
        self.file = file
        self.keyPath = SpecLimits.excerpt(keyPath)
        self.problem = SpecLimits.excerpt(problem)
    }

    public var errorDescription: String? {
        keyPath.isEmpty ? "spec \(file): \(problem)" : "spec \(file): \(keyPath): \(problem)"
    }
}

/// Thrown while decoding, before the file name is known; `ExperimentSpec.load` adds it.
package struct SpecProblem: Error {
    package let keyPath: String
    package let problem: String
    package init(keyPath: String, problem: String) { (self.keyPath, self.problem) = (keyPath, problem) }
}

func keyPathString(_ path: [any CodingKey]) -> String {
    var result = ""
    for key in path {
        if let index = key.intValue { result += "[\(index)]" } else {
            result += result.isEmpty ? key.stringValue : "." + key.stringValue
        }
    }
    return result
}

/// A coding key for whatever key a YAML mapping holds, so unknown keys can be listed.
package struct AnyCodingKey: CodingKey {
    package let stringValue: String
    package let intValue: Int?
    package init(stringValue: String) { self.stringValue = stringValue; intValue = nil }
    package init(intValue: Int) { self.stringValue = String(intValue); self.intValue = intValue }
}

extension Decoder {
    /// Strict decoding (nanoGPT's "Unknown config key"): a key the type does not know is an
    /// error naming the key, where it is, and the keys that are allowed.
    func rejectUnknownKeys<Keys: CodingKey & CaseIterable>(_ keys: Keys.Type) throws {
        let container = try container(keyedBy: AnyCodingKey.self)
        let known = Keys.allCases.map(\.stringValue)
        for key in container.allKeys where !known.contains(key.stringValue) {
            let section = keyPathString(codingPath)
            throw SpecProblem(keyPath: section.isEmpty ? key.stringValue : section + "." + key.stringValue,
                              problem: "unknown key '\(key.stringValue)'. Allowed here: \(known.joined(separator: ", ")).")
        }
    }

    /// Decoding a spec a run recorded (report.json), not one about to run: scorer and model
    /// names a study program registered need not be registered in the program reading it.
    /// Running such a spec again goes through `ExperimentSpec.validated`, which checks them.
    var readsRecordedSpec: Bool { userInfo[.recordedSpec] as? Bool == true }

    /// A validation failure at this decoder's position.
    func problem(_ key: (any CodingKey)?, _ message: String) -> SpecProblem {
        SpecProblem(keyPath: keyPathString(codingPath + (key.map { [$0] } ?? [])), problem: message)
    }
}

extension CodingUserInfoKey {
    /// Set to `true` on a decoder reading a recorded spec (see `Decoder.readsRecordedSpec`).
    public static let recordedSpec = CodingUserInfoKey(rawValue: "topiary.recorded-spec")!
}
