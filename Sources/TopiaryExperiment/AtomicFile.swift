import Foundation

/// Writes files so a reader sees the old content or the new content, never a part: the
/// bytes go to a temporary file in the same folder, are flushed, and are renamed over the
/// target (rename(2) is atomic within one file system).
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = (directory.isEmpty ? "." : directory) + "/.\((path as NSString).lastPathComponent).\(getpid()).tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: data) else {
            throw ReportError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
        let descriptor = open(temporary, O_RDONLY)
        if descriptor >= 0 { fsync(descriptor); close(descriptor) }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw ReportError.cannotWrite(path: path, reason: reason)
        }
    }

    public static func write(_ text: String, to path: String) throws {
        try write(Data(text.utf8), to: path)
    }

    /// `value` as JSON (`JSONCoding`'s configuration).
    public static func writeJSON(_ value: some Encodable, to path: String) throws {
        try write(try JSONCoding.encoder().encode(value), to: path)
    }
}

public enum ReportError: Error, LocalizedError, Equatable {
    case cannotWrite(path: String, reason: String)
    case cannotCreateDirectory(path: String, reason: String)
    case runDirectoryNotEmpty(path: String)
    case runAlreadyComplete(path: String)

    public var errorDescription: String? {
        switch self {
        case .cannotWrite(let path, let reason):
            return "cannot write \(path): \(reason). Check the folder exists and is writable, or choose another with --out."
        case .cannotCreateDirectory(let path, let reason):
            return "cannot create the run folder \(path): \(reason). Choose another with --out."
        case .runDirectoryNotEmpty(let path):
            return "the run folder \(path) already holds a report.json; choose a new folder with --out (runs are never overwritten), or continue an unfinished run with --resume \(path)."
        case .runAlreadyComplete(let path):
            return "the run in \(path) is already complete; there is nothing to resume."
        }
    }
}
