import Foundation

/// Wall-clock latency of a closure: warm-up calls, then `repetitions` timed calls, each timed
/// alone with the monotonic clock. Reports order statistics, which shared machines disturb
/// less than the mean.
public struct LatencyStatistics: Sendable, Equatable, Codable {
    public let medianMicroseconds: Double
    public let p95Microseconds: Double
    public let minMicroseconds: Double
    public let repetitions: Int

    /// Order statistics of samples (microseconds); p95 by the nearest-rank method.
    public init(samples: [Double]) {
        precondition(!samples.isEmpty, "latency needs at least one sample")
        let sorted = samples.sorted()
        let n = sorted.count
        medianMicroseconds = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
        p95Microseconds = sorted[min(n - 1, Int((0.95 * Double(n)).rounded(.up)) - 1)]
        minMicroseconds = sorted[0]
        repetitions = n
    }
}

public enum LatencyHarness {
    public static func measure(warmup: Int, repetitions: Int, _ body: () -> Void) -> LatencyStatistics {
        precondition(warmup >= 0 && repetitions >= 1,
                     "need warm-up >= 0 and repetitions >= 1, got \(warmup), \(repetitions)")
        for _ in 0..<warmup { body() }
        var samples: [Double] = []
        samples.reserveCapacity(repetitions)
        for _ in 0..<repetitions {
            let start = monotonicNanoseconds()
            body()
            samples.append(Double(monotonicNanoseconds() - start) / 1000)
        }
        return LatencyStatistics(samples: samples)
    }

    /// Several closures timed in turns: after `warmup` calls each, `rounds` rounds in which
    /// every closure gets one untimed call (its data back in cache) and then its share of
    /// `repetitions` timed calls. A burst of load from another process on a shared machine
    /// then lands on every closure's samples rather than on whichever was being timed, so
    /// ratios between them (speed-up over dense) stay honest. One statistics per closure.
    public static func measureInTurns(warmup: Int, repetitions: Int, rounds: Int = 5, _ bodies: [() -> Void]) -> [LatencyStatistics] {
        precondition(warmup >= 0 && repetitions >= 1 && rounds >= 1,
                     "need warm-up >= 0, repetitions >= 1 and rounds >= 1, got \(warmup), \(repetitions), \(rounds)")
        let rounds = min(rounds, repetitions)
        for body in bodies { for _ in 0..<warmup { body() } }
        var samples = Array(repeating: [Double](), count: bodies.count)
        for round in 0..<rounds {
            let calls = repetitions / rounds + (round < repetitions % rounds ? 1 : 0)
            for (index, body) in bodies.enumerated() {
                body()
                for _ in 0..<calls {
                    let start = monotonicNanoseconds()
                    body()
                    samples[index].append(Double(monotonicNanoseconds() - start) / 1000)
                }
            }
        }
        return samples.map { LatencyStatistics(samples: $0) }
    }
}

/// Nanoseconds on the monotonic clock.
public func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// Seconds spent in `body`.
public func measureSeconds<T>(_ body: () throws -> T) rethrows -> (result: T, seconds: Double) {
    let start = monotonicNanoseconds()
    let result = try body()
    return (result, Double(monotonicNanoseconds() - start) / 1e9)
}
