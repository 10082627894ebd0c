import Foundation

/// xoshiro256** (Blackman & Vigna), seeded through SplitMix64.
///
/// Swift's `SystemRandomNumberGenerator` cannot be seeded, and the standard library's
/// `shuffle(using:)` does not promise a stable algorithm across releases; every random draw in
/// Topiary (init, shuffling, sampling, random scores) goes through this type and the explicit
/// algorithms below, so a seed reproduces a run bit for bit.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable {
    /// The full generator state: checkpoints save and restore it.
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var splitMix = seed
        func nextSplitMix() -> UInt64 {
            splitMix &+= 0x9E37_79B9_7F4A_7C15
            var z = splitMix
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (nextSplitMix(), nextSplitMix(), nextSplitMix(), nextSplitMix())
    }

    public init(state: (UInt64, UInt64, UInt64, UInt64)) {
        require(state != (0, 0, 0, 0), "xoshiro256** state must not be all zero")
        self.state = state
    }

    /// An independent stream for a named purpose (e.g. "init", "shuffle"), so adding draws to
    /// one purpose does not shift the numbers another purpose sees.
    public init(seed: UInt64, stream: String) {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325 // FNV-1a over the stream name
        for byte in stream.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        self.init(seed: seed ^ hash)
    }

    public mutating func next() -> UInt64 {
        let result = rotateLeft(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotateLeft(state.3, 45)
        return result
    }

    /// Uniform in [0, 1) with 24 random bits (every value exactly representable).
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Uniform in [low, high).
    public mutating func nextFloat(in low: Float, _ high: Float) -> Float {
        low + (high - low) * nextUnitFloat()
    }

    /// Two independent standard normal draws (Box–Muller, in Double).
    /// Fills `tensor` with N(0, deviation²) draws, two per `nextNormalPair` in index order (an
    /// odd last element takes the first of a pair).
    public mutating func fillNormal(_ tensor: Tensor, deviation: Float = 1) {
        for i in stride(from: 0, to: tensor.count, by: 2) {
            let (a, b) = nextNormalPair()
            tensor[i] = a * deviation
            if i + 1 < tensor.count { tensor[i + 1] = b * deviation }
        }
    }

    public mutating func nextNormalPair() -> (Float, Float) {
        let u1 = max(Double(next() >> 11) * 0x1p-53, 0x1p-60), u2 = Double(next() >> 11) * 0x1p-53
        let radius = (-2 * log(u1)).squareRoot()
        return (Float(radius * cos(2 * .pi * u2)), Float(radius * sin(2 * .pi * u2)))
    }

    /// Uniform integer in 0..<bound, unbiased (Lemire's multiply-and-reject).
    public mutating func nextInt(below bound: Int) -> Int {
        require(bound > 0, "bound must be > 0, but got \(bound)")
        let b = UInt64(bound)
        var product = next().multipliedFullWidth(by: b)
        if product.low < b {
            let threshold = (0 &- b) % b
            while product.low < threshold { product = next().multipliedFullWidth(by: b) }
        }
        return Int(product.high)
    }

    /// Fisher–Yates shuffle, written out so the permutation depends only on the seed.
    public mutating func shuffle<T>(_ values: inout [T]) {
        if values.count < 2 { return }
        for i in stride(from: values.count - 1, to: 0, by: -1) {
            values.swapAt(i, nextInt(below: i + 1))
        }
    }

    /// A random permutation of 0..<count.
    public mutating func permutation(_ count: Int) -> [Int] {
        var values = Array(0..<count)
        shuffle(&values)
        return values
    }

    public static func == (lhs: SeededGenerator, rhs: SeededGenerator) -> Bool { lhs.state == rhs.state }
}

@inline(__always)
private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
