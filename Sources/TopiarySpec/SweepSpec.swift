import Foundation

/// `sweep:` — the points of a sweep over any spec keys (dotted paths, e.g. `pruning.scorer`,
/// `training.optimizer.learning_rate`, `seed`):
///
///     sweep:
///       grid: { pruning.scorer: [magnitude, taylor], seed: [0, 1, 2] }   # full product
///       axes:                                   # named alternatives, crossed with the grid
///         schedule:
///           - { name: list, pruning.stages: [{ sparsity: 0.5, epochs: 2 }] }
///           - { name: gradual, pruning.stages: null, pruning.schedule: { kind: agp, … } }
///       points:                                 # and/or extra named points (not crossed)
///         - { name: wsd, training.lr_schedule.name: wsd }
///
/// A value may be a scalar, a list, a mapping, or null (which removes the key). Every point
/// is the base spec with its values set, decoded again with the strict decoder, so a bad
/// key or value in a sweep fails like one in a spec.
public struct SweepSpec: Codable, Sendable, Equatable {
    public var grid: [String: [SweepValue]]?
    public var axes: [String: [[String: SweepValue]]]?
    public var points: [[String: SweepValue]]?

    enum CodingKeys: String, CodingKey, CaseIterable { case grid, axes, points }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        grid = try c.decodeIfPresent([String: [SweepValue]].self, forKey: .grid)
        axes = try c.decodeIfPresent([String: [[String: SweepValue]]].self, forKey: .axes)
        points = try c.decodeIfPresent([[String: SweepValue]].self, forKey: .points)
        if grid == nil && axes == nil && points == nil { throw decoder.problem(nil, "needs 'grid', 'axes' or 'points'.") }
        if let bad = grid?.first(where: { $0.value.isEmpty }) {
            throw decoder.problem(CodingKeys.grid, "\(bad.key) lists no values.")
        }
        for (axis, options) in axes ?? [:] {
            if options.isEmpty { throw decoder.problem(CodingKeys.axes, "\(axis) lists no alternatives.") }
            if grid?[axis] != nil { throw decoder.problem(CodingKeys.axes, "\(axis) is also a grid key; name the axis differently.") }
            let names = options.map { $0["name"].flatMap { if case .string(let s) = $0 { s } else { nil } } }
            if names.contains(nil) { throw decoder.problem(CodingKeys.axes, "every alternative of \(axis) needs a name: (it becomes the \(axis) column).") }
            if Set(names).count != names.count { throw decoder.problem(CodingKeys.axes, "\(axis) has two alternatives with the same name.") }
        }
    }

    /// The points in order: the product of the grid's keys and the axes (sorted by name, the
    /// last fastest), then the named points.
    public var expanded: [SweepPoint] {
        // Each dimension: its column name and the (shown value, assignments) alternatives.
        typealias Choice = (shown: String, assignments: [(String, SweepValue)])
        var dimensions: [(String, [Choice])] = []
        for (key, values) in grid ?? [:] { dimensions.append((key, values.map { ($0.description, [(key, $0)]) })) }
        for (axis, options) in axes ?? [:] {
            dimensions.append((axis, options.map { option in
                (option["name"]!.description, option.filter { $0.key != "name" }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
            }))
        }
        dimensions.sort { $0.0 < $1.0 }
        var result: [SweepPoint] = []
        if !dimensions.isEmpty {
            var combinations: [[(String, Choice)]] = [[]]
            for (name, choices) in dimensions {
                combinations = combinations.flatMap { prefix in choices.map { prefix + [(name, $0)] } }
            }
            result += combinations.map { combination in
                SweepPoint(name: nil, parameters: combination.map { ($0.0, $0.1.shown) },
                           assignments: combination.flatMap { $0.1.assignments })
            }
        }
        for point in points ?? [] {
            let name = point["name"].flatMap { if case .string(let s) = $0 { s } else { nil } }
            let values = point.filter { $0.key != "name" }.sorted { $0.key < $1.key }
            result.append(SweepPoint(name: name, parameters: values.map { ($0.key, $0.value.description) },
                                     assignments: values.map { ($0.key, $0.value) }))
        }
        return result
    }
}

