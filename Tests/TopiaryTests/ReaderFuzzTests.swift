import CZlib
import Foundation
import Testing
@testable import TopiaryData
@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySpec
@testable import TopiaryStudy
@testable import TopiaryTensor
@testable import TopiaryTraining

/// Seeded mutations of valid files, fed to the readers of binary formats: every input must
/// be read or refused with the reader's own error, never crash the process (the test
/// process is the oracle: a crash fails the whole suite). `TOPIARY_FUZZ_ITERATIONS` sets
/// how many inputs each reader gets (default 1,500 each in `make test`).
struct ByteMutator {
    var generator: SeededGenerator
    static let interestingBytes: [UInt8] = [0, 1, 0x7F, 0x80, 0xFF]
    static let interestingWords: [UInt32] = [0, 1, 2, 3, 0x7F, 0xFF, 0x100, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0xFFFF_FFFE]

    init(seed: UInt64) { generator = SeededGenerator(seed: seed, stream: "fuzz") }

    mutating func index(_ count: Int) -> Int { count == 0 ? 0 : generator.nextInt(below: count) }

    /// One to three stacked edits: bit flips, interesting bytes and 32-bit words (lengths,
    /// counts), truncation, insertion, deletion, duplication of a chunk, appended garbage.
    mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        for _ in 0...index(3) {
            switch index(8) {
            case 0:
                for _ in 0...index(8) where !bytes.isEmpty { bytes[index(bytes.count)] ^= UInt8(1 << index(8)) }
            case 1:
                if !bytes.isEmpty { bytes[index(bytes.count)] = Self.interestingBytes[index(Self.interestingBytes.count)] }
            case 2:
                bytes = Array(bytes.prefix(index(bytes.count + 1)))
            case 3:
                let at = index(bytes.count + 1)
                bytes.insert(contentsOf: (0..<(1 + index(16))).map { _ in UInt8(truncatingIfNeeded: generator.next()) }, at: at)
            case 4:
                let start = index(bytes.count + 1), length = min(index(32) + 1, bytes.count - start)
                if length > 0 { bytes.removeSubrange(start..<(start + length)) }
            case 5:
                guard bytes.count >= 4 else { continue }
                let at = index(bytes.count - 3), word = Self.interestingWords[index(Self.interestingWords.count)]
                let bigEndian = index(2) == 0
                for k in 0..<4 { bytes[at + k] = UInt8(truncatingIfNeeded: word >> (8 * (bigEndian ? 3 - k : k))) }
            case 6:
                guard !bytes.isEmpty else { continue }
                let start = index(bytes.count), length = min(index(64) + 1, bytes.count - start)
                bytes.insert(contentsOf: bytes[start..<(start + length)], at: index(bytes.count + 1))
            default:
                bytes += (0..<(1 + index(64))).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            }
        }
        return bytes
    }
}

