import TopiaryTraining

/// One federated round of a run (`federated:`): the simulation's record of it, the phase it
/// belongs to and the sparsity it ran at — a row of rounds.csv. In report.json the record's
/// fields sit beside `stage` and `sparsity` in one object.
public struct FederatedRoundRow: Codable, Sendable, Equatable {
    /// The phase: 0 for the rounds before pruning, k for the rounds after stage k's pruning.
    public var stage: Int
    public var sparsity: Double
    /// Metrics are on the validation split.
    public var record: RoundRecord

    enum CodingKeys: String, CodingKey { case stage, sparsity }

    public init(stage: Int, sparsity: Double, record: RoundRecord) {
        self.stage = stage
        self.sparsity = sparsity
        self.record = record
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        stage = try c.decode(Int.self, forKey: .stage)
        sparsity = try c.decode(Double.self, forKey: .sparsity)
        record = try RoundRecord(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        try record.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(stage, forKey: .stage)
        try c.encode(sparsity, forKey: .sparsity)
    }
}

extension ReportColumns {
    /// rounds.csv (with federated:): one row per round.
    public static func rounds(task: TaskRecord) -> [ReportColumn<FederatedRoundRow>] {
        @Sendable func ids(_ list: [Int]) -> String { list.map(String.init).joined(separator: " ") }
        @Sendable func sorted(_ row: FederatedRoundRow) -> [Double] { row.record.clientMetrics.filter { !$0.isNaN }.sorted() }
        var columns: [ReportColumn<FederatedRoundRow>] = [
            .init(name: "stage", meaning: "0: rounds before pruning; k: rounds after prune stage k") { "\($0.stage)" },
            .init(name: "round", meaning: "round within the stage, from 1") { "\($0.record.round)" },
            .init(name: "participants", meaning: "clients whose update arrived, space-separated ids") { ids($0.record.participants) },
            .init(name: "dropped", meaning: "selected clients that dropped out") { ids($0.record.dropped) },
            .init(name: "stragglers", meaning: "participants cut at the deadline (they sent what they finished)") { ids($0.record.stragglers) },
            .init(name: "poisoned", meaning: "participants that sent a poisoned update") { ids($0.record.poisoned) },
            .init(name: "bytes_up", meaning: "bytes of the encoded updates received this round") { "\($0.record.bytesUp)" },
            .init(name: "bytes_down", meaning: "bytes of the model (and, after pruning, the mask) sent to the selected clients") { "\($0.record.bytesDown)" },
        ]
        for metric in task.metrics {
            let key = "val_\(metric.name)"
            columns.append(.init(name: key, meaning: "\(metric.meaning) of the aggregated model on the validation split") { $0.record.metrics[metric.name].map(format) ?? "" })
        }
        let deciding = task.deciding
        @Sendable func median(_ row: FederatedRoundRow) -> String {
            let values = sorted(row), middle = values.count / 2
            guard !values.isEmpty else { return "" }
            return format(values.count % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2)
        }
        columns += [
            .init(name: "client_\(deciding)_min", meaning: "lowest validation \(deciding) of a participant's local model") { sorted($0).first.map(format) ?? "" },
            .init(name: "client_\(deciding)_median", meaning: "median validation \(deciding) of the participants' local models") { median($0) },
            .init(name: "client_\(deciding)_max", meaning: "highest validation \(deciding) of a participant's local model") { sorted($0).last.map(format) ?? "" },
            .init(name: "sparsity", meaning: "fraction of prunable weights that are zero") { format($0.sparsity) },
            .init(name: "seconds", meaning: "wall-clock seconds of the round (clients' training, encoding, aggregation, evaluation)") { format($0.record.seconds) },
        ]
        return columns
    }
}
