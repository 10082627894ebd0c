import CTopiaryRuntime

/// Ctrl-C (SIGINT), SIGTERM and SIGHUP: a flag the trainer checks between batches.
public enum RunInterruption {
    public static func installHandler() { topiary_install_interrupt_handler() }
    public static var requested: Bool { topiary_interrupt_requested() != 0 }
    static func clear() { topiary_clear_interrupt() }
}

/// What the trainer throws between batches after Ctrl-C; the runner, which knows the run
/// folder, turns it into `RunInterrupted`.
public struct TrainingInterrupted: Error, Equatable {
    public init() {}
}
