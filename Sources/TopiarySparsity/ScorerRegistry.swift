/// Every scorer a spec can name. Adding a scorer: one file with a type conforming to
/// `ImportanceScorer`, plus one line here.
public enum ScorerRegistry {
    public static let factories: [String: @Sendable () -> any ImportanceScorer] = [
        "magnitude": { MagnitudeScorer() },
        "taylor": { TaylorScorer() },
        "random": { RandomScorer() },
        "fisher": { FisherScorer() },
        "snip": { SNIPScorer() },
        "wanda": { WandaScorer() },
        "synflow": { SynFlowScorer() },
        "movement": { MovementScorer() },
        "obs": { OBSScorer() },
    ]

    public static var names: [String] { factories.keys.sorted() }

    public static func make(_ name: String) -> (any ImportanceScorer)? { factories[name]?() }
}

/// A scorer with options a spec can set (`pruning.scorer_options`).
public protocol ConfigurableScorer: ImportanceScorer {
    /// The option names it accepts.
    static var optionNames: [String] { get }
    /// A copy with `options` applied; throws a message naming the bad option and its range.
    func configured(with options: [String: Double]) throws -> Self
}

extension ScorerRegistry {
    /// The named scorer with options applied; throws `ScorerOptionError` for options the
    /// scorer does not have or values out of range.
    public static func make(_ name: String, options: [String: Double]) throws -> (any ImportanceScorer)? {
        guard let scorer = make(name) else { return nil }
        if options.isEmpty { return scorer }
        guard let configurable = scorer as? any ConfigurableScorer else {
            throw ScorerOptionError(message: "the \(name) scorer takes no options.")
        }
        return try configurable.configured(with: options)
    }
}

public struct ScorerOptionError: Error, Equatable {
    public let message: String
    public init(message: String) { self.message = message }
}
