import TopiaryTensor

/// Every scorer a spec can name: the built-in ones, and any a program registers (a study
/// script's own criterion) before it decodes or runs a spec. Adding a built-in scorer: one
/// file with a type conforming to `ImportanceScorer`, plus one line in `builtIn`.
public enum ScorerRegistry {
    public typealias Factory = @Sendable () -> any ImportanceScorer

    public static let builtIn: [String: Factory] = [
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

    private static let registered = NamedRegistry<Factory>()

    /// Registers `factory` under `name`, which specs (`pruning.scorer`, `compare_scorers`)
    /// and `--scorer` may then use. A built-in name cannot be taken: that would silently
    /// change what existing specs mean.
    public static func register(_ name: String, _ factory: @escaping Factory) throws {
        guard builtIn[name] == nil else { throw ScorerRegistrationError(name: name) }
        registered.register(name, factory)
    }

    public static var names: [String] { Set(builtIn.keys).union(registered.names).sorted() }

    public static func make(_ name: String) -> (any ImportanceScorer)? {
        (builtIn[name] ?? registered[name])?()
    }
}

public struct ScorerRegistrationError: Error, CustomStringConvertible {
    public let name: String
    public var description: String { "'\(name)' is a built-in scorer; register yours under another name." }
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
