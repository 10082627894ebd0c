import TopiaryNN
import TopiaryTensor

/// Models a program registers by name, beside the built-in architectures (`mlp`, `lenet5`,
/// `cnn1d`, `layers`): a spec then says `model: { architecture: <name> }`.
public enum ModelRegistry {
    /// What a factory is given: one sample's shape as the data holds it, the number of
    /// outputs the task needs, and a generator seeded from the run's seed for initialisation.
    public struct Context {
        public let dataShape: [Int]
        public let outputs: Int
        public var generator: SeededGenerator
        public let spec: ModelSpec

        public init(dataShape: [Int], outputs: Int, generator: SeededGenerator, spec: ModelSpec) {
            (self.dataShape, self.outputs, self.generator, self.spec) = (dataShape, outputs, generator, spec)
        }
    }
    public typealias Factory = @Sendable (inout Context) throws -> any Model

    private static let registry = NamedRegistry<Factory>()

    /// Registers (or replaces) a model factory under `name`.
    public static func register(_ name: String, _ factory: @escaping Factory) { registry.register(name, factory) }

    public static var names: [String] { registry.names }

    package static func factory(_ name: String) -> Factory? { registry[name] }
}
