import Foundation

/// Values a program registers under names at run time (model factories, scorers), readable
/// from any thread: what a spec may name beyond the built-in choices.
public final class NamedRegistry<Value>: @unchecked Sendable {
    private var values: [String: Value] = [:]
    private let lock = NSLock()

    public init() {}

    /// Registers (or replaces) `value` under `name`.
    public func register(_ name: String, _ value: Value) {
        lock.lock()
        defer { lock.unlock() }
        values[name] = value
    }

    public subscript(name: String) -> Value? {
        lock.lock()
        defer { lock.unlock() }
        return values[name]
    }

    public var names: [String] {
        lock.lock()
        defer { lock.unlock() }
        return values.keys.sorted()
    }
}
