import Foundation
import Testing
@testable import TopiaryMetrics

extension AllTests {
@Suite struct LatencyHarnessTests {
    /// Order statistics by hand: median of an even count, p95 by nearest rank.
    @Test func statisticsFromSamples() {
        let statistics = LatencyStatistics(samples: [4, 1, 3, 2, 100])
        #expect(statistics.medianMicroseconds == 3 && statistics.minMicroseconds == 1 && statistics.p95Microseconds == 100)
        #expect(LatencyStatistics(samples: [1, 2, 3, 4]).medianMicroseconds == 2.5)
    }

    /// Turns: warm-up for each, then per round one untimed call and the round's share of
    /// timed calls per closure, closures alternating round by round.
    @Test func closuresTakeTurns() {
        var log: [Character] = []
        let timings = LatencyHarness.measureInTurns(warmup: 2, repetitions: 7, rounds: 3, [{ log.append("a") }, { log.append("b") }])
        #expect(timings.map(\.repetitions) == [7, 7])
        // warm-up aa bb; round 1: a + 3 timed, b + 3; round 2: 1 + 2 each; round 3: 1 + 2 each.
        #expect(String(log) == "aabb" + "aaaabbbb" + "aaabbb" + "aaabbb")
    }

    /// A burst of load in the middle of the measurement (here: calls 40–69 of 130 sleep
    /// 2 ms) lands on both closures' samples, and neither median moves: timed one after
    /// the other, the burst would have fallen on one closure only.
    @Test func aBurstOfLoadHitsEveryClosure() {
        var calls = 0
        func call() {
            calls += 1
            if (40..<70).contains(calls) { usleep(2_000) }
        }
        let timings = LatencyHarness.measureInTurns(warmup: 0, repetitions: 60, rounds: 5, [call, call])
        for statistics in timings {
            #expect(statistics.medianMicroseconds < 500 && statistics.p95Microseconds >= 2_000, "\(statistics)")
        }
    }
}
}
