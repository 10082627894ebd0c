import Foundation
import TopiaryReport
import TopiaryRun
import TopiarySpec

/// `topiary sweep SPEC`: every point of the spec's `sweep:` as a normal run folder, then a
/// summary. Points run as separate `topiary run` processes (`jobs` at once, BLAS threads
/// divided so jobs × threads ≤ cores); a finished point is skipped and an interrupted one
/// resumed, so re-running a sweep completes it. `shard` i/n takes the points whose index
/// mod n is i.
public struct SweepRunner {
    public let spec: ExperimentSpec
    public let specFile: String
    public let directory: String
    public let points: [SweepPoint]
    /// Per point, the points whose run folders its `model.init_from` names as
    /// `{point:NAME}` (a WSD branch starting from another point's plateau checkpoint): they
    /// run first, and the placeholder becomes their folder.
    public let dependencies: [[Int]]

    public init(spec: ExperimentSpec, specFile: String, directory: String) throws {
        try OutputLocation.check(directory, option: "--out")
        guard let sweep = spec.sweep else {
            throw SpecError(file: specFile, keyPath: "sweep", problem: "is missing: topiary sweep needs a sweep: section (grid or points).")
        }
        self.spec = spec
        self.specFile = specFile
        self.directory = directory
        points = sweep.expanded
        // Validate every point before running any.
        let names = points.compactMap(\.name)
        if let repeated = names.first(where: { name in names.filter { $0 == name }.count > 1 }) {
            throw SpecError(file: specFile, keyPath: "sweep.points", problem: "two points are named '\(repeated)'; give each a different name.")
        }
        var dependencies: [[Int]] = []
        for (index, point) in points.enumerated() {
            let applied = try point.apply(to: spec, file: specFile)
            var needs: [Int] = []
            for name in SweepRunner.pointReferences(in: applied.model.initFrom ?? "") {
                guard let found = points.firstIndex(where: { $0.name == name }), found != index else {
                    throw SpecError(file: specFile, keyPath: "sweep point \(point.label): model.init_from",
                                    problem: "{point:\(name)} names no other point of this sweep; named points: \(points.compactMap(\.name).joined(separator: ", ")).")
                }
                needs.append(found)
            }
            dependencies.append(needs)
        }
        self.dependencies = dependencies
        if let cycle = SweepRunner.firstCycle(dependencies) {
            throw SpecError(file: specFile, keyPath: "sweep", problem: "points \(cycle.map { points[$0].label }.joined(separator: " → ")) start from each other.")
        }
    }

