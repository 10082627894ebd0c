import Foundation
import TopiaryReport

/// An export folder appears whole or not at all: its files are written into a hidden sibling
/// folder, which is then renamed into place (an earlier export of the same path is replaced
/// only after the new one is complete).
public enum ExportFolder {
    public static func write(_ files: [String: String], to directory: String) throws {
        try write(files.mapValues { Data($0.utf8) }, to: directory)
    }

    public static func write(_ files: [String: Data], to directory: String) throws {
        let manager = FileManager.default
        let target = (directory as NSString).standardizingPath
        let parent = (target as NSString).deletingLastPathComponent
        let name = (target as NSString).lastPathComponent
        do {
            try manager.createDirectory(atPath: parent.isEmpty ? "." : parent, withIntermediateDirectories: true)
        } catch {
            throw ExportError.cannotWrite(path: directory, reason: error.localizedDescription)
        }
        let staging = (parent.isEmpty ? "." : parent) + "/.\(name).\(getpid()).partial"
        let previous = staging + ".previous"
        try? manager.removeItem(atPath: staging)
        var movedAside = false
        do {
            try manager.createDirectory(atPath: staging, withIntermediateDirectories: false)
            for (file, data) in files.sorted(by: { $0.key < $1.key }) { try AtomicFile.write(data, to: staging + "/" + file) }
            var isDirectory: ObjCBool = false
            if manager.fileExists(atPath: target, isDirectory: &isDirectory) {
                guard isDirectory.boolValue else { throw ExportError.cannotWrite(path: directory, reason: "a file of that name exists; choose a folder path") }
                try manager.moveItem(atPath: target, toPath: previous)
                movedAside = true
            }
            try manager.moveItem(atPath: staging, toPath: target)
            if movedAside { try? manager.removeItem(atPath: previous) }
        } catch {
            // The earlier export goes back where it was; nothing new is left behind.
            try? manager.removeItem(atPath: staging)
            if movedAside { try? manager.moveItem(atPath: previous, toPath: target) }
            if let exportError = error as? ExportError { throw exportError }
            throw ExportError.cannotWrite(path: directory, reason: error.localizedDescription)
        }
    }
}
