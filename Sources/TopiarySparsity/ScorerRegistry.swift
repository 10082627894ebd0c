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
