import Foundation
import Testing
@testable import TopiaryData
@testable import TopiaryTensor

extension AllTests {
@Suite struct IDXTests {
    let directory = temporaryDirectory("idx")

    func write(_ name: String, _ bytes: [UInt8], gzip: Bool = true) -> String {
        let path = directory + "/" + name
        if gzip { writeGzip(bytes, to: path) } else { writeTestFile(path, Data(bytes)) }
        return path
    }

    @Test func readsGzipAndPlainFiles() throws {
        let bytes = idxBytes(dimensions: [2, 3], payload: [1, 2, 3, 4, 5, 6])
        for gzip in [true, false] {
            let file = try IDXFile(contentsOf: write("ok-\(gzip)", bytes, gzip: gzip))
            #expect(file.dimensions == [2, 3])
            #expect(file.bytes == [1, 2, 3, 4, 5, 6])
        }
    }

    @Test func rejectsWrongMagic() {
        let path = write("magic", [0x50, 0x4B, 3, 4, 0, 0, 0, 1, 9])
        #expect(throws: DataError.badMagic(path: path, found: [0x50, 0x4B, 3, 4])) { try IDXFile(contentsOf: path) }
        let text = (try? IDXFile(contentsOf: path)).map { _ in "" } ?? describe { try IDXFile(contentsOf: path) }
        #expect(text.contains(path) && text.contains("not an IDX file"))
    }

    @Test func rejectsUnsupportedElementType() {
        let path = write("float", [0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0])
        #expect(throws: DataError.unsupportedElementType(path: path, typeCode: 0x0D)) { try IDXFile(contentsOf: path) }
    }

    @Test func rejectsTruncatedPayloadAndHeader() {
        let short = write("short", idxBytes(dimensions: [3, 2], payload: [1, 2, 3, 4]))
        #expect(throws: DataError.truncated(path: short, expectedBytes: 6, foundBytes: 4)) { try IDXFile(contentsOf: short) }
        let header = write("header", [0, 0, 8, 3, 0, 0])
        #expect(throws: DataError.truncated(path: header, expectedBytes: 16, foundBytes: 6)) { try IDXFile(contentsOf: header) }
    }

    @Test func rejectsTrailingBytes() {
        let path = write("long", idxBytes(dimensions: [2], payload: [1, 2, 3]))
        #expect(throws: DataError.trailingBytes(path: path, expectedBytes: 2, foundBytes: 3)) { try IDXFile(contentsOf: path) }
    }

    @Test func rejectsCutOffGzipStream() throws {
        let whole = directory + "/whole.gz"
        writeGzip(idxBytes(dimensions: [4000], payload: (0..<4000).map { UInt8($0 % 251) }), to: whole)
        let data = try Data(contentsOf: URL(fileURLWithPath: whole))
        let cut = directory + "/cut.gz"
        writeTestFile(cut, data.prefix(data.count / 2))
        #expect(throws: DataError.self) { try IDXFile(contentsOf: cut) }
        #expect(describe { try IDXFile(contentsOf: cut) }.contains("truncated"))
    }

    @Test func rejectsWrongRankAndMismatchedCounts() {
        let images = write("images", idxBytes(dimensions: [3, 2, 2], payload: [UInt8](repeating: 7, count: 12)))
        let labels = write("labels", idxBytes(dimensions: [2], payload: [1, 2]))
        #expect(throws: DataError.countMismatch(imagesPath: images, images: 3, labelsPath: labels, labels: 2)) {
            try FashionMNIST.loadPair(images: images, labels: labels)
        }
        #expect(throws: DataError.wrongRank(path: labels, expected: 3, found: 1)) {
            try FashionMNIST.loadPair(images: labels, labels: images)
        }
        let badLabels = write("badlabels", idxBytes(dimensions: [3], payload: [1, 12, 2]))
        #expect(throws: DataError.labelOutOfRange(path: badLabels, index: 1, label: 12, classCount: 10)) {
            try FashionMNIST.loadPair(images: images, labels: badLabels)
        }
    }

    @Test func missingFilesNameTheDebianPackage() {
        let empty = temporaryDirectory("empty")
        let message = describe { try FashionMNIST.load(directory: empty) }
        #expect(message.contains("dataset-fashion-mnist"))
        #expect(message.contains(empty + "/train-images-idx3-ubyte.gz"))
    }

    @Test func realFashionMNISTSliceLoadsScaled() throws {
        let set = try FashionMNIST.loadPair(images: FashionMNISTSlice.directory + "/" + FashionMNIST.files.testImages,
                                            labels: FashionMNISTSlice.directory + "/" + FashionMNIST.files.testLabels)
        #expect(set.count == FashionMNISTSlice.testRows && set.featureCount == 784 && set.classCount == 10)
        let pixels = set.inputs.toArray()
        #expect(pixels.allSatisfy { $0 >= 0 && $0 <= 1 } && pixels.contains(1) && pixels.contains(0))
        #expect(Set(set.labels).count == 10)
    }
}