/// One value a sweep sets: a scalar, a list, a mapping, or null (remove the key).
public indirect enum SweepValue: Codable, Sendable, Equatable, CustomStringConvertible {
    case number(Double), string(String), bool(Bool), list([SweepValue]), mapping([String: SweepValue]), null

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let l = try? c.decode([SweepValue].self) { self = .list(l) }
        else { self = .mapping(try c.decode([String: SweepValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .number(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .bool(let b): try c.encode(b)
        case .list(let l): try c.encode(l)
        case .mapping(let m): try c.encode(m)
        case .null: try c.encodeNil()
        }
    }

    var json: Any {
        switch self {
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? Int(d) as Any : d
        case .string(let s): return s
        case .bool(let b): return b
        case .list(let l): return l.map(\.json)
        case .mapping(let m): return m.mapValues(\.json)
        case .null: return NSNull()
        }
    }

    /// Shown in sweep.csv and labels; lists and mappings without commas so CSV cells stay plain.
    public var description: String {
        switch self {
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
        case .string(let s): return s
        case .bool(let b): return String(b)
        case .list(let l): return "[" + l.map(\.description).joined(separator: " ") + "]"
        case .mapping(let m): return "{" + m.keys.sorted().map { "\($0):\(m[$0]!)" }.joined(separator: " ") + "}"
        case .null: return "null"
        }
    }
}

public struct SweepPoint: Sendable, Equatable {
    public let name: String?
    /// The point's columns: a grid key and its value, or an axis and the alternative's name.
    public let parameters: [(String, String)]
    /// What is set in the spec: dotted key path and value (null removes the key).
    public let assignments: [(String, SweepValue)]

    public init(name: String?, parameters: [(String, String)], assignments: [(String, SweepValue)]) {
        self.name = name
        self.parameters = parameters
        self.assignments = assignments
    }

    public static func == (a: SweepPoint, b: SweepPoint) -> Bool {
        a.name == b.name && a.parameters.map(\.0) == b.parameters.map(\.0) && a.parameters.map(\.1) == b.parameters.map(\.1)
            && a.assignments.map(\.0) == b.assignments.map(\.0) && a.assignments.map(\.1) == b.assignments.map(\.1)
    }

    /// A folder-safe label: the name, or key=value pairs.
    public var label: String {
        let raw = name ?? parameters.map { "\($0.0.split(separator: ".").last!)=\($0.1)" }.joined(separator: "_")
        return String(raw.map { $0.isLetter || $0.isNumber || "-_.=".contains($0) ? $0 : "-" })
    }

    /// The base spec with this point's values, validated by the strict decoder.
    public func apply(to base: ExperimentSpec, file: String) throws -> ExperimentSpec {
        var spec = base
        spec.sweep = nil
        guard var tree = try JSONSerialization.jsonObject(with: JSONEncoder().encode(spec)) as? [String: Any] else {
            preconditionFailure("a spec encodes to a JSON object")
        }
        for (path, value) in assignments {
            tree = SweepPoint.set(value == .null ? nil : value.json, at: path.split(separator: ".").map(String.init), in: tree)
        }
        do {
            return try JSONDecoder().decode(ExperimentSpec.self, from: JSONSerialization.data(withJSONObject: tree))
        } catch {
            let problem = ExperimentSpec.specError(from: error, file: file)
            throw SpecError(file: file, keyPath: "sweep point \(label): " + problem.keyPath, problem: problem.problem)
        }
    }

    /// `tree` with `value` at `path` (nil removes the key), creating mappings on the way.
    static func set(_ value: Any?, at path: [String], in tree: [String: Any]) -> [String: Any] {
        var tree = tree
        if path.count == 1 {
            tree[path[0]] = value
            return tree
        }
        let child = tree[path[0]] as? [String: Any] ?? [:]
        tree[path[0]] = set(value, at: Array(path.dropFirst()), in: child)
        return tree
    }
}
