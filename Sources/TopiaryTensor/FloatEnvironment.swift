import CTopiaryRuntime

/// Flush-to-zero and denormals-are-zero for the calling thread (MXCSR bits 0x8040).
public enum FloatEnvironment {
    /// Sets FTZ/DAZ on this thread; returns whether both bits are now set.
    @discardableResult
    public static func enableFlushToZero() -> Bool {
        topiary_enable_flush_to_zero() & 0x8040 == 0x8040
    }

    /// Whether this thread flushes subnormals to zero (both bits set).
    public static var flushToZeroEnabled: Bool { topiary_read_mxcsr() & 0x8040 == 0x8040 }

    /// This thread's MXCSR register, for the run's environment record.
    public static var mxcsr: UInt32 { topiary_read_mxcsr() }
}
