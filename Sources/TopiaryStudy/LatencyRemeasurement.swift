import Foundation
import TopiaryMetrics
import TopiaryReport

/// `topiary compare --remeasure`: the latency of both sides measured again, now, on this
/// machine, from the runs' checkpoints.
///
/// Why: a sweep's points were timed minutes or hours apart on a shared machine, so a latency
/// difference between them mixes the models with the machine's drift (the same dense model
/// measured +20 % or +105 % slower an hour later). Here every level both sides reached is
/// timed with A's and B's checkpoints alternating — A₁ B₁ A₂ B₂ … — for `rounds` rounds, and
/// each checkpoint's latency is the median over its rounds, so drift hits both sides alike.
public struct LatencyRemeasurement {
    public var batchSizes: [Int]
    /// Timed calls at batch 1 per round (larger batches use a tenth, at least 5).
    public var repetitions: Int
    public var threads: Int
    public var rounds: Int

    public init(batchSizes: [Int], repetitions: Int, threads: Int, rounds: Int) {
        precondition(!batchSizes.isEmpty && repetitions > 0 && threads > 0 && rounds > 0)
        self.batchSizes = batchSizes
        self.repetitions = repetitions
        self.threads = threads
        self.rounds = rounds
    }

    /// As the runs measured themselves: A's first run's batch sizes, repetitions and
    /// latency threads; `rounds` rounds.
    public init(like groups: [RunComparison.Group], rounds: Int) {
        let first = groups[0].a[0].report
        self.init(batchSizes: first.spec.measurement.latencyBatchSizes, repetitions: first.spec.measurement.latencyRepetitions,
                  threads: first.stages.first?.latencyThreads ?? 1, rounds: rounds)
    }

    /// One line for a comparison's notes: where and how the latency was measured again.
    public var note: String {
        "latency re-measured on this machine (\(RunEnvironment.current().cpuModel), \(threads) thread(s)): "
            + "\(rounds) round(s) with A's and B's checkpoints alternating (and A's again, to calibrate); each value is the median over its rounds."
    }

    /// The groups with re-measured latency, and the calibration: the same A checkpoints
    /// timed a second time as if they were B, so a gate can see how far two timings of one
    /// model differ on this machine now.
    public struct Result {
        public let groups: [RunComparison.Group]
        /// Per group: A (re-measured) against A timed again.
        public let calibration: [RunComparison.Group]
    }

