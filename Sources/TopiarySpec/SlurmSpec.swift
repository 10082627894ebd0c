/// `slurm:` — resources of each array task `topiary slurm` submits (one task per sweep
/// point); command-line flags override them.
///
///     slurm:
///       cpus_per_task: 2       # also the point's BLAS threads
///       time: "00:30:00"       # Slurm time limit: minutes, MM:SS, HH:MM:SS, D-HH[:MM[:SS]]
///       memory: 2G             # --mem per task: a number with K, M, G or T
///       partition: debug       # optional
public struct SlurmSpec: Codable, Sendable, Equatable {
    public var cpusPerTask: Int = 2
    public var time: String = "01:00:00"
    public var memory: String = "2G"
    public var partition: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case cpusPerTask = "cpus_per_task", time, memory, partition
    }

    public init() {}

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        cpusPerTask = try c.decodeIfPresent(Int.self, forKey: .cpusPerTask) ?? 2
        time = try c.decodeIfPresent(String.self, forKey: .time) ?? "01:00:00"
        memory = try c.decodeIfPresent(String.self, forKey: .memory) ?? "2G"
        partition = try c.decodeIfPresent(String.self, forKey: .partition)
        if let problem = SlurmSpec.problem(cpusPerTask: cpusPerTask, time: time, memory: memory, partition: partition) {
            throw decoder.problem(problem.key, problem.message)
        }
    }

    /// The first invalid setting, shared by the spec decoder and the command's flags.
    static func problem(cpusPerTask: Int, time: String, memory: String, partition: String?) -> (key: CodingKeys, message: String)? {
        if cpusPerTask < 1 { return (.cpusPerTask, "must be >= 1, got \(cpusPerTask).") }
        if !isSlurmTime(time) {
            return (.time, "'\(time)' is not a Slurm time limit; use minutes, MM:SS, HH:MM:SS or D-HH:MM:SS (e.g. \"00:30:00\").")
        }
        let digits = memory.dropLast(memory.last.map { "KMGTkmgt".contains($0) } == true ? 1 : 0)
        if digits.isEmpty || !digits.allSatisfy(\.isASCIIDigit) || Int(digits) == 0 {
            return (.memory, "'\(memory)' is not a memory size; use a number with an optional K, M, G or T suffix (e.g. 2G).")
        }
        if let partition, partition.isEmpty || partition.contains(where: { $0.isWhitespace }) {
            return (.partition, "'\(partition)' is not a partition name.")
        }
        return nil
    }

    /// The first invalid setting, named as the `topiary slurm` flag that sets it.
    public var problem: (flag: String, message: String)? {
        SlurmSpec.problem(cpusPerTask: cpusPerTask, time: time, memory: memory, partition: partition).map { problem in
            (["cpus_per_task": "cpus-per-task", "memory": "mem"][problem.key.stringValue] ?? problem.key.stringValue, problem.message)
        }
    }

    /// Slurm's accepted time limits: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S.
    static func isSlurmTime(_ text: String) -> Bool {
        let dayParts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard dayParts.count <= 2, dayParts.allSatisfy({ !$0.isEmpty }) else { return false }
        let clock = dayParts.last!.split(separator: ":", omittingEmptySubsequences: false)
        guard clock.count <= 3, clock.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCIIDigit) }) else { return false }
        if dayParts.count == 2 { return dayParts[0].allSatisfy(\.isASCIIDigit) }
        return true
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
