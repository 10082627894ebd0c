import CTopiaryRuntime
import Dispatch

/// Splits 0..<count into `parts` contiguous ranges (boundaries on multiples of 16 floats, one
/// cache line, so no two workers write the same line) and runs `body` on each concurrently.
/// Every worker first sets flush-to-zero/denormals-are-zero: subnormal arithmetic on a thread
/// without it is an order of magnitude slower.
public func parallelChunks(count: Int, parts: Int, _ body: @Sendable (Range<Int>) -> Void) {
    let parts = max(1, min(parts, count / 16))
    if parts == 1 {
        topiary_enable_flush_to_zero()
        body(0..<count)
        return
    }
    let chunk = ((count + parts - 1) / parts + 15) / 16 * 16
    DispatchQueue.concurrentPerform(iterations: parts) { part in
        topiary_enable_flush_to_zero()
        let start = min(part * chunk, count)
        body(start..<min(start + chunk, count))
    }
}