@Suite struct DatasetTests {
    func tinySet(_ n: Int) -> Dataset {
        let features = Tensor(zeros: [n, 2])
        for r in 0..<n { features[2 * r] = Float(r); features[2 * r + 1] = -Float(r) }
        return Dataset(inputs: features, labels: (0..<n).map { Int32($0 % 3) }, classCount: 3)
    }

    @Test func splitIsDisjointCompleteAndSeeded() {
        let set = tinySet(100)
        var g1 = SeededGenerator(seed: 1), g2 = SeededGenerator(seed: 1)
        let (rest, heldOut) = set.split(heldOutCount: 20, generator: &g1)
        let again = set.split(heldOutCount: 20, generator: &g2)
        let restIDs = (0..<rest.count).map { Int(rest.inputs[2 * $0]) }
        let heldIDs = (0..<heldOut.count).map { Int(heldOut.inputs[2 * $0]) }
        #expect(heldOut.count == 20 && rest.count == 80)
        #expect(Set(restIDs).isDisjoint(with: heldIDs) && Set(restIDs + heldIDs).count == 100)
        #expect(again.heldOut.inputs.toArray() == heldOut.inputs.toArray())
        // Labels travel with their rows.
        #expect((0..<rest.count).allSatisfy { Int(rest.labels[$0]) == restIDs[$0] % 3 })
    }

    @Test func batchesCoverEveryRowOnceWithSmallerLastBatch() {
        let set = tinySet(10)
        let iterator = BatchIterator(dataset: set, batchSize: 4)
        var g = SeededGenerator(seed: 2)
        var seen: [Int] = [], sizes: [Int] = []
        iterator.forEachBatch(shuffle: true, generator: &g) { batch in
            sizes.append(batch.inputs.rows)
            for r in 0..<batch.inputs.rows {
                let id = Int(batch.inputs[2 * r])
                seen.append(id)
                #expect(Int(batch.labels[r]) == id % 3)
            }
        }
        #expect(sizes == [4, 4, 2] && iterator.batchesPerEpoch == 3)
        #expect(seen.sorted() == Array(0..<10) && seen != Array(0..<10))
    }

    /// A limit stops the pass after that many batches, the first ones of the full pass, and
    /// leaves the generator where the full pass leaves it (the trainer's step limit relies on it).
    @Test func batchLimitTakesTheFirstBatchesOfThePass() {
        let iterator = BatchIterator(dataset: tinySet(10), batchSize: 4)
        func firstIDs(limit: Int?) -> (ids: [Int], next: UInt64) {
            var g = SeededGenerator(seed: 2), ids: [Int] = []
            iterator.forEachBatch(shuffle: true, generator: &g, batchLimit: limit) { batch in
                ids += (0..<batch.inputs.rows).map { Int(batch.inputs[2 * $0]) }
            }
            return (ids, g.next())
        }
        let full = firstIDs(limit: nil), two = firstIDs(limit: 2), none = firstIDs(limit: 0)
        #expect(two.ids == Array(full.ids.prefix(8)) && none.ids.isEmpty)
        #expect(two.next == full.next && none.next == full.next)
    }
}
}

/// The user-facing message of the error `body` throws ("" when it does not throw).
func describe(_ body: () throws -> Any) -> String {
    do { _ = try body(); return "" } catch { return (error as? LocalizedError)?.errorDescription ?? "\(error)" }
}
