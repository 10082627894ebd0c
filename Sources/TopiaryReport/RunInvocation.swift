/// The command-line flags a run was started with, kept in report.json so a resume measures
/// and trains exactly as the run began (its latency columns never mix thread counts).
public struct RunInvocation: Codable, Sendable, Equatable {
    public var quick: Bool
    public var seed: UInt64?
    public var scorer: String?
    public var latencyThreads: Int?
    enum CodingKeys: String, CodingKey { case quick, seed, scorer, latencyThreads = "latency_threads" }

    /// The flags as they are typed, for a command that continues the run.
    public var flags: [String] {
        (quick ? ["--quick"] : []) + (seed.map { ["--seed", "\($0)"] } ?? []) + (scorer.map { ["--scorer", $0] } ?? [])
            + (latencyThreads.map { ["--latency-threads", "\($0)"] } ?? [])
    }

    public init(quick: Bool, seed: UInt64? = nil, scorer: String? = nil, latencyThreads: Int? = nil) {
        self.quick = quick
        self.seed = seed
        self.scorer = scorer
        self.latencyThreads = latencyThreads
    }
}
