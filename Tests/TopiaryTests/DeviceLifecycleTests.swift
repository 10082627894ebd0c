import Foundation
import Testing
@testable import TopiaryFormats
import TopiaryData
import TopiaryInference
import TopiaryMetrics
import TopiaryNN
@testable import TopiaryReport
@testable import TopiaryRun
@testable import TopiarySpec
import TopiaryStudy
import TopiaryTensor

/// The TinyML lifecycle on real data: train, prune in stages, export every stage as C,
/// compile it for this machine and for a Cortex-M4, run both on real test rows, and check
/// them against Topiary's engine; then the ONNX export in onnxruntime.
extension AllTests {
@Suite struct DeviceLifecycleTests {
    /// The user-data tests' spec (global magnitude pruning) with a device check of `rows` rows.
    func spec(data: String, model: String, stages: String, epochs: Int, batch: Int, rows: Int) throws -> ExperimentSpec {
        var spec = try UserDataTests().spec(data: data, model: model, stages: stages, epochs: epochs, batch: batch, extra: "  scope: global")
        spec.device = DeviceSpec(target: .cortexM4, precision: .int8, flashKB: 256, ramKB: 64, rows: rows, tolerance: 5)
        return try ExperimentSpec.validated(spec, file: "device-lifecycle")
    }

    /// Every stage's device record: the emulated device gives the host build's bits, the C
    /// agrees with the int8 engine on every test row, and both precisions' footprints are there.
    func expectDeviceRecords(_ directory: String, _ report: RunReport, rows: Int) throws {
        for stage in report.stages {
            let device = try #require(stage.device, "stage \(stage.stage) has no device record")
            #expect(device.deviceMatchesHost, "stage \(stage.stage): device bits differ from the host's")
            #expect(device.engineAgreement == 1, "stage \(stage.stage): C and engine disagree on \(1 - device.engineAgreement) of rows")
            #expect(device.maxAbsDifference < 1e-3)
            // Same argmax on every row: the same accuracy as the int8 engine.
            #expect(abs(device.hostTestMetric - stage.metric("int8_test", "accuracy")!) < 1e-12)
            #expect(device.deviceRows == rows && device.instructionsPerInference > 1_000)
            let float32 = try #require(device.footprints["float32"]), int8 = try #require(device.footprints["int8"])
            // Same arena either way; the kernels' stack frames differ a little.
            #expect(int8.flashBytes < float32.flashBytes && float32.arenaBytes == int8.arenaBytes)
            #expect(float32.ramBytes - float32.stackBytes == int8.ramBytes - int8.stackBytes)
            #expect(device.fitsBudget == (int8.flashBytes <= 256 * 1024 && int8.ramBytes <= 64 * 1024))
        }
        // Pruning shrinks flash: the last stage's int8 export is smaller than the dense one's.
        let first = report.stages.first!.device!.footprints["int8"]!, last = report.stages.last!.device!.footprints["int8"]!
        #expect(last.flashBytes < first.flashBytes)
        let csv = try readCSV(directory + "/stages.csv")
        for column in ["device_flash_bytes_float32", "device_ram_bytes_int8", "device_fits", "c_test_accuracy", "device_test_accuracy",
                       "device_matches_host", "instructions_per_inference"] {
            #expect(csv.header.contains(column), "stages.csv lacks \(column)")
        }
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/report.json"))) as! [String: Any]
        #expect(json.keys.contains("device_fit"))
        if let fit = report.deviceFit {
            #expect(report.stages.first { $0.stage == fit.stage }!.device!.fitsBudget)
        }
    }

    /// `topiary export` of `stage` as ONNX, run in onnxruntime on the real test rows, equals
    /// Topiary's dense engine on the compacted program.
    func expectONNXMatches(_ directory: String, stage: String, test: Dataset) throws {
        let out = temporaryDirectory("export") + "/onnx"
        let result = try runTopiary(["export", directory, "--stage", stage, "--format", "onnx", "--out", out])
        #expect(result.status == 0, "\(result.stderr)")
        let bench = try ModelBench(runDirectory: directory)
        let program = try #require(try bench.inferenceProgram(checkpointAt: try bench.checkpointPath(stage: stage))).compacted()
        let engine = try #require(InferenceModel.build(program, engine: .dense, threads: 1))
        let expected = engine.predict(test.inputs.reshaped([test.count] + program.inputShape)).copy()
        let actual = try ONNXRuntimeCheck.outputs(model: out + "/model.onnx", inputs: test.inputs.toArray(), inputShape: program.inputShape,
                                                  python: try TestData.venvPython())
        let difference = maxRelativeError(Tensor(shape: expected.shape, values: actual), expected)
        #expect(difference < 1e-4, "onnxruntime differs from Topiary by \(difference)")
    }

