import Foundation
import Testing
@testable import TopiaryData
@testable import TopiaryExperiment

/// What a hostile (or unlucky) user can do to a run, class by class: each must end in a clear
/// error, a non-zero exit and nothing half-written, never in a crash or a wrong result.
extension AllTests {
@Suite struct HostileDataTests {
    /// A copy of the Fashion-MNIST slice folder with the files in `replacements` swapped for
    /// the given IDX contents.
    func dataFolder(replacing replacements: [String: [UInt8]]) throws -> String {
        let directory = temporaryDirectory("hostile-data")
        for name in [FashionMNIST.files.trainImages, FashionMNIST.files.trainLabels, FashionMNIST.files.testImages,
                     FashionMNIST.files.testLabels] {
            if let bytes = replacements[name] {
                writeGzip(bytes, to: directory + "/" + name)
            } else {
                try FileManager.default.copyItem(atPath: FashionMNISTSlice.directory + "/" + name, toPath: directory + "/" + name)
            }
        }
        return directory
    }

    func expectRefused(_ replacements: [String: [UInt8]], mentions: [String]) throws {
        let folder = try dataFolder(replacing: replacements)
        let yaml = validSpecYAML.replacingOccurrences(of: "  validation_size: 400", with: "  validation_size: 400\n  path: \(folder)")
        let out = temporaryDirectory("hostile") + "/run"
        let result = try runTopiary(["run", writeSpecFile(yaml), "--out", out, "--quiet"])
        #expect(result.status == 1, "\(result.stderr)")
        for word in mentions { #expect(result.stderr.contains(word), "stderr: \(result.stderr)") }
        #expect(!FileManager.default.fileExists(atPath: out), "nothing may be written")
    }

    /// A consistent header with images of another size than the training split's: the model
    /// would read past each row. Refused before any work, naming the file and both shapes.
    @Test func testImagesOfAnotherSizeAreRefused() throws {
        let images = idxBytes(dimensions: [600, 20, 20], payload: [UInt8](repeating: 9, count: 600 * 400))
        try expectRefused([FashionMNIST.files.testImages: images],
                          mentions: [FashionMNIST.files.testImages, "[20, 20]", "[28, 28]"])
    }

    @Test func emptySplitsAndZeroDimensionsAreRefused() throws {
        try expectRefused([FashionMNIST.files.testImages: idxBytes(dimensions: [0, 28, 28], payload: []),
                           FashionMNIST.files.testLabels: idxBytes(dimensions: [0], payload: [])],
                          mentions: [FashionMNIST.files.testImages, "holds no items"])
        try expectRefused([FashionMNIST.files.trainImages: idxBytes(dimensions: [2400, 0, 28], payload: [])],
                          mentions: [FashionMNIST.files.trainImages, "zero-sized"])
    }

    /// A header declaring more than the reader will ever allocate is refused from the header
    /// alone (no allocation, no read of the rest).
    @Test func absurdDeclaredSizesAreRefusedFromTheHeader() {
        let path = temporaryDirectory("idx") + "/huge.gz"
        writeGzip(idxBytes(dimensions: [0x7FFF_FFFF, 0x7FFF_FFFF, 28], payload: [1, 2, 3]), to: path)
        #expect(describe { try IDXFile(contentsOf: path) }.contains("more than the"))
    }
}
}