    /// `groups` with the latency of every compared stage replaced by the re-measured one.
    /// Each replicate needs its run folder with the stage's accepted checkpoint.
    ///
    /// Each stage's A, B and A-again checkpoints form a unit timed in a rotating order (A B A′,
    /// then B A′ A, then A′ A B, …): a model is not always timed first or right after the
    /// same one, so a burst or a drift of the machine's load cannot favour one side. (`compare
    /// A A --remeasure` once gave +89 % on identical models, four times out of four.)
    public func apply(to groups: [RunComparison.Group], progress: ((String) -> Void)? = nil) throws -> Result {
        /// side 0: A, 1: B, 2: A again (calibration).
        struct Job { let group: Int, side: Int, replicate: Int, stage: Int, checkpoint: String, bench: ModelBench }
        var benches: [String: ModelBench] = [:]
        var units: [[Job]] = []
        for (g, group) in groups.enumerated() {
            let levels = (a: group.a.map { RunComparison.levels($0.report) }, b: group.b.map { RunComparison.levels($0.report) })
            let common = RunComparison.reachedByAll(levels.a).intersection(RunComparison.reachedByAll(levels.b)).sorted()
            for key in common {
                for index in 0..<max(group.a.count, group.b.count) {
                    var unit: [Job] = []
                    for side in 0...2 {
                        let replicates = side == 1 ? group.b : group.a
                        guard index < replicates.count else { continue }
                        let replicate = replicates[index], stage = (side == 1 ? levels.b : levels.a)[index][key]!.stage
                        guard let directory = replicate.directory else { throw RemeasurementError.noRunFolder(replicate: replicate.id) }
                        let bench = try benches[directory] ?? ModelBench(runDirectory: directory)
                        benches[directory] = bench
                        guard let checkpoint = try bench.checkpointPath(afterStage: stage) else {
                            throw RemeasurementError.noCheckpoint(directory: directory, stage: stage)
                        }
                        unit.append(Job(group: g, side: side, replicate: index, stage: stage, checkpoint: checkpoint, bench: bench))
                    }
                    units.append(unit)
                }
            }
        }
        let jobs = units.flatMap { $0 }
        var timings: [[[EngineMeasurement.Whole]]] = units.map { Array(repeating: [], count: $0.count) }
        for round in 1...rounds {
            progress?("re-measuring latency: round \(round)/\(rounds), \(jobs.count) checkpoint timings, A, B and A again in turns")
            for (u, unit) in units.enumerated() {
                for offset in 0..<unit.count {
                    let member = (offset + round - 1) % unit.count
                    let job = unit[member]
                    let row = try job.bench.measure(checkpointAt: job.checkpoint, batchSizes: batchSizes, repetitions: repetitions,
                                                    threads: threads, accuracy: false)
                    timings[u][member] += row.measurement.whole
                }
            }
        }
        // Sides 0, 1, 2 of every group: its replicates with the re-measured latency.
        var sides = groups.map { [$0.a, $0.b, $0.a] }
        for (u, unit) in units.enumerated() {
            for (member, job) in unit.enumerated() {
                let replicate = sides[job.group][job.side][job.replicate]
                var report = replicate.report
                let index = report.stages.lastIndex { $0.stage == job.stage && $0.status == .accepted }!
                report.stages[index].latency = Self.combine(timings[u][member])
                sides[job.group][job.side][job.replicate] = RunComparison.Replicate(id: replicate.id, report: report, directory: replicate.directory)
            }
        }
        return Result(groups: zip(groups, sides).map { RunComparison.Group(configuration: $0.configuration, a: $1[0], b: $1[1]) },
                      calibration: zip(groups, sides).map { RunComparison.Group(configuration: $0.configuration, a: $1[0], b: $1[2]) })
    }

    /// One latency record per engine and batch size from several rounds: the median of the
    /// rounds' medians and of their p95s, the smallest minimum, the calls summed.
    static func combine(_ rounds: [EngineMeasurement.Whole]) -> [LatencyRecord] {
        var order: [String] = []
        var byKey: [String: [EngineMeasurement.Whole]] = [:]
        for whole in rounds {
            let key = "\(whole.batchSize) \(whole.engine)"
            if byKey[key] == nil { order.append(key) }
            byKey[key, default: []].append(whole)
        }
        // The order-statistics median latency figures already use.
        func median(_ values: [Double]) -> Double { LatencyStatistics(samples: values).medianMicroseconds }
        return order.map { key in
            let all = byKey[key]!
            var record = LatencyRecord(batchSize: all[0].batchSize, engine: all[0].engine, all[0].statistics)
            record.medianMicroseconds = median(all.map(\.statistics.medianMicroseconds))
            record.p95Microseconds = median(all.map(\.statistics.p95Microseconds))
            record.minMicroseconds = all.map(\.statistics.minMicroseconds).min()!
            record.repetitions = all.reduce(0) { $0 + $1.statistics.repetitions }
            return record
        }
    }
}

public enum RemeasurementError: Error, LocalizedError, Equatable {
    case noRunFolder(replicate: String)
    case noCheckpoint(directory: String, stage: Int)
    public var errorDescription: String? {
        switch self {
        case .noRunFolder(let replicate):
            return "--remeasure needs each run's folder, and replicate '\(replicate)' has none."
        case .noCheckpoint(let directory, let stage):
            return "\(directory)/checkpoints holds no accepted checkpoint of stage \(stage), so its latency cannot be measured again; compare without --remeasure."
        }
    }
}
