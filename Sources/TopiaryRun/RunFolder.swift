import Foundation
import TopiaryReport

/// Where a command may write, checked before anything is written.
///
/// An empty `--out` once wrote a whole run into `/`; a quoted `~/runs` makes a folder named
/// `~`. A path is refused when it is empty or blank, holds a NUL or a line break, starts
/// with `~` (the shell did not expand it), or resolves to the file-system root; and, when
/// the command needs a folder, when it names an existing file that is not one.
public enum OutputLocation {
    public static func check(_ path: String, option: String) throws {
        func refuse(_ why: String) -> OutputLocationError { OutputLocationError(option: option, path: path, problem: why) }
        if path.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw refuse("is empty. Name a folder for the results, e.g. \(option) notebooks-out/my-run")
        }
        if path.contains("\0") || path.contains("\n") || path.contains("\r") {
            throw refuse("contains a NUL or a line break. Use a plain folder name.")
        }
        if path.hasPrefix("~") {
            throw refuse("starts with '~', which the shell did not expand (it was quoted). Write the full path, e.g. \(option) \"$HOME\(path.dropFirst())\".")
        }
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        if absolute == "/" {
            throw refuse("is the file-system root. Name a folder of its own for the results.")
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw refuse("is an existing file, not a folder. Choose a folder name.")
        }
    }

    /// A new run's folder must not exist yet, or be empty (a lock file aside): a run never
    /// writes among other files, and never over another run.
    public static func checkNewRunFolder(_ path: String, option: String) throws {
        try check(path, option: option)
        guard FileManager.default.fileExists(atPath: path) else { return }
        if let holder = FolderLock.holder(of: path) { throw FolderLockError.inUse(path: path, holder: holder) }
        try checkEmpty(path, option: option)
    }

    /// The folder holds nothing but a lock file (what a new run checks again once it holds
    /// the lock).
    static func checkEmpty(_ path: String, option: String) throws {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        let others = entries.filter { $0 != FolderLock.fileName }
        if others.contains("report.json") { throw ReportError.runDirectoryNotEmpty(path: path) }
        if !others.isEmpty {
            throw OutputLocationError(option: option, path: path,
                                      problem: "already holds \(others.count) file(s) (\(others.sorted().prefix(3).joined(separator: ", "))\(others.count > 3 ? ", …" : "")). A run needs a new or empty folder; choose another.")
        }
    }
}

public struct OutputLocationError: Error, LocalizedError, Equatable {
    public let option: String
    public let path: String
    public let problem: String
    public var errorDescription: String? { "\(option) '\(path)' \(problem)" }
}

/// An exclusive lock on a folder for the life of the process: one writer per run (or sweep)
/// folder. Two runs into one folder used to both "succeed" with their checkpoints and reports
/// interleaved.
///
/// `flock(2)` on `<folder>/.lock`: the kernel releases it when the process ends, however it
/// ends (exit, crash, SIGKILL), so a stale lock cannot outlive its holder. The file names the
/// holder (pid, host, start time, command) so a refused process can say who has the folder.
public final class FolderLock: @unchecked Sendable {
    public static let fileName = ".lock"
    public let directory: String
    private let descriptor: Int32

    /// Takes the lock or throws `FolderLockError.inUse` naming the holder. The folder must exist.
    public init(directory: String) throws {
        let path = directory + "/" + FolderLock.fileName
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw ReportError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = FolderLock.readHolder(descriptor) ?? "another process"
            close(descriptor)
            throw FolderLockError.inUse(path: directory, holder: holder)
        }
        self.directory = directory
        self.descriptor = descriptor
        let started = ISO8601DateFormatter().string(from: Date())
        let command = CommandLine.arguments.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
        let holder = "process \(getpid()) on \(ProcessInfo.processInfo.hostName), since \(started): \(command)"
        ftruncate(descriptor, 0)
        _ = holder.utf8CString.withUnsafeBufferPointer { pwrite(descriptor, $0.baseAddress, $0.count - 1, 0) }
        fsync(descriptor)
    }

    deinit { close(descriptor) }   // closing the last descriptor releases the flock

    /// Who holds `directory`'s lock now, or nil when nobody does.
    public static func holder(of directory: String) -> String? {
        let descriptor = open(directory + "/" + fileName, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        // A shared lock succeeds only when no process holds the exclusive one.
        if flock(descriptor, LOCK_SH | LOCK_NB) == 0 { flock(descriptor, LOCK_UN); return nil }
        return readHolder(descriptor) ?? "another process"
    }

    private static func readHolder(_ descriptor: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = pread(descriptor, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }
}

public enum FolderLockError: Error, LocalizedError, Equatable {
    case inUse(path: String, holder: String)
    public var errorDescription: String? {
        switch self {
        case .inUse(let path, let holder):
            return "\(path) is in use by \(holder). One process writes a run folder at a time: wait for it to finish (or stop it), or choose another folder."
        }
    }
}
