import CZlib
import Foundation
import Testing
@testable import TopiaryData
@testable import TopiaryNN
@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySparsity
@testable import TopiarySpec
@testable import TopiaryStudy
@testable import TopiaryTensor
@testable import TopiaryTraining

/// Every suite nests in this one so they run one at a time: OpenBLAS's thread count is
/// process-wide state that runners set.
@Suite(.serialized) enum AllTests {}

/// A seeded MLP with layer sizes [inputs, hidden…, outputs] (PyTorch's initialisation).
func seededMLP(_ sizes: [Int], seed: UInt64) -> Sequential {
    var g = SeededGenerator(seed: seed)
    return Sequential.multilayerPerceptron(inputFeatures: sizes[0], hiddenSizes: Array(sizes.dropFirst().dropLast()),
                                           outputs: sizes.last!, generator: &g)
}

/// A tensor of uniform values in [-scale, scale).
func randomTensor(_ shape: [Int], _ generator: inout SeededGenerator, scale: Float = 1) -> Tensor {
    let t = Tensor(zeros: shape)
    for i in 0..<t.count { t[i] = generator.nextFloat(in: -scale, scale) }
    return t
}

/// Moves BatchNorm's running statistics away from (0, 1) with a few training-mode passes over
/// random batches of 8, so folding them into the matrix before is really exercised.
func settleBatchNormStatistics(_ model: Sequential, _ generator: inout SeededGenerator) {
    model.setTraining(true)
    for _ in 0..<5 { _ = model.forward(randomTensor([8] + model.inputShape, &generator)) }
    model.setTraining(false)
}

/// Largest |a − b| relative to max(1, |b|).
func maxRelativeError(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.count == b.count)
    var worst: Float = 0
    for i in 0..<a.count { worst = max(worst, abs(a[i] - b[i]) / max(1, abs(b[i]))) }
    return worst
}

/// One folder per test process holding every test's files; removed when the process exits
/// (set TOPIARY_KEEP_TEST_FILES=1 to keep it for a look after a failure).
let testFilesRoot: String = {
    let root = NSTemporaryDirectory() + "topiary-tests-\(getpid())"
    try! FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    if ProcessInfo.processInfo.environment["TOPIARY_KEEP_TEST_FILES"] == nil {
        atexit { try? FileManager.default.removeItem(atPath: testFilesRoot) }
    }
    return root
}()

