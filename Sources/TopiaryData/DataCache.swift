import Foundation

/// Topiary's data cache: where `make` puts data files, and what `cache:` paths mean.
public enum DataCache {
    public static var directory: String {
        ProcessInfo.processInfo.environment["TOPIARY_CACHE"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.cache/topiary")
    }

    /// `path` with a leading `cache:` replaced by the cache folder.
    public static func resolve(_ path: String) -> String {
        path.hasPrefix("cache:") ? directory + "/" + path.dropFirst("cache:".count) : path
    }
}
