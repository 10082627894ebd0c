import TopiaryData
import TopiaryTraining

/// `federated:` — train and retrain by simulated federated rounds instead of epochs on the
/// whole training set. Stage 0 is `rounds` rounds from the initial model; each pruning stage
/// prunes the aggregated model on the server, broadcasts the mask and runs `rounds` more.
/// Clients use the phase's optimizer (`training.optimizer`, then `pruning.retraining`) afresh
/// each round, at its learning rate, for `local_steps` steps of `batch_size` rows.
///
///     federated:
///       clients: 10
///       partition: dirichlet     # iid | dirichlet (alpha) | by_group (whole recordings)
///       alpha: 0.3
///       rounds: 20               # per phase
///       clients_per_round: 10
///       local_steps: 20
///       aggregation: trimmed_mean  # fedavg | fedprox (mu) | trimmed_mean (beta) | median
///       beta: 0.2
///       encoding: sparse         # dense | sparse | sparse_int8: what updates travel as
///       dropout: 0.1             # chance a selected client drops out of a round
///       straggler_fraction: 0.2  # of each round's participants, cut at `deadline` of the steps
///       deadline: 0.5
///       poisoned_clients: 2      # the first N clients poison every update
///       attack: sign_flip        # sign_flip (−scale·Δ) | scale (scale·Δ)
///       attack_scale: 1
///       client_evaluation_rows: 1000  # each participant's model is scored on the first N
///                                # validation rows for the spread columns (default: all;
///                                # 0: not at all — one evaluation per client per round adds up)
public struct FederatedSpec: Codable, Sendable, Equatable {
    public enum Partition: String, Codable, CaseIterable, Sendable { case iid, dirichlet, byGroup = "by_group" }
    public enum Aggregation: String, Codable, CaseIterable, Sendable { case fedavg, fedprox, trimmedMean = "trimmed_mean", median }
    public enum Attack: String, Codable, CaseIterable, Sendable { case signFlip = "sign_flip", scale }