    /// The NAMEs of every `{point:NAME}` in `text`.
    static func pointReferences(in text: String) -> [String] {
        text.matches(of: /\{point:([^}]+)\}/).map { String($0.output.1) }
    }

    /// A chain of points that leads back to its start, or nil.
    static func firstCycle(_ dependencies: [[Int]]) -> [Int]? {
        func visit(_ index: Int, _ path: [Int]) -> [Int]? {
            if let start = path.firstIndex(of: index) { return Array(path[start...]) + [index] }
            for next in dependencies[index] { if let cycle = visit(next, path + [index]) { return cycle } }
            return nil
        }
        for index in dependencies.indices { if let cycle = visit(index, []) { return cycle } }
        return nil
    }

    /// `model.init_from` with each `{point:NAME}` replaced by that point's run folder, as an
    /// absolute path (the run and later summaries may start elsewhere).
    func resolvingPointReferences(_ text: String) -> String {
        var result = text
        for name in SweepRunner.pointReferences(in: text) {
            if let index = points.firstIndex(where: { $0.name == name }) {
                result = result.replacingOccurrences(of: "{point:\(name)}", with: URL(fileURLWithPath: pointDirectory(index)).standardizedFileURL.path)
            }
        }
        return result
    }

    /// The sweep of the spec at `specFile`, in `directory` (default notebooks-out/<experiment>-sweep).
    public init(specFile: String, directory: String?) throws {
        let spec = try ExperimentSpec.load(path: specFile)
        try self.init(spec: spec, specFile: specFile, directory: directory ?? "notebooks-out/\(spec.name)-sweep")
    }

    public func pointDirectory(_ index: Int) -> String {
        directory + "/points/" + String(format: "%03d-", index) + points[index].label
    }

    public func isComplete(_ index: Int) -> Bool { (try? RunReport.read(from: pointDirectory(index)))?.status == .complete }

    /// Indices of the points shard `shard.index` of `shard.count` runs.
    public static func shardIndices(count: Int, shard: (index: Int, count: Int)) -> [Int] {
        (0..<count).filter { $0 % shard.count == shard.index }
    }

    /// Runs the unfinished points among `indices` (default all), then writes the summary
    /// unless told not to; returns (index, exit status) for each run started, and what the
    /// summary found. `threads` per point defaults to cores / jobs.
    @discardableResult
    public func run(executable: String, jobs: Int, indices: [Int]? = nil, threads: Int? = nil, quick: Bool = false,
                    writesSummary: Bool = true, progress: ((String) -> Void)? = nil) throws -> (runs: [(Int, Int32)], summary: SweepSummary?) {
        try FileManager.default.createDirectory(atPath: directory + "/points", withIntermediateDirectories: true)
        // One process drives a sweep folder (two would start the same points and both write
        // the summary). A single point (a Slurm array task) locks only its own run folder.
        let lock = writesSummary ? try FolderLock(directory: directory) : nil
        defer { withExtendedLifetime(lock) {} }
        if lock != nil { for folder in [directory, directory + "/points"] { AtomicFile.removeStaleTemporaries(in: folder) } }
        let threads = threads ?? max(1, ProcessInfo.processInfo.activeProcessorCount / max(jobs, 1))
        var queue: [Int] = []
        var complete = Set(points.indices.filter(isComplete))
        for index in indices ?? Array(points.indices) {
            if complete.contains(index) { progress?("point \(index) (\(points[index].label)) already complete"); continue }
            queue.append(index)
        }
        var results: [(Int, Int32)] = []
        var running: [(Int, Process)] = []
        func launch(_ index: Int) throws {
            var pointSpec = try points[index].apply(to: spec, file: specFile)
            pointSpec.threads = threads
            pointSpec.model.initFrom = pointSpec.model.initFrom.map(resolvingPointReferences)
            let specPath = directory + "/points/" + String(format: "%03d-", index) + points[index].label + ".spec.json"
            try AtomicFile.writeJSON(pointSpec, to: specPath)
            let folder = pointDirectory(index)
            let resuming = FileManager.default.fileExists(atPath: folder + "/report.json")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = ["run", specPath, resuming ? "--resume" : "--out", folder, "--quiet"] + (quick ? ["--quick"] : [])
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            progress?("point \(index) (\(points[index].label)) \(resuming ? "resumed" : "started") with \(threads) thread(s)")
            running.append((index, process))
        }
        // A point waits until the points it starts from are complete.
        func ready(_ index: Int) -> Bool { dependencies[index].allSatisfy(complete.contains) }
        while !queue.isEmpty || !running.isEmpty {
            while running.count < max(jobs, 1), let next = queue.firstIndex(where: ready) { try launch(queue.remove(at: next)) }
            if running.isEmpty, !queue.isEmpty {
                let blocked = queue.map { points[$0].label }.joined(separator: ", ")
                throw SweepError.dependencyFailed(points: blocked)
            }
            if let done = running.firstIndex(where: { !$0.1.isRunning }) {
                let (index, process) = running.remove(at: done)
                results.append((index, process.terminationStatus))
                if isComplete(index) { complete.insert(index) }
                progress?("point \(index) finished with status \(process.terminationStatus)")
            } else {
                usleep(20_000)
            }
        }
        return (results, writesSummary ? try writeSummary(progress: progress) : nil)
    }

    /// sweep.csv (point × stage, the point's values as columns) and sweep.json, into
    /// `directory`; `runDirectory` says where each point's run is (merging points at shards).
    @discardableResult
    public func writeSummary(runDirectory: ((Int) -> String)? = nil, progress: ((String) -> Void)? = nil) throws -> SweepSummary {
        let pointDirectory = runDirectory ?? self.pointDirectory
        let keys = Array(Set(points.flatMap { $0.parameters.map(\.0) })).sorted()
        let deciding = (spec.task ?? .classification).make().decidingMetric.name
        var csv = (["point", "label"] + keys + ["status"] + SweepRunner.stageColumns(deciding)).joined(separator: ",") + "\n"
        var entries: [SweepEntry] = []
        for (index, point) in points.enumerated() {
            let report = try? RunReport.read(from: pointDirectory(index))
            entries.append(SweepEntry(index: index, label: point.label,
                                      values: Dictionary(uniqueKeysWithValues: point.parameters.map { ($0.0, $0.1) }),
                                      runDirectory: pointDirectory(index), status: report?.status.rawValue ?? "pending"))
            guard let report else { continue }
            let values = keys.map { key in point.parameters.first { $0.0 == key }?.1 ?? "" }
            for stage in report.stages {
                let cells = SweepRunner.stageCells(stage, deciding: deciding)
                csv += ([String(index), point.label] + values + [report.status.rawValue] + cells).joined(separator: ",") + "\n"
            }
        }
        try AtomicFile.write(csv, to: directory + "/sweep.csv")
        let file = SweepFile(spec: spec, points: entries)
        try AtomicFile.writeJSON(file, to: directory + "/sweep.json")

        var outcome = SweepSummary()
        do {
            if let (comparison, notes) = try RunComparison.ofSweep(directory, spec: spec.compare, progress: progress) {
                try comparison.write(to: directory, a: "\(directory) \(SweepSummary.describe(spec.compare?.baseline))",
                                     b: "\(directory) \(SweepSummary.describe(spec.compare?.candidate))", notes: notes)
                outcome.comparison = comparison
            }
        } catch {
            outcome.comparisonProblem = "compare: block not evaluated: \(error.localizedDescription)"
        }
        let markdown = outcome.comparison.flatMap { _ in try? String(contentsOfFile: directory + "/compare.md", encoding: .utf8) }
        for (name, content) in SweepPlots.files(file, folder: directory, comparisonMarkdown: markdown) {
            try AtomicFile.write(content, to: directory + "/" + name)
        }
        return outcome
    }

    /// sweep.csv's stage columns: the task's deciding metric on test, validation and int8.
    static func stageColumns(_ deciding: String) -> [String] {
        ["stage", "stage_status", "target_sparsity", "sparsity", "test_\(deciding)", "val_\(deciding)",
         "int8_test_\(deciding)", "train_epoch_seconds", "latency_b1_dense_median_us", "best_engine_b1", "csr_bytes"]
    }

    static func stageCells(_ s: StageRecord, deciding: String) -> [String] {
        [String(s.stage), s.status.rawValue, "\(s.targetSparsity)", "\(s.sparsity)"]
            + ["test", "val", "int8_test"].map { s.metric($0, deciding).map { "\($0)" } ?? "" }
            + [s.trainEpochSeconds.map { "\($0)" } ?? "",
         s.latency(batch: 1).map { "\($0.medianMicroseconds)" } ?? "", s.bestEngine["1"] ?? "", String(s.csrBytes)]
    }
}

