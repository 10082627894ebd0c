import Foundation
import Testing
import TopiaryTensor

/// A seeded mutation fuzzer for binary readers: each input is one of `seeds` with 1–4 of bit
/// flips, bytes overwritten with one of `tokens`, truncation, insertion and deletion. `read`
/// must either accept the bytes or throw `Refusal`; anything else (another error) is recorded,
/// and a crash ends the test process. Returns how many inputs were read whole and refused.
func fuzzReader<Refusal: Error>(seeds: [[UInt8]], tokens: [UInt8], inputs: Int, seed: UInt64, refusal: Refusal.Type,
                                _ read: ([UInt8]) throws -> Void) -> (accepted: Int, refused: Int) {
    var g = SeededGenerator(seed: seed)
    var (accepted, refused) = (0, 0)
    for _ in 0..<inputs {
        var bytes = seeds[g.nextInt(below: seeds.count)]
        for _ in 0..<(1 + g.nextInt(below: 4)) {
            guard !bytes.isEmpty else { break }
            switch g.nextInt(below: 5) {
            case 0: let i = g.nextInt(below: bytes.count); bytes[i] ^= UInt8(1 << g.nextInt(below: 8))
            case 1: bytes[g.nextInt(below: bytes.count)] = tokens[g.nextInt(below: tokens.count)]
            case 2: bytes = Array(bytes.prefix(g.nextInt(below: bytes.count + 1)))
            case 3: bytes.insert(tokens[g.nextInt(below: tokens.count)], at: g.nextInt(below: bytes.count + 1))
            default: bytes.remove(at: g.nextInt(below: bytes.count))
            }
        }
        do {
            try read(bytes)
            accepted += 1
        } catch is Refusal {
            refused += 1
        } catch {
            Issue.record("a fuzzed input threw \(error), not a \(Refusal.self)")
        }
    }
    return (accepted, refused)
}
