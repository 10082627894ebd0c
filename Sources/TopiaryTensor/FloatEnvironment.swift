import COpenBLAS
import CTopiaryRuntime

/// Flush-to-zero and denormals-are-zero for the calling thread (MXCSR bits 0x8040).
public enum FloatEnvironment {
    /// Sets FTZ/DAZ on this thread; returns whether both bits are now set.
    @discardableResult
    public static func enableFlushToZero() -> Bool {
        topiary_enable_flush_to_zero() & 0x8040 == 0x8040
    }

    /// Prepares the process for float work: FTZ/DAZ on the calling thread, OpenBLAS's worker
    /// pool restarted so its threads inherit that state (they were created when the library
    /// loaded, and Debian's build never copies the caller's MXCSR to them), and `threads` BLAS
    /// threads. Call from the main thread before any concurrent BLAS use.
    public static func prepareForFloatWork(blasThreads threads: Int) {
        enableFlushToZero()
        restartBLASWorkers()
        BLASRuntime.setThreadCount(threads)
    }

    /// Ends OpenBLAS's worker threads and starts new ones, which inherit this thread's MXCSR.
    static func restartBLASWorkers() {
        _ = blas_thread_shutdown_()
        _ = blas_thread_init()
    }

    /// Measured, not assumed: whether every thread computing a GEMM flushes subnormals.
    /// The GEMM is large enough for OpenBLAS to split over all its threads, and each product
    /// (1e-20 · 1e-20) is subnormal. The calling thread runs it with FTZ but without DAZ (DAZ
    /// here would zero the workers' partial sums when this thread reads them, hiding them), so
    /// the output is all zero exactly when every worker flushes too.
    public static func blasThreadsFlushSubnormals() -> Bool {
        let saved = topiary_read_mxcsr()
        topiary_write_mxcsr((saved | 0x8000) & ~0x40)
        defer { topiary_write_mxcsr(saved) }
        let (m, k, n) = (512, 64, 512)
        let a = Tensor(zeros: [m, k]), b = Tensor(zeros: [k, n]), c = Tensor(zeros: [m, n])
        a.fill(1e-20)
        b.fill(1e-20)
        matmul(a, b, into: c)
        return countNonzeros(c) == 0
    }

    /// Whether this thread flushes subnormals to zero (both bits set).
    public static var flushToZeroEnabled: Bool { topiary_read_mxcsr() & 0x8040 == 0x8040 }

    /// This thread's MXCSR register, for the run's environment record.
    public static var mxcsr: UInt32 { topiary_read_mxcsr() }
}
