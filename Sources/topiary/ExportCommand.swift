import ArgumentParser
import Foundation
import TopiaryExport
import TopiaryInference
import TopiaryReport
import TopiaryStudy

/// `topiary export RUN_DIR --format c --out DIR`: one stage of a run as files another runtime
/// loads.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write one stage of a run as C99 for a microcontroller (model.h, model.c) or as an ONNX model.",
        discussion: """
        C: weights are const arrays (flash), one static arena (RAM), no malloc; entry point
        topiary_predict(const float *in, float *out). Each matrix is stored dense or as CSR,
        whichever is smaller; --precision int8 keeps per-row int8 codes and scales (the int8
        engine's scheme). The model is compacted first (pruned channels and neurons removed)
        unless --no-compact. ONNX: the compacted (or full) model with its zeros in place, opset 13.
        """)

    @Argument(help: "A run folder (with report.json and checkpoints/).")
    var runDirectory: String

    @Option(help: "Which weights: a stage number (0 = dense), a checkpoint label as in checkpoints/ (e.g. stage2), or last.")
    var stage = "last"

    @Option(help: "c or onnx.")
    var format: String

    @Option(help: "The folder to write (created; replaced whole if it exists).")
    var out: String

    @Option(help: "C weights: int8 (per-row scales) or float32.")
    var precision = "int8"

    @Option(help: "C matrix layout: smallest (per matrix), dense or sparse.")
    var layout = "smallest"

    @Flag(help: "Keep pruned channels and neurons in place instead of compacting the model.")
    var noCompact = false

    func validate() throws {
        if !["c", "onnx"].contains(format) { throw ValidationError("--format must be c or onnx; got '\(format)'.") }
        if ExportPrecision(rawValue: precision) == nil { throw ValidationError("--precision must be int8 or float32; got '\(precision)'.") }
        if ExportLayout(rawValue: layout) == nil { throw ValidationError("--layout must be smallest, dense or sparse; got '\(layout)'.") }
        if format == "onnx" && precision != "int8" && precision != "float32" { throw ValidationError("--precision does not apply to ONNX.") }
    }

    func run() throws {
        do {
            let bench = try ModelBench(runDirectory: runDirectory)
            let path = try bench.checkpointPath(stage: stage)
            guard let full = try bench.inferenceProgram(checkpointAt: path) else {
                throw ExportError.unsupportedStep(format: format, step: "this model (it has no inference plan)", hint: "export MLP or CNN runs")
            }
            let program = noCompact ? full : full.compacted()
            let label = ModelBench.label(ofCheckpoint: path)
            let name = "\(bench.report.experiment) \(label)"
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
            default:
                let export = try ONNXModelExport(program, modelName: name)
                try export.write(to: out)
                print("\(out): model.onnx (\(label), float32, opset \(ONNXModelExport.opset), \(noCompact ? "full" : "compacted"), \(export.bytes) B)")
            }
        } catch {
            throw fail(error)
        }
    }
}
