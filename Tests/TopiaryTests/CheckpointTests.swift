import Foundation
import Testing
@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySpec
@testable import TopiaryStudy
@testable import TopiaryTensor
@testable import TopiaryTraining

extension AllTests {
@Suite struct CheckpointTests {
    func sample() throws -> Checkpoint {
        var g = SeededGenerator(seed: 71)
        let values = randomTensor([37], &g), masks = Tensor(shape: [2, 3], values: [1, 0, 1, 1, 0, 0])
        values[3] = -0.0
        values[5] = .leastNonzeroMagnitude
        let progress = RunProgress(spec: try sliceSpec().resolved.spec, rows: [], nextStage: 2, phaseStep: 17,
                                   shuffleState: [1, 2, 3, 4], scorerState: [5, 6, 7, 8])
        return Checkpoint(sequence: 3, label: "stage2", progress: progress, tensors: [("values", values), ("masks", masks)])
    }

    @Test func roundTripIsBitExact() throws {
        let original = try sample()
        let path = temporaryDirectory("ckpt") + "/a.bin"
        try original.write(to: path)
        let read = try Checkpoint.read(from: path)
        #expect(read.header.sequence == 3 && read.header.label == "stage2")
        #expect(read.header.progress.nextStage == 2 && read.header.progress.phaseStep == 17)
        #expect(read.header.progress.shuffleState == [1, 2, 3, 4] && read.header.progress.spec == original.header.progress.spec)
        for name in ["values", "masks"] {
            #expect(read.tensors[name]!.shape == original.tensors[name]!.shape)
            #expect(read.tensors[name]!.toArray().map(\.bitPattern) == original.tensors[name]!.toArray().map(\.bitPattern))
        }
        // The header alone, without the tensors; a foreign or cut file fails as a whole read does.
        let header = try Checkpoint.readHeader(from: path)
        #expect(header.label == "stage2" && header.sequence == 3 && header.progress.phaseStep == 17 && header.tensors.map(\.name) == ["values", "masks"])
        let data = try original.encoded()
        let cut = temporaryDirectory("ckpt") + "/cut.bin", foreign = temporaryDirectory("ckpt") + "/foreign.bin"
        writeTestFile(cut, data.prefix(30))
        writeTestFile(foreign, Data(repeating: 7, count: 64))
        #expect(throws: CheckpointError.self) { try Checkpoint.readHeader(from: cut) }
        #expect(throws: CheckpointError.foreign(path: foreign)) { try Checkpoint.readHeader(from: foreign) }
    }

    @Test func damagedFilesGiveClearErrors() throws {
        let data = try sample().encoded()
        let directory = temporaryDirectory("ckpt")
        func expectError(_ bytes: Data, _ name: String, _ check: (CheckpointError) -> Bool) {
            let path = directory + "/" + name
            writeTestFile(path, bytes)
            do {
                _ = try Checkpoint.read(from: path)
                Issue.record("\(name) was accepted")
            } catch let error as CheckpointError {
                #expect(check(error), "\(name): \(error)")
                #expect(error.errorDescription!.contains(path))
            } catch {
                Issue.record("\(name): unexpected \(error)")
            }
        }
        expectError(data.prefix(data.count - 10), "truncated.bin") { if case .truncated = $0 { true } else { false } }
        expectError(data.prefix(12), "stub.bin") { if case .truncated = $0 { true } else { false } }
        var flipped = data
        flipped[data.count - 40] ^= 0x01
        expectError(flipped, "flipped.bin") { $0 == .corrupted(path: directory + "/flipped.bin", detail: "checksum mismatch") }
        expectError(data + Data([0]), "long.bin") { if case .corrupted = $0 { true } else { false } }
        expectError(Data("PK\u{3}\u{4} not a checkpoint".utf8), "foreign.bin") { $0 == .foreign(path: directory + "/foreign.bin") }
        var newer = data
        newer[8] = 9
        expectError(newer, "newer.bin") { $0 == .unsupportedVersion(path: directory + "/newer.bin", version: 9) }
    }
}
}