    /// The sensor model: BasicMotions' 1-D CNN, all 40 test series on the emulated device.
    @Test func sensorCNNThroughTheWholeLifecycle() throws {
        let train = try TestData.aeonFile("BasicMotions/BasicMotions_TRAIN.ts")
        let test = try TestData.aeonFile("BasicMotions/BasicMotions_TEST.ts")
        let spec = try self.spec(data: "  dataset: ts\n  train: \(train)\n  test: \(test)\n  validation_size: 8",
                                 model: "  architecture: cnn1d\n  channels: [8, 12]\n  kernel_size: 5",
                                 stages: "    - { sparsity: 0.5, epochs: 2 }\n    - { sparsity: 0.9, epochs: 2 }", epochs: 12, batch: 8, rows: 40)
        let (directory, report) = try runSlice(spec)
        #expect(report.stages.count == 3)
        try expectDeviceRecords(directory, report, rows: 40)
        let data = try DataLoading.load(spec.resolved)
        try expectONNXMatches(directory, stage: "last", test: data.test)
        try expectONNXMatches(directory, stage: "0", test: data.test)
        // --check compiles the C export and compares it on the whole test set.
        let checked = try runTopiary(["export", directory, "--format", "c", "--out", temporaryDirectory("export") + "/c", "--check"])
        #expect(checked.status == 0 && checked.stdout.contains("same argmax on 1.0000 of rows"), "\(checked.stdout)\(checked.stderr)")
        // Bad input: a message saying what, a non-zero exit, and no folder.
        for (arguments, message) in [(["--format", "tflite"], "--format must be c, onnx, safetensors or gguf"),
                                     (["--format", "c", "--stage", "9"], "no accepted checkpoint after stage 9"),
                                     (["--format", "c", "--precision", "int4"], "int8 or float32"),
                                     (["--format", "c", "--layout", "diagonal"], "smallest, dense or sparse")] {
            let out = temporaryDirectory("export") + "/bad"
            let result = try runTopiary(["export", directory, "--out", out] + arguments)
            #expect(result.status != 0 && result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
        let notARun = try runTopiary(["export", temporaryDirectory("empty"), "--format", "c", "--out", temporaryDirectory("export") + "/x"])
        #expect(notARun.status != 0 && notARun.stderr.contains("report.json"), "\(notARun.stderr)")
    }

    /// LeNet-5 on a Fashion-MNIST slice: the host C on all 600 test images, the device on 100.
    @Test func leNet5ThroughTheWholeLifecycle() throws {
        let data = FashionMNISTSlice.idxDataYAML
        let spec = try self.spec(data: data, model: "  architecture: lenet5\n  channels: [4, 8]\n  hidden_widths: [32, 16]",
                                 stages: "    - { sparsity: 0.75, epochs: 1 }", epochs: 2, batch: 32, rows: 100)
        let (directory, report) = try runSlice(spec)
        try expectDeviceRecords(directory, report, rows: 100)
        try expectONNXMatches(directory, stage: "last", test: try DataLoading.load(spec.resolved).test)
    }

    /// Without the toolchain a device spec fails before any training, saying what to install.
    @Test func aMissingToolchainFailsBeforeTraining() throws {
        let spec = try self.spec(data: FashionMNISTSlice.idxDataYAML, model: "  architecture: lenet5\n  channels: [4, 8]\n  hidden_widths: [32, 16]",
                                 stages: "    - { sparsity: 0.5, epochs: 1 }", epochs: 1, batch: 32, rows: 10)
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        setenv("PATH", "/nonexistent", 1)
        defer { setenv("PATH", path, 1) }
        var options = RunOptions()
        options.runDirectory = temporaryDirectory("run") + "/out"
        #expect { _ = try ExperimentRunner(spec: spec, options: options) } throws: { error in
            "\(error)".contains("make device-deps") || (error as? LocalizedError)?.errorDescription?.contains("make device-deps") == true
        }
        #expect(!FileManager.default.fileExists(atPath: options.runDirectory!))
    }

    /// A spec's device block is checked before any work.
    @Test func deviceBlockIsValidated() throws {
        let base = try String(contentsOfFile: packageRoot + "/experiments/basicmotions-cnn1d.yaml", encoding: .utf8)
        for (block, mention) in [("device: { flash_kb: 256 }", "ram_kb"), ("device: { flash_kb: 256, ram_kb: 0 }", "ram_kb"),
                                 ("device: { flash_kb: 256, ram_kb: 64, target: cortex-m0 }", "cortex-m4"),
                                 ("device: { flash_kb: 256, ram_kb: 64, precision: int4 }", "float32"),
                                 ("device: { flash_kb: 256, ram_kb: 64, colour: red }", "colour")] {
            #expect { try ExperimentSpec.decode(yaml: base + "\n" + block + "\n") } throws: { error in
                "\(error)".contains(mention) || (error as? LocalizedError)?.errorDescription?.contains(mention) == true
            }
        }
    }
}
}