/// What writing a sweep's summary found beyond sweep.csv/json: the comparison its spec's
/// `compare:` block asks for, or why it could not be made (e.g. points still missing).
public struct SweepSummary: Sendable {
    public var comparison: RunComparison?
    public var comparisonProblem: String?

    static func describe(_ selection: [String: SweepValue]?) -> String {
        (selection ?? [:]).keys.sorted().map { "\($0)=\(selection![$0]!)" }.joined(separator: " ")
    }
}

public struct SweepEntry: Codable, Sendable, Equatable {
    public let index: Int
    public let label: String
    public let values: [String: String]
    public let runDirectory: String
    public let status: String
    enum CodingKeys: String, CodingKey { case index, label, values, runDirectory = "run_directory", status }
}

public struct SweepFile: Codable, Sendable {
    public let spec: ExperimentSpec
    public let points: [SweepEntry]

    /// The sweep.json of the sweep folder `folder`.
    public static func read(from folder: String) throws -> SweepFile {
        guard let data = FileManager.default.contents(atPath: folder + "/sweep.json") else { throw SweepError.notASweep(path: folder) }
        return try JSONCoding.decoder.decode(SweepFile.self, from: data)
    }

    public static func exists(in folder: String) -> Bool { FileManager.default.fileExists(atPath: folder + "/sweep.json") }
}

extension SweepRunner {
    /// `topiary merge`: the shard folders of one sweep combined into a summary in
    /// `directory`. Every shard must come from the same spec (sweep included); each point is
    /// taken from the shard where it is complete (else the first that ran it).
    public static func merge(shards: [String], into directory: String, specFile: String = "<merged>") throws -> (SweepRunner, SweepSummary) {
        precondition(!shards.isEmpty, "nothing to merge")
        let files = try shards.map(SweepFile.read(from:))
        for (shard, file) in zip(shards, files).dropFirst() where file.spec != files[0].spec {
            throw SweepError.specsDiffer(first: shards[0], other: shard)
        }
        let runner = try SweepRunner(spec: files[0].spec, specFile: specFile, directory: directory)
        var chosen: [Int: String] = [:]
        for file in files {
            for entry in file.points where entry.status != "pending" {
                if chosen[entry.index] == nil || entry.status == "complete" { chosen[entry.index] = entry.runDirectory }
            }
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let lock = try FolderLock(directory: directory)
        defer { withExtendedLifetime(lock) {} }
        let summary = try runner.writeSummary { chosen[$0] ?? runner.pointDirectory($0) }
        return (runner, summary)
    }
}

public enum SweepError: Error, LocalizedError, Equatable {
    case notASweep(path: String)
    case specsDiffer(first: String, other: String)
    /// Points that start from another point's run could not start: that point did not complete.
    case dependencyFailed(points: String)
    public var errorDescription: String? {
        switch self {
        case .dependencyFailed(let points):
            return "points \(points) start from another point ({point:NAME} in model.init_from) that is not complete in this sweep folder; if it failed, see its run folder, fix it and run the sweep again; with --shard or --point, run the points they start from first."
        case .notASweep(let path): return "\(path) has no sweep.json: it is not a sweep folder (run topiary sweep first)."
        case .specsDiffer(let first, let other): return "\(other) was swept from a different spec than \(first); only shards of one sweep can be merged."
        }
    }
}
