import Foundation

/// Runs an outside program (a compiler, an emulator, valgrind) found on PATH, in a folder,
/// and returns what it printed (standard output and error together); a missing program, a
/// non-zero exit or a run past `timeout` seconds is an `ExportError` carrying that text.
enum ToolRun {
    /// The Debian package that brings each tool, for the error message.
    static let packages = [
        "cc": "gcc", "arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi", "arm-none-eabi-size": "binutils-arm-none-eabi",
        "qemu-system-arm": "qemu-system-arm", "valgrind": "valgrind",
    ]

    static func path(of tool: String) -> String? {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func isInstalled(_ tool: String) -> Bool { path(of: tool) != nil }

    @discardableResult
    static func run(_ tool: String, _ arguments: [String], in directory: String, timeout: Double = 600) throws -> String {
        // A path is taken as it is (relative ones from `directory`); a bare name is looked up on PATH.
        let local = tool.hasPrefix("/") ? tool : tool.contains("/") ? (directory as NSString).appendingPathComponent(tool) : nil
        guard let executable = local ?? path(of: tool) else { throw ExportError.missingTool(tool: tool, package: packages[tool] ?? tool) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        let command = ([tool] + arguments).joined(separator: " ")
        do { try process.run() } catch {
            throw ExportError.toolFailed(command: command, status: -1, output: error.localizedDescription)
        }
        // Past the limit: SIGTERM, then SIGKILL after a grace period (QEMU may catch SIGTERM and
        // exit 0). The flag, not the exit status, says the run timed out.
        let timedOut = TimeoutFlag()
        let killer = DispatchWorkItem {
            guard process.isRunning else { return }
            timedOut.set()
            process.terminate()
            DispatchQueue.global().asyncAfter(deadline: .now() + 5) { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        killer.cancel()
        if timedOut.isSet {
            throw ExportError.toolFailed(command: command, status: process.terminationStatus,
                                         output: output + "\n(stopped after the limit of \(String(format: "%g", timeout)) s)")
        }
        if process.terminationReason == .uncaughtSignal {
            throw ExportError.toolFailed(command: command, status: process.terminationStatus,
                                         output: output + "\n(killed by signal \(process.terminationStatus))")
        }
        guard process.terminationStatus == 0 else {
            throw ExportError.toolFailed(command: command, status: process.terminationStatus, output: output)
        }
        return output
    }
}

/// Set once from the timer's thread, read after the process ended.
private final class TimeoutFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
