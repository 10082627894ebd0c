import Foundation
import TopiaryReport

/// Builds the groups `RunComparison` compares from sweep folders: which points are A and
/// which are B (selections over the sweep's columns), which configuration each belongs to,
/// and which replicates (seeds) it holds.
public enum ComparisonGroups {
    /// A selection: column (full key, its last dotted component, or an axis name) → value.
    public typealias Selection = [String: String]

    /// `a` and `b` may be the same sweep (then selections must tell A from B). Points that
    /// are not complete are left out and named in `incomplete` (a comparison missing them
    /// cannot pass a gate unless told to judge what is complete).
    public static func fromSweeps(a folderA: String, b folderB: String, baseline: Selection?, candidate: Selection?,
                                  replicateKey: String) throws -> (groups: [RunComparison.Group], notes: [String], incomplete: [String]) {
        let sweepA = try SweepFile.read(from: folderA), sweepB = folderA == folderB ? sweepA : try SweepFile.read(from: folderB)
        if folderA == folderB && (baseline ?? [:]).isEmpty && (candidate ?? [:]).isEmpty {
            throw ComparisonInputError.noSelection(folder: folderA)
        }
        var notes: [String] = [], incomplete: [String] = []
        func side(_ sweep: SweepFile, _ folder: String, _ selection: Selection?, _ name: String) throws -> [String: [RunComparison.Replicate]] {
            let selection = selection ?? [:]
            let columns = Set(sweep.points.flatMap { $0.values.keys })
            for key in selection.keys + [replicateKey] where !columns.contains(where: { matches(column: $0, key: key) }) {
                if key == replicateKey && selection[key] == nil { continue }   // no replicates: one run per configuration
                throw ComparisonInputError.unknownColumn(key: key, folder: folder, columns: columns.sorted())
            }
            let chosen = sweep.points.filter { entry in
                selection.allSatisfy { key, value in entry.values.contains { matches(column: $0.key, key: key) && $0.value == value } }
            }
            let groups = group(chosen, folder: folder, replicateKey: replicateKey, ignoring: Array(selection.keys), side: name,
                               incomplete: &incomplete)
            if groups.isEmpty { throw ComparisonInputError.nothingSelected(side: name, folder: folder, selection: selection) }
            return groups
        }
        let groupsA = try side(sweepA, folderA, baseline, "A"), groupsB = try side(sweepB, folderB, candidate, "B")
        let common = Set(groupsA.keys).intersection(groupsB.keys).sorted()
        guard !common.isEmpty else {
            throw ComparisonInputError.noCommonConfiguration(a: groupsA.keys.sorted(), b: groupsB.keys.sorted())
        }
        for configuration in Set(groupsA.keys).symmetricDifference(groupsB.keys).sorted() {
            notes.append("configuration '\(configuration)' is only in \(groupsA[configuration] != nil ? "A" : "B"); left out.")
        }
        return (common.map { RunComparison.Group(configuration: $0, a: groupsA[$0]!, b: groupsB[$0]!) }, notes, incomplete)
    }

    /// Complete points by configuration (their columns except the replicate key and the
    /// `ignoring` keys, as "name=value …"); a point not complete is named in `incomplete`.
    public static func group(_ entries: [SweepEntry], folder: String, replicateKey: String, ignoring: [String] = [],
                             side: String = "sweep", incomplete: inout [String]) -> [String: [RunComparison.Replicate]] {
        var groups: [String: [RunComparison.Replicate]] = [:]
        for entry in entries {
            let directory = runDirectory(entry, sweep: folder)
            guard entry.status == "complete", let report = try? RunReport.read(from: directory), report.status == .complete else {
                incomplete.append("\(side): point \(entry.index) (\(entry.label)) is \(entry.status); left out")
                continue
            }
            let rest = entry.values.filter { column, _ in
                !matches(column: column, key: replicateKey) && !ignoring.contains { matches(column: column, key: $0) }
            }
            let configuration = rest.keys.sorted().map { "\(shortName($0))=\(rest[$0]!)" }.joined(separator: " ")
            let id = entry.values.first { matches(column: $0.key, key: replicateKey) }?.value ?? String(entry.index)
            groups[configuration, default: []].append(RunComparison.Replicate(id: id, report: report, directory: directory))
        }
        return groups
    }

    /// "key=value" arguments as a selection.
    public static func selection(_ arguments: [String]) throws -> Selection? {
        guard !arguments.isEmpty else { return nil }
        var result: Selection = [:]
        for argument in arguments {
            let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { throw ComparisonInputError.badSelection(argument) }
            result[parts[0]] = parts[1]
        }
        return result
    }

    static func matches(column: String, key: String) -> Bool { column == key || shortName(column) == key }

    static func shortName(_ column: String) -> String { String(column.split(separator: ".").last ?? Substring(column)) }

    /// The point's run folder: as recorded, or (when the sweep was moved or the recorded
    /// path is relative to another working directory) the same name under the sweep's points/.
    static func runDirectory(_ entry: SweepEntry, sweep folder: String) -> String {
        if FileManager.default.fileExists(atPath: entry.runDirectory + "/report.json") { return entry.runDirectory }
        return folder + "/points/" + (entry.runDirectory as NSString).lastPathComponent
    }
}

public enum ComparisonInputError: Error, LocalizedError, Equatable {
    case noSelection(folder: String)
    case unknownColumn(key: String, folder: String, columns: [String])
    case nothingSelected(side: String, folder: String, selection: [String: String])
    case noCommonConfiguration(a: [String], b: [String])
    case badSelection(String)
    public var errorDescription: String? {
        switch self {
        case .noSelection(let folder):
            return "A and B are the same sweep (\(folder)): say which points are which with --baseline KEY=VALUE and --candidate KEY=VALUE, or a compare: block with baseline/candidate in the spec."
        case .unknownColumn(let key, let folder, let columns):
            return "\(folder) has no sweep column '\(key)'; its columns: \(columns.joined(separator: ", "))."
        case .nothingSelected(let side, let folder, let selection):
            return "\(side): no complete point of \(folder) matches \(selection.keys.sorted().map { "\($0)=\(selection[$0]!)" }.joined(separator: " ")); check the values in sweep.csv."
        case .noCommonConfiguration(let a, let b):
            return "A and B share no configuration (A: \(a.joined(separator: "; ")); B: \(b.joined(separator: "; "))); select points that differ only in what you compare."
        case .badSelection(let argument):
            return "'\(argument)' is not a KEY=VALUE selection (e.g. schedule=gradual)."
        }
    }
}
