import ArgumentParser
import Foundation
import TopiaryStudy

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge", abstract: "Combine the shard folders of one sweep into one sweep.csv / sweep.json.")

    @Argument(help: "Shard folders written by topiary sweep --shard i/n.")
    var shards: [String]

    @Option(help: "Folder for the merged summary.")
    var out: String

    func run() throws {
        guard !shards.isEmpty else { throw ValidationError("name at least one shard folder.") }
        do {
            let (runner, summary) = try SweepRunner.merge(shards: shards, into: out)
            print("merged \(shards.count) shard(s), \(runner.points.count) points: \(out)/sweep.csv, sweep.json, index.html")
            printComparison(summary, folder: out)
        } catch {
            throw fail(error)
        }
    }
}
