import Foundation
import TopiaryData
import TopiaryMetrics
import TopiaryNN
import TopiaryOptim
import TopiaryTensor

/// What a poisoned client does to its honest update before sending it.
public enum ClientAttack: Sendable, Equatable {
    /// −scale · Δ: pushes the global model back up the loss.
    case signFlip(scale: Float)
    /// factor · Δ: one client outvoting the rest in a mean.
    case scale(factor: Float)

    func apply(to update: Tensor) {
        switch self {
        case .signFlip(let scale): scaleInPlace(update, by: -scale)
        case .scale(let factor): scaleInPlace(update, by: factor)
        }
    }
}

/// One federated setting: who takes part in a round, how long they train, how their
/// updates travel and are combined, and what goes wrong.
public struct FederatedSettings: Sendable, Equatable {
    public var clientsPerRound: Int
    /// Optimizer steps each client takes per round (a straggler fewer).
    public var localSteps: Int
    public var batchSize: Int
    public var learningRate: Float
    public var aggregation: UpdateAggregation = .fedAvg
    /// FedProx's μ: each client's gradient gains μ·(w − w_global). 0: plain local training.
    public var proximalMu: Float = 0
    public var encoding: UpdateEncoding = .sparse
    /// Chance that a selected client drops out of a round (its update never arrives).
    public var dropoutProbability: Double = 0
    /// Fraction of a round's participants that are slow, and the fraction of the local steps
    /// they finish before the server's deadline cuts them off.
    public var stragglerFraction: Double = 0
    public var deadlineFraction: Double = 0.5
    /// Clients (indices) that poison every update they send, and how.
    public var poisonedClients: Set<Int> = []
    public var attack: ClientAttack = .signFlip(scale: 1)
    /// Largest gradient norm of each local step (nil: not clipped).
    public var gradientClip: Float?
    /// Evaluation rows each participant's local model is scored on for the client spread
    /// (nil: all; 0: none, the round's client metrics stay empty).
    public var clientEvaluationRows: Int?

    /// What participants' local models are scored on: the first `clientEvaluationRows` rows.
    public func clientEvaluationSet(of evaluation: Dataset) -> Dataset {
        guard let rows = clientEvaluationRows, rows < evaluation.count else { return evaluation }
        return evaluation.subset(Array(0..<rows))
    }

    /// Local steps a participant takes: all of them, or a straggler's share before the deadline.
    public func localSteps(straggler: Bool) -> Int {
        straggler ? max(1, Int(deadlineFraction * Double(localSteps))) : localSteps
    }

    public init(clientsPerRound: Int, localSteps: Int, batchSize: Int, learningRate: Float) {
        self.clientsPerRound = clientsPerRound
        self.localSteps = localSteps
        self.batchSize = batchSize
        self.learningRate = learningRate
    }
}

/// What one round did and cost.
public struct RoundRecord: Codable, Sendable, Equatable {
    public var round: Int
    public var selected: [Int]
    /// Clients whose update arrived (stragglers included: they send what they finished).
    public var participants: [Int]
    public var dropped: [Int]
    public var stragglers: [Int]
    public var poisoned: [Int]
    /// Bytes of the encoded updates received, and of the model broadcast to the selected clients.
    public var bytesUp: Int
    public var bytesDown: Int
    /// The aggregated global model's metrics on the evaluation set.
    public var metrics: [String: Double]
    /// Each participant's local model's deciding metric on the evaluation set (its first
    /// `clientEvaluationRows`), in participant order; empty when clients are not evaluated.
    public var clientMetrics: [Double]
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case round, selected, participants, dropped, stragglers, poisoned, bytesUp = "bytes_up", bytesDown = "bytes_down", metrics
        case clientMetrics = "client_metrics", seconds
    }
}

/// Federated training simulated on one machine: one model whose weights each client in turn
/// starts from the global ones and trains on its own rows under the global masks; the
/// updates are encoded to real bytes, decoded, aggregated, and applied masked, so no client
/// (honest or not) can revive a pruned weight. Buffers (BatchNorm statistics) stay the
/// global model's. With `adapters`, clients train those instead (LoRA on the frozen pruned
/// base): only the adapters' updates travel, and the weights are rewritten from the
/// aggregated adapters. Deterministic for a seed.
public final class FederatedSimulation {
    public let model: any Model
    public let task: any Task
    public let clients: [Dataset]
    public var settings: FederatedSettings
    /// What clients train instead of the model's weights (nil: the weights themselves).
    public var adapters: (any WeightReparametrization)?
    /// The store clients train and send updates of.
    var trained: ParameterStore { adapters?.store ?? model.store }
    public var codec: UpdateCodec { UpdateCodec(store: trained) }
    /// Each client's fresh optimizer every round (the phase's kind; the rate is `settings`').
    public var makeOptimizer: (ParameterStore) -> any Optimizer
    var generator: SeededGenerator
    /// Clients not yet sent the current mask (every client at first, and again after each
    /// prune): a client's first broadcast after a prune carries the mask — and with adapters
    /// the pruned base — whenever it is first selected after it.
    private var awaitingMask: Set<Int>

    public init(model: any Model, task: any Task, clients: [Dataset], settings: FederatedSettings, seed: UInt64,
                makeOptimizer: @escaping (ParameterStore) -> any Optimizer) {
        precondition(!clients.isEmpty && clients.allSatisfy { $0.count > 0 }, "every client needs a training row")
        precondition((1...clients.count).contains(settings.clientsPerRound),
                     "clients per round must lie in 1...\(clients.count), but got \(settings.clientsPerRound)")
        precondition(settings.localSteps >= 1 && settings.batchSize >= 1, "local steps and batch size must be >= 1")
        self.model = model
        self.task = task
        self.clients = clients
        self.settings = settings
        self.makeOptimizer = makeOptimizer
        generator = SeededGenerator(seed: seed, stream: "federated")
        awaitingMask = Set(clients.indices)
    }

