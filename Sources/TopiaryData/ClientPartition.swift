import Foundation
import TopiaryTensor

/// How a training set is split among simulated federated clients, each row to exactly one:
///
/// - `iid`: a seeded shuffle cut into equal parts (sizes differ by at most one).
/// - `dirichlet(alpha)`: label skew as in Hsu et al. (2019): for each class, client shares
///   drawn from Dirichlet(alpha, …, alpha) and the class's rows dealt out in those shares;
///   small alpha (0.1–0.5) gives each client a few dominant classes. Classification only.
/// - `byGroup`: whole groups (the recordings or files rows were cut from) dealt to clients,
///   so a client holds its own series, as a site would.
public enum ClientPartition: Sendable, Equatable {
    case iid
    case dirichlet(alpha: Double)
    case byGroup

    /// Row indices of each of `clients` clients, each list ascending; throws when the data
    /// cannot give every client a row (fewer rows or groups than clients, or a Dirichlet draw
    /// that keeps leaving a client empty).
    public func assign(_ data: Dataset, clients: Int, generator: inout SeededGenerator) throws -> [[Int]] {
        precondition(clients >= 1, "clients must be >= 1, but got \(clients)")
        guard data.count >= clients else {
            throw ClientPartitionError("\(data.count) training rows cannot give \(clients) clients a row each: use fewer clients")
        }
        switch self {
        case .iid:
            let order = generator.permutation(data.count)
            return (0..<clients).map { client in
                let start = client * data.count / clients, end = (client + 1) * data.count / clients
                return order[start..<end].sorted()
            }
        case .dirichlet(let alpha):
            precondition(alpha > 0 && alpha.isFinite, "Dirichlet alpha must be > 0, but got \(alpha)")
            guard let classes = data.classCount else {
                throw ClientPartitionError("dirichlet splits by label and needs a classification data set: use iid or by_group")
            }
            var byClass = [[Int]](repeating: [], count: classes)
            for row in 0..<data.count { byClass[data.label(row)].append(row) }
            // A draw that leaves a client with no row is drawn again (as reference code does).
            for _ in 0..<100 {
                var assigned = [[Int]](repeating: [], count: clients)
                for var rows in byClass where !rows.isEmpty {
                    generator.shuffle(&rows)
                    let shares = Self.dirichlet(alpha: alpha, count: clients, generator: &generator)
                    var cumulative = 0.0, start = 0
                    for client in 0..<clients {
                        cumulative += shares[client]
                        let end = client == clients - 1 ? rows.count : min(rows.count, Int((cumulative * Double(rows.count)).rounded()))
                        assigned[client] += rows[start..<max(start, end)]
                        start = max(start, end)
                    }
                }
                if assigned.allSatisfy({ !$0.isEmpty }) { return assigned.map { $0.sorted() } }
            }
            throw ClientPartitionError("100 Dirichlet(\(alpha)) draws each left a client without rows: raise alpha or use fewer clients")
        case .byGroup:
            guard let groups = data.groups else {
                throw ClientPartitionError("by_group deals whole recordings to clients, but this data set has no groups (series or by-file data have them): use iid or dirichlet")
            }
            let names = Array(Set(groups)).sorted()
            guard names.count >= clients else {
                throw ClientPartitionError("\(names.count) groups cannot give \(clients) clients one each: use fewer clients")
            }
            var owner: [Int: Int] = [:]
            for (position, index) in generator.permutation(names.count).enumerated() { owner[names[index]] = position % clients }
            var assigned = [[Int]](repeating: [], count: clients)
            for row in 0..<data.count { assigned[owner[groups[row]]!].append(row) }
            return assigned
        }
    }

    /// A draw from Dirichlet(alpha, …, alpha): independent Gamma(alpha, 1) draws, normalised.
    static func dirichlet(alpha: Double, count: Int, generator: inout SeededGenerator) -> [Double] {
        let draws = (0..<count).map { _ in gamma(shape: alpha, generator: &generator) }
        let total = draws.reduce(0, +)
        return total > 0 ? draws.map { $0 / total } : [Double](repeating: 1 / Double(count), count: count)
    }

    /// Gamma(shape, 1) by Marsaglia and Tsang (2000); for shape < 1, Gamma(shape + 1)·U^(1/shape).
    static func gamma(shape: Double, generator: inout SeededGenerator) -> Double {
        if shape < 1 {
            let u = max(Double(generator.nextUnitFloat()), 1e-12)
            return gamma(shape: shape + 1, generator: &generator) * pow(u, 1 / shape)
        }
        let d = shape - 1.0 / 3, c = 1 / (9 * d).squareRoot()
        while true {
            let x = Double(generator.nextNormalPair().0)
            let v = pow(1 + c * x, 3)
            guard v > 0 else { continue }
            let u = max(Double(generator.nextUnitFloat()), 1e-12)
            if log(u) < 0.5 * x * x + d - d * v + d * log(v) { return d * v }
        }
    }
}

public struct ClientPartitionError: LocalizedError, Equatable {
    public let problem: String
    public init(_ problem: String) { self.problem = problem }
    public var errorDescription: String? { problem + "." }
}
