import Foundation

/// `sweep:` — the points of a sweep over any spec keys (dotted paths, e.g. `pruning.scorer`,
/// `training.optimizer.learning_rate`, `seed`):
///
///     sweep:
///       grid: { pruning.scorer: [magnitude, taylor], seed: [0, 1, 2] }   # full product
///       points:                                                          # and/or a named list
///         - { name: wsd, training.lr_schedule.name: wsd }
///
/// Every point is the base spec with its values set, decoded again with the strict decoder,
/// so a bad key or value in a sweep fails like one in a spec.
public struct SweepSpec: Codable, Sendable, Equatable {
    public var grid: [String: [SweepValue]]?
    public var points: [[String: SweepValue]]?

    enum CodingKeys: String, CodingKey, CaseIterable { case grid, points }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        grid = try c.decodeIfPresent([String: [SweepValue]].self, forKey: .grid)
        points = try c.decodeIfPresent([[String: SweepValue]].self, forKey: .points)
        if grid == nil && points == nil { throw decoder.problem(nil, "needs 'grid' or 'points'.") }
        if let bad = grid?.first(where: { $0.value.isEmpty }) {
            throw decoder.problem(CodingKeys.grid, "\(bad.key) lists no values.")
        }
    }

    /// The points in order: the grid's product (keys sorted, last key fastest), then the list.
    public var expanded: [SweepPoint] {
        var result: [SweepPoint] = []
        if let grid {
            let keys = grid.keys.sorted()
            var combinations: [[(String, SweepValue)]] = [[]]
            for key in keys {
                combinations = combinations.flatMap { prefix in grid[key]!.map { prefix + [(key, $0)] } }
            }
            result += combinations.map { SweepPoint(name: nil, values: $0) }
        }
        for point in points ?? [] {
            let name = point["name"].flatMap { if case .string(let s) = $0 { s } else { nil } }
            result.append(SweepPoint(name: name, values: point.filter { $0.key != "name" }.sorted { $0.key < $1.key }))
        }
        return result
    }
}

/// One value a sweep sets: a number, a string or a boolean.
public enum SweepValue: Codable, Sendable, Equatable, CustomStringConvertible {
    case number(Double), string(String), bool(Bool)

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else { self = .string(try c.decode(String.self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .number(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .bool(let b): try c.encode(b)
        }
    }

    var json: Any {
        switch self {
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? Int(d) as Any : d
        case .string(let s): return s
        case .bool(let b): return b
        }
    }

    public var description: String {
        switch self {
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
        case .string(let s): return s
        case .bool(let b): return String(b)
        }
    }
}

public struct SweepPoint: Sendable, Equatable {
    public let name: String?
    public let values: [(String, SweepValue)]

    public static func == (a: SweepPoint, b: SweepPoint) -> Bool {
        a.name == b.name && a.values.map(\.0) == b.values.map(\.0) && a.values.map(\.1) == b.values.map(\.1)
    }

    /// A folder-safe label: the name, or key=value pairs.
    public var label: String {
        let raw = name ?? values.map { "\($0.0.split(separator: ".").last!)=\($0.1)" }.joined(separator: "_")
        return String(raw.map { $0.isLetter || $0.isNumber || "-_.=".contains($0) ? $0 : "-" })
    }

    /// The base spec with this point's values, validated by the strict decoder.
    public func apply(to base: ExperimentSpec, file: String) throws -> ExperimentSpec {
        var spec = base
        spec.sweep = nil
        guard var tree = try JSONSerialization.jsonObject(with: JSONEncoder().encode(spec)) as? [String: Any] else {
            preconditionFailure("a spec encodes to a JSON object")
        }
        for (path, value) in values {
            tree = try SweepPoint.set(value.json, at: path.split(separator: ".").map(String.init), in: tree, fullPath: path, file: file)
        }
        do {
            return try JSONDecoder().decode(ExperimentSpec.self, from: JSONSerialization.data(withJSONObject: tree))
        } catch {
            let problem = ExperimentSpec.specError(from: error, file: file)
            throw SpecError(file: file, keyPath: "sweep point \(label): " + problem.keyPath, problem: problem.problem)
        }
    }

    static func set(_ value: Any, at path: [String], in tree: [String: Any], fullPath: String, file: String) throws -> [String: Any] {
        var tree = tree
        if path.count == 1 {
            tree[path[0]] = value
            return tree
        }
        let child = tree[path[0]] as? [String: Any] ?? [:]
        tree[path[0]] = try set(value, at: Array(path.dropFirst()), in: child, fullPath: fullPath, file: file)
        return tree
    }
}
