import ArgumentParser
import Foundation
import TopiaryStudy

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run every point of a spec's sweep: section; re-running skips finished points and resumes interrupted ones.")

    @Argument(help: "A spec with a sweep: section (grid and/or points).")
    var spec: String

    @Option(parsing: .unconditional, help: "Points run at once (BLAS threads are divided so jobs × threads ≤ cores).")
    var jobs = 1

    @Option(help: "Run only shard i of n (points whose index mod n is i), e.g. 0/4.")
    var shard = "0/1"

    @Option(parsing: .unconditional, help: "Run only this point (its index in sweep.csv); writes no summary, as Slurm array tasks do.")
    var point: Int?

    @Option(parsing: .unconditional, help: "BLAS threads per point (default: cores / jobs).")
    var threads: Int?

    @Option(help: "The sweep folder (default notebooks-out/<experiment>-sweep).")
    var out: String?

    @Flag(help: "Small data slices, one epoch per phase, for every point.")
    var quick = false

    func run() throws {
        let parts = shard.split(separator: "/").compactMap { Int($0) }
        guard parts.count == 2, parts[1] >= 1, parts[0] >= 0, parts[0] < parts[1] else {
            throw ValidationError("--shard takes i/n with 0 <= i < n, e.g. 0/4; got '\(shard)'.")
        }
        guard jobs >= 1 else { throw ValidationError("--jobs must be >= 1, got \(jobs).") }
        if let threads, threads < 1 { throw ValidationError("--threads must be >= 1, got \(threads).") }
        let results: [(Int, Int32)], summary: SweepSummary?
        let runner: SweepRunner
        do {
            runner = try SweepRunner(specFile: spec, directory: out)
            if let point, !runner.points.indices.contains(point) {
                throw ValidationError("--point \(point) is not a point of this sweep (it has \(runner.points.count): 0…\(runner.points.count - 1)).")
            }
            let indices = point.map { [$0] } ?? SweepRunner.shardIndices(count: runner.points.count, shard: (parts[0], parts[1]))
            (results, summary) = try runner.run(executable: topiaryExecutable, jobs: jobs, indices: indices, threads: threads, quick: quick,
                                                writesSummary: point == nil, progress: progressPrinter(quiet: false))
        } catch {
            throw fail(error)
        }
        let failed = results.filter { $0.1 != 0 }
        print("sweep \(runner.directory): \(runner.points.count) points, \(results.count) run now, \(failed.count) failed")
        if jobs > 1 && results.count > 1 {
            print("note: latency was measured while up to \(jobs) points ran at once; compare latency from a --jobs 1 sweep.")
        }
        if let summary {
            print("summary: \(runner.directory)/sweep.csv, sweep.json, index.html")
            printComparison(summary, folder: runner.directory)
        }
        if !failed.isEmpty {
            print("failed points: " + failed.map { "\($0.0) (\(runner.points[$0.0].label), status \($0.1))" }.joined(separator: ", "))
            throw ExitCode(1)
        }
    }
}

/// The verdict of a sweep spec's compare: block, after a sweep or a merge.
func printComparison(_ summary: SweepSummary, folder: String) {
    if let comparison = summary.comparison {
        print("compare (spec's compare: block): \(comparison.verdictLine) \(folder)/compare.md")
    } else if let problem = summary.comparisonProblem {
        print(problem)
    }
}
