/// A contract checked in every build configuration.
///
/// The kernel targets are compiled with `-Ounchecked`, which removes `precondition`: a shape
/// that disagrees would then read or write out of bounds silently (heap corruption, or an
/// evaluation of garbage reported as a result). Contracts on shapes and offsets are checked
/// once per call at an operation's entry, never per element, so `require` costs nothing
/// measurable and a broken contract stops the process with its message instead.
@inlinable @inline(__always)
public func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                    file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError(message(), file: file, line: line) }
}
