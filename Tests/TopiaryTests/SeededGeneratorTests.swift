import Testing
@testable import TopiaryTensor

extension AllTests {
@Suite struct SeededGeneratorTests {
    @Test func sameSeedSameStream() {
        var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42)
        for _ in 0..<100 { #expect(a.next() == b.next()) }
    }

    @Test func streamsAreIndependent() {
        var a = SeededGenerator(seed: 1, stream: "init"), b = SeededGenerator(seed: 1, stream: "shuffle")
        #expect((0..<8).map { _ in a.next() } != (0..<8).map { _ in b.next() })
    }

    @Test func unitFloatsStayInRangeAndLookUniform() {
        var g = SeededGenerator(seed: 7)
        let samples = (0..<100_000).map { _ in g.nextUnitFloat() }
        #expect(samples.allSatisfy { $0 >= 0 && $0 < 1 })
        let mean = samples.reduce(0, +) / Float(samples.count)
        #expect(abs(mean - 0.5) < 0.01)
    }

    @Test func boundedIntegersCoverTheRangeUnbiased() {
        var g = SeededGenerator(seed: 3)
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<70_000 { counts[g.nextInt(below: 7)] += 1 }
        #expect(counts.allSatisfy { abs($0 - 10_000) < 500 })
    }

    @Test func permutationIsAPermutationAndSeeded() {
        var a = SeededGenerator(seed: 9), b = SeededGenerator(seed: 9)
        let p = a.permutation(1000)
        #expect(p.sorted() == Array(0..<1000))
        #expect(p == b.permutation(1000))
        #expect(p != Array(0..<1000))
    }

    @Test func stateRoundTrips() {
        var a = SeededGenerator(seed: 5)
        _ = a.next()
        var b = SeededGenerator(state: a.state)
        #expect(a.next() == b.next())
    }
}
}