/// A new empty folder for one test, named after `label`.
func temporaryDirectory(_ label: String = "topiary-test") -> String {
    let path = testFilesRoot + "/\(label)-\(UUID().uuidString.prefix(8))"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Writes `bytes` gzip-compressed to `path`.
func writeGzip(_ bytes: [UInt8], to path: String) {
    let file = gzopen(path, "wb")!
    bytes.withUnsafeBytes { _ = gzwrite(file, $0.baseAddress, UInt32($0.count)) }
    gzclose(file)
}

/// An IDX header + payload for unsigned bytes.
func idxBytes(dimensions: [Int], payload: [UInt8]) -> [UInt8] {
    var bytes: [UInt8] = [0, 0, 8, UInt8(dimensions.count)]
    for d in dimensions { bytes += [UInt8(d >> 24 & 0xFF), UInt8(d >> 16 & 0xFF), UInt8(d >> 8 & 0xFF), UInt8(d & 0xFF)] }
    return bytes + payload
}

/// Small slices of the real Fashion-MNIST files (first rows of each), written once per test
/// process as .gz IDX files in the package's layout: end-to-end tests read real data through
/// the real loader without paying for 70,000 images each time.
enum FashionMNISTSlice {
    static let trainRows = 2400
    static let testRows = 600

    /// The `data:` block (indented two spaces) naming the slice's IDX files by path, 400 rows
    /// held out for validation.
    static var idxDataYAML: String {
        let files = FashionMNIST.files
        return """
          dataset: idx
          train_images: \(directory)/\(files.trainImages)
          train_labels: \(directory)/\(files.trainLabels)
          test_images: \(directory)/\(files.testImages)
          test_labels: \(directory)/\(files.testLabels)
          validation_size: 400
        """
    }

    static let directory: String = {
        let directory = temporaryDirectory("fmnist-slice")
        let source = FashionMNIST.defaultDirectory
        for (name, rows) in [(FashionMNIST.files.trainImages, trainRows), (FashionMNIST.files.trainLabels, trainRows),
                             (FashionMNIST.files.testImages, testRows), (FashionMNIST.files.testLabels, testRows)] {
            let file = try! IDXFile(contentsOf: source + "/" + name)
            let itemBytes = file.dimensions.dropFirst().reduce(1, *)
            let dims = [rows] + file.dimensions.dropFirst()
            writeGzip(idxBytes(dimensions: dims, payload: Array(file.bytes[0..<(rows * itemBytes)])), to: directory + "/" + name)
        }
        return directory
    }()
}

/// Renders an SVG with rsvg-convert (Debian librsvg2-bin, installed by make) and returns
/// the PNG's size in pixels and bytes: a chart that does not render fails here.
func renderSVG(_ path: String) throws -> (width: Int, height: Int, bytes: Int) {
    let png = temporaryDirectory("png") + "/chart.png"
    guard try ChildProcess.run("/usr/bin/rsvg-convert", [path, "-o", png], timeout: 60).status == 0 else { return (0, 0, 0) }
    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: png)))
    guard bytes.count > 24, Array(bytes[1...3]) == Array("PNG".utf8) else { return (0, 0, bytes.count) }
    let width = Int(bytes[16]) << 24 | Int(bytes[17]) << 16 | Int(bytes[18]) << 8 | Int(bytes[19])
    let height = Int(bytes[20]) << 24 | Int(bytes[21]) << 16 | Int(bytes[22]) << 8 | Int(bytes[23])
    return (width, height, bytes.count)
}

/// `validSpecYAML` reading the real Fashion-MNIST slices of `FashionMNISTSlice`.
var sliceSpecYAML: String {
    validSpecYAML.replacingOccurrences(of: "  validation_size: 400", with: "  validation_size: 400\n  path: \(FashionMNISTSlice.directory)")
}

/// Writes `yaml` to a new temporary spec file and returns its path.
func writeSpecFile(_ yaml: String, name: String = "spec.yaml") -> String {
    let path = temporaryDirectory("spec") + "/" + name
    writeTestFile(path, Data(yaml.utf8))
    return path
}

/// Writes a test's input file; a failed write is recorded as the test's failure rather than
/// surfacing later as a confusing missing-file error.
func writeTestFile(_ path: String, _ contents: Data) {
    if !FileManager.default.createFile(atPath: path, contents: contents) { Issue.record("could not write \(path)") }
}

/// Test conveniences over the model and data boundaries.
extension Dataset {
    /// Class indices as integers (classification data sets).
    var labels: [Int32] { (0..<count).map { Int32(targets[$0]) } }
}

extension Batch {
    var labels: [Int32] { (0..<targets.count).map { Int32(targets[$0]) } }
}

extension PrunableMatrix {
    /// (rows, fan-in): the shape scores and masks of this matrix have.
    var shape: [Int] { [rows, fanIn] }
    var offset: Int { parameter.offset }
}

/// A classification stage's metrics by their old names (the tests' runs all classify).
extension StageRecord {
    var testAccuracy: Double { get { metrics["test_accuracy"]! } set { metrics["test_accuracy"] = newValue } }
    var valAccuracy: Double { get { metrics["val_accuracy"]! } set { metrics["val_accuracy"] = newValue } }
    var testLoss: Double { get { metrics["test_loss"]! } set { metrics["test_loss"] = newValue } }
    var valLoss: Double { get { metrics["val_loss"]! } set { metrics["val_loss"] = newValue } }
}

/// A parameter of a hand-made store seen as a matrix (rows = its first dimension).
func standaloneMatrix(_ parameter: Parameter) -> PrunableMatrix {
    PrunableMatrix(parameter: parameter, rows: parameter.shape[0], fanIn: parameter.count / parameter.shape[0], positions: 1,
                   operation: .linear, observer: FanInObserver())
}
