import ArgumentParser
import Foundation
import TopiaryData
import TopiaryFormats
import TopiaryInference
import TopiaryMetrics
import TopiaryNN
import TopiaryReport
import TopiaryStudy
import TopiaryTensor

/// `topiary export RUN_DIR --format c --out DIR`: one stage of a run as files another runtime
/// loads.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write one stage of a run as C99 for a microcontroller (model.h, model.c), an ONNX model, or its weights as safetensors.",
        discussion: """
        C: weights are const arrays (flash), one static arena (RAM), no malloc; entry point
        topiary_predict(const float *in, float *out). Each matrix is stored dense or as CSR,
        whichever is smaller; --precision int8 keeps per-row int8 codes and scales (the int8
        engine's scheme). The model is compacted first (pruned channels and neurons removed)
        unless --no-compact. ONNX: the compacted (or full) model with its zeros in place, opset 13.
        safetensors: every parameter under its PyTorch name (model.safetensors; --dtype F32, F16
        or BF16; --masks adds each pruning mask as <name>_mask), which model.init_from reloads.
        """)

    @Argument(help: "A run folder (with report.json and checkpoints/).")
    var runDirectory: String

    @Option(help: "Which weights: a stage number (0 = dense), a checkpoint label as in checkpoints/ (e.g. stage2), or last.")
    var stage = "last"

    @Option(help: "c, onnx, safetensors or gguf.")
    var format: String

    @Option(help: "The folder to write (created; replaced whole if it exists).")
    var out: String

    @Option(help: "C weights: int8 (per-row scales) or float32.")
    var precision = "int8"

    @Option(help: "C matrix layout: smallest (per matrix), dense or sparse.")
    var layout = "smallest"

    @Flag(help: "Keep pruned channels and neurons in place instead of compacting the model.")
    var noCompact = false

    @Option(help: "safetensors: F32, F16 or BF16; gguf: F32, F16 or Q8_0.")
    var dtype = "F32"

    @Flag(help: "safetensors: also each pruning mask, as <name>_mask.")
    var masks = false

    @Flag(help: "Run the export on the run's whole test set and compare it with Topiary's engine: C compiled by this machine's cc (against the engine of the same precision), ONNX in onnxruntime (--python).")
    var check = false

    @Option(help: "With --check --format onnx: a Python with onnxruntime and numpy (make python-venv makes this one).")
    var python = ONNXRuntimeCheck.defaultPython

    func validate() throws {
        if !["c", "onnx", "safetensors", "gguf"].contains(format) { throw ValidationError("--format must be c, onnx, safetensors or gguf; got '\(format)'.") }
        if format == "gguf" {
            if ggufType == nil { throw ValidationError("--dtype for gguf must be F32, F16 or Q8_0; got '\(dtype)'.") }
        } else if SafetensorsFile.DType(rawValue: dtype) == nil {
            throw ValidationError("--dtype must be F32, F16 or BF16; got '\(dtype)'.")
        }
        if !["safetensors", "gguf"].contains(format) && (dtype != "F32" || masks) { throw ValidationError("--dtype and --masks apply to --format safetensors and gguf.") }
        if ["safetensors", "gguf"].contains(format) && check { throw ValidationError("--check runs C and ONNX exports; reload a weights file with model.init_from.") }
        if ExportPrecision(rawValue: precision) == nil { throw ValidationError("--precision must be int8 or float32; got '\(precision)'.") }
        if ExportLayout(rawValue: layout) == nil { throw ValidationError("--layout must be smallest, dense or sparse; got '\(layout)'.") }
        if format == "onnx" && (precision != "int8" || layout != "smallest") {
            throw ValidationError("--precision and --layout apply to C; ONNX keeps Float32 weights with the zeros in place.")
        }
    }

    var ggufType: GGUFFile.TensorType? { ["F32": .f32, "F16": .f16, "Q8_0": .q8_0][dtype] }

    func run() throws {
        do {
            let bench = try ModelBench(runDirectory: runDirectory)
            let path = try bench.checkpointPath(stage: stage)
            let label = ModelBench.label(ofCheckpoint: path)
            let name = "\(bench.report.experiment) \(label)"
            if format == "safetensors" || format == "gguf" {
                let tensors = try bench.parameterTensors(checkpointAt: path, masks: masks)
                var metadata = ["producer": "topiary", "experiment": bench.report.experiment, "checkpoint": label,
                                "architecture": bench.report.spec.model.architecture]
                // µP's multipliers live in the forward pass, not the weights: say so beside them.
                if let parametrization = bench.report.spec.model.maximalUpdate {
                    metadata["parametrization"] = "mup"
                    metadata["base_width"] = String(parametrization.baseWidth)
                }
                let file: String, data: Data
                let modelSpec = bench.report.spec.resolved.model
                if modelSpec.isLlama, let source = modelSpec.initFrom, let context = modelSpec.blockSize {
                    if masks { throw ValidationError("--masks does not apply to a Llama export: runtimes refuse extra tensors, and the zeros are the mask.") }
                    let llama = try LlamaSource.open(DataCache.resolve(source))
                    let configuration = try llama.configuration(context: context)
                    if format == "safetensors" {
                        // A Hugging Face folder: transformers' from_pretrained and model.init_from load it.
                        let files = try HuggingFaceLlamaFolder.write(to: out, configuration: configuration, trainedContext: llama.trainedContext ?? context,
                                                                     tensors: tensors,
                                                                     dtype: SafetensorsFile.DType(rawValue: dtype)!, tokenizer: try llama.tokenizer(),
                                                                     metadata: metadata)
                        print("\(out): \(files.keys.sorted().joined(separator: ", ")) (\(label), \(tensors.count) tensors, \(dtype), \(files.values.reduce(0, +)) B)")
                        return
                    }
                    // llama.cpp's layout and the source file's tokenizer: a file llama.cpp runs.
                    guard case .gguf(let sourceFile) = llama.kind else {
                        throw ValidationError("--format gguf copies the tokenizer of the GGUF a run started from; this run started from the Hugging Face folder \(source): export --format safetensors.")
                    }
                    (file, data) = ("model.gguf", try LlamaGGUFExport.encode(parameters: tensors, configuration: configuration, source: sourceFile,
                                                                             type: ggufType!, name: name))
                } else if format == "gguf" {
                    // Topiary's own architecture and PyTorch's tensor names: the gguf package and
                    // model.init_from read it; llama.cpp has no such architecture to run.
                    let keyed: [(key: String, value: GGUFFile.Value)] = [("general.architecture", .string("topiary")), ("general.alignment", .uint32(32))]
                        + metadata.keys.sorted().map { ("topiary.\($0)", .string(metadata[$0]!)) }
                    let masks = Set(tensors.map(\.name).filter { $0.hasSuffix("_mask") })
                    (file, data) = ("model.gguf", GGUFFile.encode(metadata: keyed, tensors: tensors, type: ggufType!, exact: masks))
                } else {
                    metadata["format"] = "pt"
                    (file, data) = ("model.safetensors", SafetensorsFile.encode(tensors, dtype: SafetensorsFile.DType(rawValue: dtype)!, metadata: metadata))
                }
                try ExportFolder.write([file: data], to: out)
                print("\(out): \(file) (\(label), \(tensors.count) tensors, \(dtype)\(masks ? ", masks as <name>_mask" : ""), \(data.count) B)")
                return
            }
            guard let full = try bench.inferenceProgram(checkpointAt: path) else {
                throw ExportError.unsupportedStep(format: format, step: "this model (it has no inference plan)", hint: "export MLP or CNN runs")
            }
            let program = noCompact ? full : full.compacted()
            switch format {
            case "c":
                let export = try CModelExport(program, precision: ExportPrecision(rawValue: precision)!,
                                              layout: ExportLayout(rawValue: layout)!, modelName: name)
                try export.write(to: out)
                var lines = ["\(out): model.h, model.c (\(label), \(precision), \(noCompact ? "full" : "compacted"))"]
                for matrix in export.matrices {
                    lines.append("  \(matrix.name): \(matrix.rows) × \(matrix.fanIn), \(matrix.nonzeros) nonzeros, \(matrix.sparse ? "CSR" : "dense") \(matrix.bytes) B")
                }
                lines.append("  const data \(export.constantBytes) B, arena \(export.arenaBytes) B; input \(export.inputCount) floats, output \(export.outputCount)")
                print(lines.joined(separator: "\n"))
                if check {
                    let int8 = export.precision == .int8
                    let compiled = try CModelCheck(export)
                    defer { compiled.close() }
                    try report(bench, program, engine: int8 ? .int8 : .dense, against: "C (cc, \(precision))") { try compiled.runOnHost($0) }
                }
            default:
                let export = try ONNXModelExport(program, modelName: name)
                try export.write(to: out)
                print("\(out): model.onnx (\(label), float32, opset \(ONNXModelExport.opset), \(noCompact ? "full" : "compacted"), \(export.bytes) B)")
                if check {
                    try report(bench, program, engine: .dense, against: "onnxruntime") {
                        try ONNXRuntimeCheck.outputs(model: out + "/model.onnx", inputs: $0, inputShape: program.inputShape, python: python)
                    }
                }
            }
        } catch {
            throw fail(error)
        }
    }

    /// Prints how the export's outputs on the run's test set compare with the engine's.
    private func report(_ bench: ModelBench, _ program: InferenceProgram, engine: InferenceEngine, against name: String,
                        outputs: ([Float]) throws -> [Float]) throws {
        let (test, task) = try bench.testSetAndTask()
        let prepared = InferenceModel.build(program, engine: engine, threads: 1)!
        let expected = Evaluation.outputs(prepared, inputs: test.inputs, inputShape: program.inputShape)
        let actual = Tensor(shape: expected.shape, values: try outputs(test.inputs.toArray()))
        let width = expected.count / test.count
        let metric = task.decidingMetric.name
        print(String(format: "check on %d test rows: %@ vs Topiary's %@ engine — max |difference| %.3g, same argmax on %.4f of rows, test %@ %.4f vs %.4f",
                     test.count, name, engine.rawValue, Evaluation.maxAbsDifference(actual, expected), Evaluation.agreement(actual, expected, width: width),
                     metric, Evaluation.measure(outputs: actual, targets: test.targets, task: task)[metric]!,
                     Evaluation.measure(outputs: expected, targets: test.targets, task: task)[metric]!))
    }
}
