import Foundation

/// What a user can get wrong when exporting, or what a toolchain reported.
public enum ExportError: LocalizedError {
    /// The model holds a step the format has no translation for.
    case unsupportedStep(format: String, step: String, hint: String)
    case cannotWrite(path: String, reason: String)
    /// A compiler, emulator or runtime that the check needs is not installed.
    case missingTool(tool: String, package: String)
    /// A compiler, emulator or runtime ran and failed.
    case toolFailed(command: String, status: Int32, output: String)
    /// A weight, bias or affine value is NaN or infinite (a diverged stage).
    case nonFinite(tensor: String)
    /// A toolchain produced something that cannot be read back.
    case unreadableOutput(path: String, detail: String)

    public var errorDescription: String? {
        switch self {
        case .unsupportedStep(let format, let step, let hint):
            return "\(format) export cannot translate \(step); \(hint)"
        case .cannotWrite(let path, let reason):
            return "cannot write the export at \(path): \(reason)"
        case .missingTool(let tool, let package):
            return "\(tool) is not installed; install the Debian package \(package) (make device-deps does it)"
        case .toolFailed(let command, let status, let output):
            let tail = output.split(separator: "\n", omittingEmptySubsequences: false).suffix(20).joined(separator: "\n")
            return "\(command) failed with status \(status):\n\(tail)"
        case .nonFinite(let tensor):
            return "\(tensor) holds a NaN or infinite value; export a stage whose training did not diverge"
        case .unreadableOutput(let path, let detail):
            return "cannot read \(path): \(detail)"
        }
    }
}