    public var clients: Int
    public var partition: Partition = .iid
    public var alpha: Double?
    public var rounds: Int
    public var clientsPerRound: Int?
    public var localSteps: Int
    public var aggregation: Aggregation = .fedavg
    public var mu: Double?
    public var beta: Double?
    public var encoding: UpdateEncoding = .sparse
    public var dropout: Double = 0
    public var stragglerFraction: Double = 0
    public var deadline: Double = 0.5
    public var poisonedClients: Int = 0
    public var attack: Attack = .signFlip
    public var attackScale: Double = 1
    /// Validation rows each participant's local model is scored on (nil: all of them).
    public var clientEvaluationRows: Int?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case clients, partition, alpha, rounds, clientsPerRound = "clients_per_round", localSteps = "local_steps", aggregation, mu, beta
        case encoding, dropout, stragglerFraction = "straggler_fraction", deadline, poisonedClients = "poisoned_clients", attack
        case attackScale = "attack_scale", clientEvaluationRows = "client_evaluation_rows"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        clients = try c.decode(Int.self, forKey: .clients)
        if !(1...10_000).contains(clients) { throw decoder.problem(CodingKeys.clients, "must be 1 to 10000, got \(clients).") }
        if c.contains(.partition) { partition = try c.decodeEnum(Partition.self, forKey: .partition, decoder: decoder) }
        alpha = try c.decodeIfPresent(Double.self, forKey: .alpha)
        if partition == .dirichlet {
            guard let alpha, alpha > 0, alpha.isFinite else {
                throw decoder.problem(CodingKeys.alpha, "partition dirichlet needs alpha > 0 (0.1–0.5 skews labels strongly, 100 is nearly IID).")
            }
        } else if alpha != nil {
            throw decoder.problem(CodingKeys.alpha, "applies to partition: dirichlet only.")
        }
        rounds = try c.decode(Int.self, forKey: .rounds)
        if !(1...100_000).contains(rounds) { throw decoder.problem(CodingKeys.rounds, "must be 1 to 100000, got \(rounds).") }
        clientsPerRound = try c.decodeIfPresent(Int.self, forKey: .clientsPerRound)
        if let clientsPerRound, !(1...clients).contains(clientsPerRound) {
            throw decoder.problem(CodingKeys.clientsPerRound, "must be 1 to clients (\(clients)), got \(clientsPerRound).")
        }
        localSteps = try c.decode(Int.self, forKey: .localSteps)
        if !(1...100_000).contains(localSteps) { throw decoder.problem(CodingKeys.localSteps, "must be 1 to 100000, got \(localSteps).") }
        if c.contains(.aggregation) { aggregation = try c.decodeEnum(Aggregation.self, forKey: .aggregation, decoder: decoder) }
        mu = try c.decodeIfPresent(Double.self, forKey: .mu)
        beta = try c.decodeIfPresent(Double.self, forKey: .beta)
        switch aggregation {
        case .fedprox:
            guard let mu, mu > 0, mu.isFinite else { throw decoder.problem(CodingKeys.mu, "aggregation fedprox needs mu > 0 (the proximal weight; 0.01 is common).") }
        case .trimmedMean:
            guard let beta, beta >= 0, beta < 0.5 else {
                throw decoder.problem(CodingKeys.beta, "aggregation trimmed_mean needs beta in [0, 0.5): the fraction dropped at each end per coordinate.")
            }
        default: break
        }
        if mu != nil, aggregation != .fedprox { throw decoder.problem(CodingKeys.mu, "applies to aggregation: fedprox only.") }
        if beta != nil, aggregation != .trimmedMean { throw decoder.problem(CodingKeys.beta, "applies to aggregation: trimmed_mean only.") }
        if c.contains(.encoding) { encoding = try c.decodeEnum(UpdateEncoding.self, forKey: .encoding, decoder: decoder) }
        dropout = try c.decodeIfPresent(Double.self, forKey: .dropout) ?? 0
        if !(0..<1).contains(dropout) { throw decoder.problem(CodingKeys.dropout, "must lie in [0, 1), got \(dropout).") }
        stragglerFraction = try c.decodeIfPresent(Double.self, forKey: .stragglerFraction) ?? 0
        if !(0...1).contains(stragglerFraction) { throw decoder.problem(CodingKeys.stragglerFraction, "must lie in [0, 1], got \(stragglerFraction).") }
        deadline = try c.decodeIfPresent(Double.self, forKey: .deadline) ?? 0.5
        if !(deadline > 0 && deadline <= 1) { throw decoder.problem(CodingKeys.deadline, "must lie in (0, 1]: the fraction of local steps a straggler finishes; got \(deadline).") }
        poisonedClients = try c.decodeIfPresent(Int.self, forKey: .poisonedClients) ?? 0
        if !(0..<clients).contains(poisonedClients) && poisonedClients != 0 {
            throw decoder.problem(CodingKeys.poisonedClients, "must be 0 to clients − 1 (\(clients - 1)), got \(poisonedClients).")
        }
        if c.contains(.attack) { attack = try c.decodeEnum(Attack.self, forKey: .attack, decoder: decoder) }
        attackScale = try c.decodeIfPresent(Double.self, forKey: .attackScale) ?? 1
        if !(attackScale > 0 && attackScale <= 1e6) { throw decoder.problem(CodingKeys.attackScale, "must be > 0 and at most 1e6, got \(attackScale).") }
        clientEvaluationRows = try c.decodeIfPresent(Int.self, forKey: .clientEvaluationRows)
        if let rows = clientEvaluationRows, rows < 0 {
            throw decoder.problem(CodingKeys.clientEvaluationRows, "must be >= 0 (0: clients are not evaluated; leave it out to use every validation row), got \(rows).")
        }
    }

    public var clientPartition: ClientPartition {
        switch partition {
        case .iid: return .iid
        case .dirichlet: return .dirichlet(alpha: alpha!)
        case .byGroup: return .byGroup
        }
    }

    /// The simulation's settings for a phase trained at `learningRate` with `batchSize` rows.
    public func settings(learningRate: Float, batchSize: Int) -> FederatedSettings {
        var settings = FederatedSettings(clientsPerRound: clientsPerRound ?? clients, localSteps: localSteps, batchSize: batchSize, learningRate: learningRate)
        switch aggregation {
        case .fedavg: settings.aggregation = .fedAvg
        case .fedprox: settings.aggregation = .fedAvg; settings.proximalMu = Float(mu!)
        case .trimmedMean: settings.aggregation = .trimmedMean(beta: beta!)
        case .median: settings.aggregation = .median
        }
        settings.encoding = encoding
        settings.dropoutProbability = dropout
        settings.stragglerFraction = stragglerFraction
        settings.deadlineFraction = deadline
        settings.poisonedClients = Set(0..<poisonedClients)
        settings.attack = attack == .signFlip ? .signFlip(scale: Float(attackScale)) : .scale(factor: Float(attackScale))
        settings.clientEvaluationRows = clientEvaluationRows
        return settings
    }
}