    /// Call after the server changed the masks: each client's next broadcast includes them.
    public func masksChanged() { awaitingMask = Set(clients.indices) }

    /// What a checkpoint between rounds keeps: the generator (client selection, faults,
    /// local shuffles), with `clientsAwaitingMask`.
    public var generatorState: [UInt64] {
        get { generator.stateArray }
        set { generator = SeededGenerator(stateArray: newValue) }
    }
    /// Clients whose next broadcast must carry the current mask (a checkpoint keeps them).
    public var clientsAwaitingMask: [Int] {
        get { awaitingMask.sorted() }
        set {
            precondition(newValue.allSatisfy(clients.indices.contains), "client indices \(newValue) outside 0..<\(clients.count)")
            awaitingMask = Set(newValue)
        }
    }

    /// One round: selection, local training, encoding, aggregation; the global model scored on
    /// `evaluation`, participants on `clientEvaluation` (`settings.clientEvaluationSet(of:
    /// evaluation)`, which copies rows: a caller running many rounds makes it once).
    public func runRound(_ round: Int, evaluation: Dataset, clientEvaluation: Dataset? = nil, evaluationBatchSize: Int = 1000) throws -> RoundRecord {
        let start = monotonicNanoseconds()
        let store = trained, codec = self.codec
        let global = store.values.copy()
        let selected = Array(generator.permutation(clients.count).prefix(settings.clientsPerRound)).sorted()
        let dropped = selected.filter { _ in Double(generator.nextUnitFloat()) < settings.dropoutProbability }
        let participants = selected.filter { !dropped.contains($0) }
        let slow = Int((settings.stragglerFraction * Double(participants.count)).rounded())
        let stragglers = Array(generator.permutation(participants.count).prefix(slow)).map { participants[$0] }.sorted()
        var updates: [Tensor] = [], weights: [Double] = [], clientMetrics: [Double] = []
        let clientEvaluation = clientEvaluation ?? settings.clientEvaluationSet(of: evaluation)
        var bytesUp = 0
        for client in participants {
            store.values.assign(from: global)
            adapters?.materialize()
            let steps = settings.localSteps(straggler: stragglers.contains(client))
            let trainer = Trainer(model: model, task: task, optimizer: makeOptimizer(store),
                                  schedule: LearningRateSchedule(baseRate: settings.learningRate, totalSteps: steps),
                                  batches: BatchIterator(dataset: clients[client], batchSize: settings.batchSize))
            trainer.reparametrization = adapters
            trainer.gradientClip = settings.gradientClip
            if settings.proximalMu > 0 { trainer.beforeStep = proximalTerm(global: global) }
            _ = try trainer.runSteps(steps, generator: &generator)
            if clientEvaluation.count > 0 {
                clientMetrics.append(Evaluation.measure(model, task: task, on: clientEvaluation, batchSize: evaluationBatchSize)[task.decidingMetric.name] ?? .nan)
            }
            let update = Tensor(zeros: [store.flatCount])
            let (local, before, out) = (store.values.pointer, global.pointer, update.pointer)
            for i in 0..<update.count { out[i] = local[i] - before[i] }
            multiply(update, store.masks, into: update)
            if settings.poisonedClients.contains(client) { settings.attack.apply(to: update) }
            let bytes = codec.encode(update, as: settings.encoding)
            bytesUp += bytes.count
            updates.append(codec.decode(bytes, as: settings.encoding))
            weights.append(Double(clients[client].count))
        }
        store.values.assign(from: global)
        if !updates.isEmpty {
            // Trained parameters only: buffers and frozen parameters keep the global values.
            let aggregate = settings.aggregation.aggregate(updates, weights: weights)
            for range in store.trainableRanges {
                let (value, delta) = (store.values.pointer, aggregate.pointer)
                for i in range.flat { value[i] += delta[i] }
            }
        }
        if let adapters { adapters.materialize() } else { store.applyMasks() }
        // Every selected client got the global state (dropped ones included: they fail after
        // it arrived); the mask — with adapters the pruned base, sparse with its mask — only
        // the first time it reaches that client.
        var bytesDown = 0
        for client in selected {
            let needsMask = awaitingMask.remove(client) != nil
            bytesDown += codec.broadcastBytes(encoding: settings.encoding, withMask: adapters == nil && needsMask)
            if adapters != nil && needsMask { bytesDown += UpdateCodec.sparseModelBytes(model.store) }
        }
        let metrics = Evaluation.measure(model, task: task, on: evaluation, batchSize: evaluationBatchSize)
        return RoundRecord(round: round, selected: selected, participants: participants, dropped: dropped, stragglers: stragglers,
                           poisoned: participants.filter { settings.poisonedClients.contains($0) }, bytesUp: bytesUp, bytesDown: bytesDown,
                           metrics: metrics, clientMetrics: clientMetrics, seconds: Double(monotonicNanoseconds() - start) / 1e9)
    }

    /// FedProx: ∂/∂w of μ/2·‖w − w_global‖² added to every trained gradient, masked.
    private func proximalTerm(global: Tensor) -> () -> Void {
        let store = trained, mu = settings.proximalMu
        return {
            let (grad, value, anchor, mask) = (store.grads.pointer, store.values.pointer, global.pointer, store.masks.pointer)
            for range in store.trainableRanges {
                for i in range.flat { grad[i] += mu * (value[i] - anchor[i]) * mask[i] }
            }
        }
    }
}