var fuzzIterations: Int { ProcessInfo.processInfo.environment["TOPIARY_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 1500 }

/// `bytes` gzip-compressed, in memory.
func gzipped(_ bytes: [UInt8]) throws -> [UInt8] {
    let path = temporaryDirectory("gz") + "/x.gz"
    writeGzip(bytes, to: path)
    return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

extension AllTests {
@Suite struct ReaderFuzzTests {
    /// IDX files, plain and gzip-compressed (a mutated gzip stream exercises zlib's errors
    /// too), images and labels.
    @Test func idxReaderRefusesMutatedFiles() throws {
        let images = idxBytes(dimensions: [3, 4, 5], payload: (0..<60).map { UInt8($0) })
        let labels = idxBytes(dimensions: [3], payload: [1, 2, 3])
        let seeds = [images, labels, try gzipped(images), try gzipped(labels)]
        var mutator = ByteMutator(seed: 1)
        let path = temporaryDirectory("fuzz-idx") + "/input"
        var read = 0, refused = 0
        for iteration in 0..<fuzzIterations {
            let input = mutator.mutate(seeds[iteration % seeds.count])
            writeTestFile(path, Data(input))
            do {
                let file = try IDXFile(contentsOf: path)
                #expect(file.bytes.count == file.dimensions.reduce(1, *))
                read += 1
            } catch is DataError {
                refused += 1
            }
        }
        #expect(read + refused == fuzzIterations && refused > fuzzIterations / 2)
        print("IDX reader: \(fuzzIterations) mutated inputs, \(read) read, \(refused) refused")
    }

    /// Checkpoints: raw mutations (mostly caught by the checksum or the header parser),
    /// mutations with the checksum made right again (so the semantic checks are reached), and
    /// header edits re-sealed with a correct length and checksum (shapes, names, states).
    @Test func checkpointReaderRefusesMutatedFiles() throws {
        let spec = try sliceSpec().resolved.spec
        var g = SeededGenerator(seed: 5)
        let progress = RunProgress(spec: spec, rows: [], nextStage: 1, phaseStep: 3, shuffleState: [1, 2, 3, 4], scorerState: [5, 6, 7, 8])
        let seed = [UInt8](try Checkpoint(sequence: 1, label: "stage1", progress: progress,
                                          tensors: [("values", randomTensor([40], &g)), ("masks", Tensor(zeros: [2, 5]))]).encoded())
        let headerLength = Int(seed[12]) | Int(seed[13]) << 8 | Int(seed[14]) << 16 | Int(seed[15]) << 24
        let header = String(decoding: seed[16..<(16 + headerLength)], as: UTF8.self)
        let payload = Array(seed[(16 + headerLength)..<(seed.count - 4)])
        let headerEdits: [(String, String)] = [
            ("\"shape\":[40]", "\"shape\":[-40]"), ("\"shape\":[40]", "\"shape\":[4611686018427387904,4]"),
            ("\"shape\":[2,5]", "\"shape\":[2,5,0]"), ("\"name\":\"masks\"", "\"name\":\"values\""),
            ("\"shuffle_state\":[1,2,3,4]", "\"shuffle_state\":[1,2]"), ("\"scorer_state\":[5,6,7,8]", "\"scorer_state\":[0,0,0,0]"),
            ("\"next_stage\":1", "\"next_stage\":-5"), ("\"shape\":[40]", "\"shape\":[40000000]"), ("\"label\":\"stage1\"", "\"label\":7"),
        ]
        func sealed(_ headerText: String, _ payload: [UInt8]) -> [UInt8] {
            let headerBytes = Array(headerText.utf8)
            var bytes = Array(seed[0..<12])
            bytes += withUnsafeBytes(of: UInt32(headerBytes.count).littleEndian, Array.init) + headerBytes + payload
            return bytes + withUnsafeBytes(of: Checkpoint.crc32(Data(bytes)).littleEndian, Array.init)
        }
        var mutator = ByteMutator(seed: 2)
        let path = temporaryDirectory("fuzz-ckpt") + "/input.bin"
        var read = 0, refused = 0
        for iteration in 0..<fuzzIterations {
            var input: [UInt8]
            switch iteration % 3 {
            case 0: input = mutator.mutate(seed)
            case 1:
                input = mutator.mutate(Array(seed.dropLast(4)))
                input += withUnsafeBytes(of: Checkpoint.crc32(Data(input)).littleEndian, Array.init)
            default:
                let (from, to) = headerEdits[mutator.index(headerEdits.count)]
                input = sealed(header.replacingOccurrences(of: from, with: to), mutator.index(4) == 0 ? mutator.mutate(payload) : payload)
            }
            writeTestFile(path, Data(input))
            do {
                let checkpoint = try Checkpoint.decode(Data(input), path: path)
                _ = try Checkpoint.readHeader(from: path)
                #expect(checkpoint.header.progress.problem == nil)
                read += 1
            } catch is CheckpointError {
                refused += 1
                _ = try? Checkpoint.readHeader(from: path)   // must not crash either
            }
        }
        #expect(read + refused == fuzzIterations && refused > fuzzIterations / 2)
        print("checkpoint reader: \(fuzzIterations) mutated inputs, \(read) read, \(refused) refused")
    }
}
}
