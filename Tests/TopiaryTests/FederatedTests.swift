import Foundation
import Testing
@testable import TopiaryData
@testable import TopiaryNN
@testable import TopiaryOptim
@testable import TopiarySparsity
@testable import TopiaryTensor
@testable import TopiaryTraining

/// Federated sparse fine-tuning, simulated: partitions, update encodings and their bytes,
/// robust aggregation, and the correctness anchors — one client is centralised training,
/// equal IID clients with one SGD step each are one large-batch step, and no update, honest
/// or poisoned, revives a pruned weight.
extension AllTests {
@Suite struct FederatedTests {
    func data(rows: Int, seed: UInt64, groups: Bool = false) -> Dataset {
        var g = SeededGenerator(seed: seed)
        let inputs = randomTensor([rows, 6], &g)
        let labels = (0..<rows).map { row in Int32((inputs[row * 6] + inputs[row * 6 + 1] > 0 ? 1 : 0) + (row % 3 == 0 ? 2 : 0)) }
        return Dataset(inputs: inputs, labels: labels, classCount: 4, groups: groups ? (0..<rows).map { $0 / 5 } : nil)
    }

    func model(seed: UInt64) -> Sequential {
        var g = SeededGenerator(seed: seed)
        return Sequential.multilayerPerceptron(inputFeatures: 6, hiddenSizes: [8], outputs: 4, generator: &g)
    }

    @Test func partitionsGiveEveryRowToOneClient() throws {
        let set = data(rows: 200, seed: 1, groups: true)
        var g = SeededGenerator(seed: 2)
        for partition in [ClientPartition.iid, .dirichlet(alpha: 0.3), .byGroup] {
            let clients = try partition.assign(set, clients: 10, generator: &g)
            #expect(clients.count == 10 && clients.allSatisfy { !$0.isEmpty })
            #expect(clients.flatMap { $0 }.sorted() == Array(0..<200), "\(partition)")
        }
        let iid = try ClientPartition.iid.assign(set, clients: 10, generator: &g)
        #expect(iid.allSatisfy { $0.count == 20 })
        // Label skew: a Dirichlet(0.3) client's largest class is most of its rows; IID's is not.
        func dominance(_ clients: [[Int]]) -> Double {
            clients.map { rows in Double((0..<4).map { c in rows.filter { set.label($0) == c }.count }.max()!) / Double(rows.count) }.reduce(0, +) / Double(clients.count)
        }
        let skewed = try ClientPartition.dirichlet(alpha: 0.3).assign(set, clients: 10, generator: &g)
        #expect(dominance(skewed) > dominance(iid) + 0.15, "\(dominance(skewed)) vs \(dominance(iid))")
        // By group: no recording split between clients.
        let grouped = try ClientPartition.byGroup.assign(set, clients: 10, generator: &g)
        #expect(grouped.allSatisfy { rows in Set(rows.map { set.groups![$0] }).allSatisfy { group in rows.filter { set.groups![$0] == group }.count == 5 } })
        #expect(throws: ClientPartitionError.self) { try ClientPartition.iid.assign(set, clients: 201, generator: &g) }
        #expect(throws: ClientPartitionError.self) { try ClientPartition.byGroup.assign(data(rows: 50, seed: 3), clients: 2, generator: &g) }
        #expect(throws: ClientPartitionError.self) { try ClientPartition.byGroup.assign(set, clients: 41, generator: &g) }
    }

    @Test func encodingsRoundTripAndCountTheirBytes() throws {
        let net = model(seed: 4)
        var g = SeededGenerator(seed: 5)
        for matrix in net.prunableMatrices { for i in 0..<matrix.count where g.nextInt(below: 2) == 0 { matrix.parameter.mask[i] = 0 } }
        net.store.applyMasks()
        let update = randomTensor([net.store.flatCount], &g)
        multiply(update, net.store.masks, into: update)
        let codec = UpdateCodec(store: net.store)
        let trained = net.parameters.filter(\.trainable)
        let total = trained.reduce(0) { $0 + $1.count }, alive = trained.reduce(0) { $0 + $1.aliveCount }
        let dense = codec.encode(update, as: .dense), sparse = codec.encode(update, as: .sparse), int8 = codec.encode(update, as: .sparseInt8)
        #expect(dense.count == 4 * total && sparse.count == 4 * alive && int8.count == alive + 4 * trained.count)
        #expect(codec.decode(dense, as: .dense).toArray() == update.toArray() && codec.decode(sparse, as: .sparse).toArray() == update.toArray())
        let lossy = codec.decode(int8, as: .sparseInt8)
        for parameter in trained {
            let largest = (0..<parameter.count).map { abs(update[parameter.offset + $0]) }.max()!
            for i in 0..<parameter.count {
                #expect(abs(lossy[parameter.offset + i] - update[parameter.offset + i]) <= largest / 254 * 1.0001)
            }
        }
        #expect(codec.broadcastBytes(encoding: .sparse, withMask: true) == 4 * alive + trained.reduce(0) { $0 + ($1.count + 7) / 8 })
    }

