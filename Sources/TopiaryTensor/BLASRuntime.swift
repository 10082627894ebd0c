import COpenBLAS
import CTopiaryRuntime

/// What OpenBLAS chose at load time, and the decision whether to re-execute with a better core.
///
/// Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) does not recognise newer CPUs (e.g. AMD Zen 4) and
/// falls back to its generic "Prescott" kernels (~10x slower sgemm). The core is chosen when
/// the library loads, from `OPENBLAS_CORETYPE`, so the only fix from inside the program is to
/// set that variable and exec itself again before doing any work.
public enum BLASRuntime {
    /// The kernel set OpenBLAS is using, e.g. "SkylakeX", "Haswell", "Prescott".
    public static var coreName: String { String(cString: openblas_get_corename()) }
    /// OpenBLAS's build configuration string (version, threading model, max threads).
    public static var configuration: String {
        String(cString: openblas_get_config()).trimmingCharacters(in: " ")
    }
    public static var threadCount: Int { Int(openblas_get_num_threads()) }
    public static func setThreadCount(_ threads: Int) {
        require(threads >= 1, "BLAS threads must be >= 1, but got \(threads)")
        openblas_set_num_threads(Int32(threads))
    }

    /// Cores OpenBLAS falls back to when it does not know the CPU.
    public static let genericCores: Set<String> = ["Prescott", "Core2", "Nehalem", "Penryn", "Dunnington",
                                                   "Atom", "Katmai", "Coppermine", "Northwood", "Banias",
                                                   "Athlon", "Opteron", "Barcelona", "Bobcat"]

    /// The `OPENBLAS_CORETYPE` to re-execute with, or nil to keep the current core.
    /// Pure, so the decision is testable: nil when the user set the variable, when the core
    /// is not a generic fallback, or when the CPU has neither AVX-512 nor AVX2+FMA.
    public static func preferredCoreType(currentCore: String, userSetting: String?,
                                         hasAVX512: Bool, hasAVX2FMA: Bool) -> String? {
        if let userSetting, !userSetting.isEmpty { return nil }
        guard genericCores.contains(currentCore) else { return nil }
        if hasAVX512 { return "SkylakeX" }
        if hasAVX2FMA { return "Haswell" }
        return nil
    }

    public static var cpuHasAVX512: Bool { topiary_cpu_has_avx512() != 0 }
    public static var cpuHasAVX2FMA: Bool { topiary_cpu_has_avx2_fma() != 0 }
}

extension String {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s.removeFirst() }
        while s.last == set { s.removeLast() }
        return String(s)
    }
}
