import COpenBLAS
import CTopiaryRuntime

/// What OpenBLAS chose at load time, and the decision whether to re-execute with a better core.
///
/// Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) does not recognise newer CPUs: it loads its AVX2
/// "Haswell" kernels on an AVX-512 Zen 5 (sgemm 119 vs 223 GFLOP/s) and its generic
/// "Prescott" kernels on some AVX-512 Xeons (~6x slower sgemm). The core is chosen when
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

    /// `body` with BLAS at `threads`, the count it had restored after. The count is
    /// process-wide: call this from the thread that drives BLAS, outside parallel regions.
    public static func withThreadCount<T>(_ threads: Int, _ body: () throws -> T) rethrows -> T {
        let before = threadCount
        guard threads != before else { return try body() }
        setThreadCount(threads)
        defer { setThreadCount(before) }
        return try body()
    }

    /// The vector instructions a CPU offers, as far as OpenBLAS's kernel sets care.
    public enum InstructionSet: Int, Comparable, Sendable {
        case baseline = 0, avx2FMA, avx512, avx512BF16
        public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

        /// The kernel set made for it: Cooperlake (AVX-512 with BF16), SkylakeX (AVX-512),
        /// Haswell (AVX2 + FMA); nil for baseline CPUs (OpenBLAS's own choice stands).
        public var coreType: String? {
            switch self {
            case .avx512BF16: "Cooperlake"
            case .avx512: "SkylakeX"
            case .avx2FMA: "Haswell"
            case .baseline: nil
            }
        }

        /// As reports record it (`cpu_instruction_set`).
        public var name: String {
            switch self {
            case .avx512BF16: "avx512_bf16"
            case .avx512: "avx512"
            case .avx2FMA: "avx2_fma"
            case .baseline: "baseline"
            }
        }
    }

    /// What an OpenBLAS 0.3.21 kernel set uses. Unknown names (older or generic cores:
    /// Prescott, Nehalem, Sandybridge…) count as baseline.
    public static func instructionSet(ofCore core: String) -> InstructionSet {
        switch core.lowercased() {
        case "cooperlake", "sapphirerapids": .avx512BF16
        case "skylakex": .avx512
        case "haswell", "zen", "skylake": .avx2FMA
        default: .baseline
        }
    }

    /// This CPU's instruction set (with the OS saving the wider registers).
    public static var cpuInstructionSet: InstructionSet {
        if topiary_cpu_has_avx512_bf16() != 0 { return .avx512BF16 }
        if topiary_cpu_has_avx512() != 0 { return .avx512 }
        if topiary_cpu_has_avx2_fma() != 0 { return .avx2FMA }
        return .baseline
    }

    /// The `OPENBLAS_CORETYPE` to re-execute with, or nil to keep the current core.
    /// Pure, so the decision is testable: the kernel set made for the CPU's instruction set
    /// whenever OpenBLAS loaded one made for less (Debian's 0.3.21 loads Haswell on an AVX-512
    /// Zen 5 and Prescott on some AVX-512 Xeons); nil when the user set the variable or the
    /// loaded core already uses everything the CPU has.
    public static func preferredCoreType(currentCore: String, userSetting: String?, cpu: InstructionSet) -> String? {
        if let userSetting, !userSetting.isEmpty { return nil }
        guard let best = cpu.coreType, instructionSet(ofCore: currentCore) < cpu else { return nil }
        return best
    }

}

extension String {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s.removeFirst() }
        while s.last == set { s.removeLast() }
        return String(s)
    }
}
