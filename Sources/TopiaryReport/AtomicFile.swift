import Foundation

/// Writes files so a reader sees the old content or the new content, never a part: the
/// bytes go to a temporary file in the same folder, are written through `write(2)` with
/// every error checked (a full disk is an error here, not a short file), flushed with
/// `fsync`, renamed over the target (atomic within one file system), and the folder is
/// flushed too, so the rename itself survives a crash.
///
/// Temporary files are named `.<name>.<pid>.tmp`; one left by a process killed between its
/// write and its rename is removed by `removeStaleTemporaries` once that process is gone.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let folder = directory.isEmpty ? "." : directory
        let temporary = folder + "/" + temporaryName(for: (path as NSString).lastPathComponent)
        func failure(_ reason: String) -> ReportError {
            unlink(temporary)
            return ReportError.cannotWrite(path: path, reason: reason)
        }
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw ReportError.cannotWrite(path: path, reason: String(cString: strerror(errno))) }
        var error: Int32 = 0
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Foundation.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    error = errno
                    return
                }
                offset += written
            }
        }
        if error == 0, fsync(descriptor) != 0 { error = errno }
        if close(descriptor) != 0, error == 0 { error = errno }
        if error != 0 { throw failure(String(cString: strerror(error))) }
        guard rename(temporary, path) == 0 else { throw failure(String(cString: strerror(errno))) }
        syncDirectory(folder)
    }

    public static func write(_ text: String, to path: String) throws {
        try write(Data(text.utf8), to: path)
    }

    /// `value` as JSON (`JSONCoding`'s configuration).
    public static func writeJSON(_ value: some Encodable, to path: String) throws {
        try write(try JSONCoding.encoder().encode(value), to: path)
    }

    /// Flushes a folder's entries (a rename or a new file in it) to disk.
    static func syncDirectory(_ folder: String) {
        let descriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if descriptor >= 0 { fsync(descriptor); close(descriptor) }
    }

    static func temporaryName(for name: String) -> String { ".\(name).\(getpid()).tmp" }

    /// Removes `.<name>.<pid>.tmp` files in `folder` whose process no longer runs; returns
    /// how many. Called by whoever holds the folder's lock (a resume, a sweep).
    @discardableResult
    public static func removeStaleTemporaries(in folder: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        var removed = 0
        for name in names where name.hasPrefix(".") && name.hasSuffix(".tmp") {
            let parts = name.dropLast(4).split(separator: ".")
            guard let pid = parts.last.flatMap({ Int32($0) }), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            if unlink(folder + "/" + name) == 0 { removed += 1 }
        }
        return removed
    }
}

/// Space set aside at the start of a run and given back just before the report that says
/// how the run ended: with a few KB left on the disk, a run used to stop with report.json
/// stuck at `running` (its failure report could not be written either).
package final class SpaceReserve {
    static let bytes = 2 << 20
    static let fileName = ".space-reserve"
    let path: String

    package init(in directory: String) throws {
        path = directory + "/" + SpaceReserve.fileName
        // Real bytes, not a sparse file: the blocks must be allocated to be given back.
        try AtomicFile.write(Data(count: SpaceReserve.bytes), to: path)
    }

    package func release() { unlink(path) }
}

public enum ReportError: Error, LocalizedError, Equatable {
    case cannotWrite(path: String, reason: String)
    case cannotCreateDirectory(path: String, reason: String)
    case runDirectoryNotEmpty(path: String)
    case runAlreadyComplete(path: String)

    public var errorDescription: String? {
        switch self {
        case .cannotWrite(let path, let reason):
            return "cannot write \(path): \(reason). Check the folder exists, is writable and has space, or choose another with --out."
        case .cannotCreateDirectory(let path, let reason):
            return "cannot create the run folder \(path): \(reason). Choose another with --out."
        case .runDirectoryNotEmpty(let path):
            return "the run folder \(path) already holds a report.json; choose a new folder with --out (runs are never overwritten), or continue an unfinished run with --resume \(path)."
        case .runAlreadyComplete(let path):
            return "the run in \(path) is already complete; there is nothing to resume."
        }
    }
}