    @Test func aggregationRulesAndTheirRobustness() {
        let updates = [[1, 2, 3], [1, 2, 4], [2, 3, 5], [100, -100, 9]].map { Tensor(shape: [3], values: $0) }
        #expect(UpdateAggregation.fedAvg.aggregate(Array(updates.prefix(2)), weights: [1, 3]).toArray() == [1, 2, 3.75])
        #expect(UpdateAggregation.median.aggregate(updates, weights: [1, 1, 1, 1]).toArray() == [1.5, 2, 4.5])
        #expect(UpdateAggregation.trimmedMean(beta: 0.25).aggregate(updates, weights: [1, 1, 1, 1]).toArray() == [1.5, 2, 4.5])
        #expect(UpdateAggregation.median.aggregate(Array(updates.prefix(3)), weights: [1, 1, 1]).toArray() == [1, 2, 4])
        // The outlier moves the mean by ~25 per coordinate, the robust rules by at most 1.
        #expect(abs(UpdateAggregation.fedAvg.aggregate(updates, weights: [1, 1, 1, 1])[0] - 26) < 1e-5)
    }

    /// One client taking one local step on all rows is centralised training's step.
    @Test func oneClientOneStepIsCentralisedTraining() throws {
        let rows = data(rows: 40, seed: 6)
        let (federated, central) = (model(seed: 7), model(seed: 7))
        var settings = FederatedSettings(clientsPerRound: 1, localSteps: 1, batchSize: 40, learningRate: 0.1)
        settings.encoding = .dense
        let simulation = FederatedSimulation(model: federated, task: ClassificationTask(), clients: [rows], settings: settings, seed: 8) { SGD(store: $0) }
        _ = try simulation.runRound(1, evaluation: rows)
        var g = SeededGenerator(seed: 9)
        _ = try Trainer(model: central, task: ClassificationTask(), optimizer: SGD(store: central.store),
                        schedule: LearningRateSchedule(baseRate: 0.1, totalSteps: 1), batches: BatchIterator(dataset: rows, batchSize: 40))
            .runSteps(1, generator: &g)
        let difference = zip(federated.store.values.toArray(), central.store.values.toArray()).map { abs($0 - $1) }.max()!
        #expect(difference < 1e-6, "largest difference \(difference)")
        #expect(federated.store.values.toArray() != model(seed: 7).store.values.toArray())
    }

    /// Equal IID clients, everyone every round, one full-batch SGD step each: FedAvg of their
    /// updates is one SGD step on the union's mean loss.
    @Test func equalIIDClientsWithOneStepAreOneLargeBatchStep() throws {
        let union = data(rows: 60, seed: 10)
        var g = SeededGenerator(seed: 11)
        let parts = try ClientPartition.iid.assign(union, clients: 4, generator: &g)
        let (federated, central) = (model(seed: 12), model(seed: 12))
        let settings = FederatedSettings(clientsPerRound: 4, localSteps: 1, batchSize: 15, learningRate: 0.2)
        let simulation = FederatedSimulation(model: federated, task: ClassificationTask(), clients: parts.map { union.subset($0) },
                                             settings: settings, seed: 13) { SGD(store: $0) }
        let record = try simulation.runRound(1, evaluation: union)
        #expect(record.participants == [0, 1, 2, 3] && record.bytesUp == 4 * 4 * federated.store.parameters.filter(\.trainable).reduce(0) { $0 + $1.count })
        _ = try Trainer(model: central, task: ClassificationTask(), optimizer: SGD(store: central.store),
                        schedule: LearningRateSchedule(baseRate: 0.2, totalSteps: 1), batches: BatchIterator(dataset: union, batchSize: 60))
            .runSteps(1, generator: &g)
        let difference = zip(federated.store.values.toArray(), central.store.values.toArray()).map { abs($0 - $1) }.max()!
        #expect(difference < 1e-5, "largest difference \(difference)")
    }

