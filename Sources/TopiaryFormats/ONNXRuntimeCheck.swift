import Foundation

/// Runs an exported model.onnx in onnxruntime (a Python with the `onnxruntime` and `numpy`
/// packages: `make python-venv` makes one in the data cache) on rows of Float32 inputs.
public enum ONNXRuntimeCheck {
    /// The project's venv Python: $TOPIARY_CACHE/venv, else ~/.cache/topiary/venv.
    public static var defaultPython: String {
        let environment = ProcessInfo.processInfo.environment
        let cache = environment["TOPIARY_CACHE"].flatMap { $0.isEmpty ? nil : $0 } ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.cache/topiary")
        return cache + "/venv/bin/python"
    }

    static let script = """
    import sys, numpy as np, onnxruntime as ort
    session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
    x = np.fromfile(sys.argv[2], dtype="<f4").reshape((-1,) + tuple(int(d) for d in sys.argv[4].split(",")))
    session.run(None, {"input": x})[0].astype("<f4").tofile(sys.argv[3])

    """

    /// Outputs (rows × outputs, row-major) of `model` for `inputs` (rows × inputShape).
    public static func outputs(model: String, inputs: [Float], inputShape: [Int], python: String = defaultPython) throws -> [Float] {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw ExportError.missingTool(tool: python, package: "python3-venv (then make python-venv for onnxruntime)")
        }
        let folder = NSTemporaryDirectory() + "topiary-onnx-\(getpid())-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try inputs.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: folder + "/inputs.bin")) }
            try Data(script.utf8).write(to: URL(fileURLWithPath: folder + "/run.py"))
        } catch {
            throw ExportError.cannotWrite(path: folder, reason: error.localizedDescription)
        }
        let absoluteModel = model.hasPrefix("/") ? model : FileManager.default.currentDirectoryPath + "/" + model
        try ToolRun.run(python, ["run.py", absoluteModel, "inputs.bin", "outputs.bin", inputShape.map(String.init).joined(separator: ",")],
                        in: folder, timeout: 600)
        let rows = inputs.count / max(1, inputShape.reduce(1, *))
        guard let data = FileManager.default.contents(atPath: folder + "/outputs.bin"), rows > 0, data.count % (4 * rows) == 0 else {
            throw ExportError.unreadableOutput(path: folder + "/outputs.bin", detail: "onnxruntime wrote no outputs, or not whole rows for \(rows) inputs")
        }
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}
