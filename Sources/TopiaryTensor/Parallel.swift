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

/// Runs `body(part)` for every part in 0..<parts at once, flush-to-zero set on every worker.
/// The body may capture unsafe pointers and non-Sendable objects: the caller guarantees the
/// parts write disjoint memory (a worker's own samples, its own scratch).
public func concurrentParts(_ parts: Int, _ body: (Int) -> Void) {
    if parts <= 1 {
        topiary_enable_flush_to_zero()
        body(0)
        return
    }
    withoutActuallyEscaping(body) { escapable in
        nonisolated(unsafe) let work = escapable
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            topiary_enable_flush_to_zero()
            work(part)
        }
    }
}

/// Runs `body` on contiguous ranges splitting 0..<count over `threads` (by default as many as
/// OpenBLAS uses), one range per thread, when each gets at least `minimumPerPart` items;
/// otherwise on the whole range here. Range bounds fall on multiples of `alignment`. For
/// passes whose items are independent (elementwise maps, pooling planes, samples).
public func splitOverCores(_ count: Int, minimumPerPart: Int, alignment: Int = 16, threads: Int = BLASRuntime.threadCount,
                           _ body: (Range<Int>) -> Void) {
    splitOverCores(count, minimumPerPart: minimumPerPart, alignment: alignment, threads: threads) { _, range in body(range) }
}

/// The same split, telling `body` which part (0 ..< threads) it runs: for per-part partial
/// results (sums added in part order afterwards, so the result depends on the thread count only).
public func splitOverCores(_ count: Int, minimumPerPart: Int, alignment: Int = 16, threads: Int = BLASRuntime.threadCount,
                           _ body: (_ part: Int, Range<Int>) -> Void) {
    let parts = max(1, min(threads, count / max(1, minimumPerPart)))
    if parts == 1 {
        body(0, 0..<count)
        return
    }
    let chunk = ((count + parts - 1) / parts + alignment - 1) / alignment * alignment
    concurrentParts(parts) { part in
        let start = min(part * chunk, count)
        body(part, start..<min(start + chunk, count))
    }
}