    /// Clients training masked LoRA adapters: only A and B travel, the weights are rewritten
    /// from the aggregate, and the pruned base's zeros stay exactly 0 (also after the merge).
    @Test func clientsTrainingAdaptersKeepTheBaseSparse() throws {
        let union = data(rows: 90, seed: 18)
        var g = SeededGenerator(seed: 19)
        let net = model(seed: 20)
        for matrix in net.prunableMatrices { for i in 0..<matrix.count where g.nextInt(below: 2) == 0 { matrix.parameter.mask[i] = 0 } }
        net.store.applyMasks()
        let biases = net.parameters.filter { $0.role == .bias }.map { $0.value.toArray() }
        let parts = try ClientPartition.iid.assign(union, clients: 5, generator: &g)
        let adapters = LowRankAdapters(matrices: net.prunableMatrices, rank: 2, alpha: 2, form: .masked, generator: &g)
        let simulation = FederatedSimulation(model: net, task: ClassificationTask(), clients: parts.map { union.subset($0) },
                                             settings: FederatedSettings(clientsPerRound: 2, localSteps: 3, batchSize: 10, learningRate: 0.05),
                                             seed: 21) { Adam(store: $0) }
        simulation.adapters = adapters
        simulation.masksChanged()
        #expect(simulation.clientsAwaitingMask == [0, 1, 2, 3, 4])
        let base = net.parameters.reduce(0) { $0 + 4 * $1.aliveCount + ($1.count + 7) / 8 }
        var served = Set<Int>()
        for round in 1...6 {
            let record = try simulation.runRound(round, evaluation: union)
            #expect(record.bytesUp == 2 * 4 * adapters.parameterCount)
            // The pruned base (frozen weights included) goes to each client once, with the
            // first adapters it is sent, whichever round first selects it.
            let firstTime = Set(record.selected).subtracting(served).count
            served.formUnion(record.selected)
            #expect(record.bytesDown == 2 * 4 * adapters.parameterCount + firstTime * base, "round \(round)")
            #expect(simulation.clientsAwaitingMask == (0..<5).filter { !served.contains($0) })
        }
        #expect(served.count > 2, "the test should reach clients after the first round's")
        adapters.merge()
        for matrix in net.prunableMatrices {
            #expect((0..<matrix.count).allSatisfy { matrix.parameter.mask[$0] != 0 || matrix.parameter.value[$0] == 0 })
            #expect(matrix.parameter.trainable)
        }
        #expect(net.parameters.filter { $0.role == .bias }.map { $0.value.toArray() } == biases)
        #expect(adapters.targets.contains { countNonzeros($0.b.value) > 0 })
    }

    /// Pruned weights stay exactly 0 through rounds of honest, poisoned, dropped and straggling
    /// clients, FedProx and every encoding — even a dense encoding of a scaled-up attack.
    @Test func noUpdateRevivesAPrunedWeight() throws {
        let union = data(rows: 120, seed: 14)
        var g = SeededGenerator(seed: 15)
        let net = model(seed: 16)
        for matrix in net.prunableMatrices { for i in 0..<matrix.count where g.nextInt(below: 2) == 0 { matrix.parameter.mask[i] = 0 } }
        net.store.applyMasks()
        let parts = try ClientPartition.dirichlet(alpha: 0.5).assign(union, clients: 6, generator: &g)
        for encoding in UpdateEncoding.allCases {
            var settings = FederatedSettings(clientsPerRound: 5, localSteps: 3, batchSize: 8, learningRate: 0.05)
            settings.encoding = encoding
            settings.proximalMu = 0.01
            settings.dropoutProbability = 0.2
            settings.stragglerFraction = 0.4
            settings.poisonedClients = [0, 1]
            settings.attack = .scale(factor: 50)
            let simulation = FederatedSimulation(model: net, task: ClassificationTask(), clients: parts.map { union.subset($0) },
                                                 settings: settings, seed: 17) { Adam(store: $0) }
            for round in 1...3 {
                // Participants scored on a slice of the evaluation rows, or (round 3) not at all.
                simulation.settings.clientEvaluationRows = round == 3 ? 0 : 30
                let slice = simulation.settings.clientEvaluationSet(of: union)
                #expect(slice.count == (round == 3 ? 0 : 30) && slice.inputs.toArray() == Array(union.inputs.toArray().prefix(slice.inputs.count)))
                let record = try simulation.runRound(round, evaluation: union)
                #expect(record.participants.count + record.dropped.count == 5)
                #expect(record.clientMetrics.count == (round == 3 ? 0 : record.participants.count))
                for matrix in net.prunableMatrices {
                    #expect((0..<matrix.count).allSatisfy { matrix.parameter.mask[$0] != 0 || matrix.parameter.value[$0] == 0 }, "\(encoding) round \(round)")
                }
            }
        }
    }
}
}
