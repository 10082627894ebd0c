import Foundation
import TopiaryTensor

/// OpenBLAS picks its kernels when the library loads, before any Swift code runs; the only
/// way to change them is to start the process again with OPENBLAS_CORETYPE set. Every
/// program doing float work calls `chooseKernelsForThisCPU()` first thing (`topiary` does;
/// so does the scripting example).
public enum BLASBootstrap {
    /// Re-executes when the loaded kernels are made for less than the CPU offers, then warns
    /// if OpenBLAS still did not take the requested core.
    public static func chooseKernelsForThisCPU() {
        reexecIfNeeded()
        warnIfNotTaken()
    }

    /// The program's name for messages ("topiary", "custom-scorer-study").
    static var programName: String { URL(fileURLWithPath: CommandLine.arguments.first ?? "topiary").lastPathComponent }

    /// When OpenBLAS loaded kernels made for less than the CPU offers (see
    /// `BLASRuntime.preferredCoreType`) and the user did not set OPENBLAS_CORETYPE, or the user
    /// did not set OPENBLAS_THREAD_TIMEOUT, exec this program again with them set. A marker
    /// variable (naming what Topiary set) stops a second attempt; `RunEnvironment` then
    /// records whether the requested core was taken.
    ///
    /// The timeout: after each call OpenBLAS's worker threads spin (yielding) for 2^28 cycles by
    /// default, about 0.1 s, so during training they hold the cores Topiary's own workers
    /// (elementwise kernels, attention heads, optimizer sweeps) need between GEMMs; 2^10
    /// cycles lets them sleep almost at once (W3's step ≈ 10 % faster, `topiary bench`).
    public static func reexecIfNeeded() {
        let environment = ProcessInfo.processInfo.environment
        guard environment[RunEnvironment.reexecMarkerVariable] == nil else { return }
        let coreType = BLASRuntime.preferredCoreType(currentCore: BLASRuntime.coreName, userSetting: environment["OPENBLAS_CORETYPE"],
                                                     cpu: BLASRuntime.cpuInstructionSet)
        let setsTimeout = environment[threadTimeoutVariable] == nil
        guard coreType != nil || setsTimeout else { return }
        if let coreType { setenv("OPENBLAS_CORETYPE", coreType, 1) }
        if setsTimeout { setenv(threadTimeoutVariable, String(preferredThreadTimeout), 1) }
        let set = (coreType != nil ? ["OPENBLAS_CORETYPE"] : []) + (setsTimeout ? [threadTimeoutVariable] : [])
        setenv(RunEnvironment.reexecMarkerVariable, set.joined(separator: ","), 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // Only reached when exec failed: carry on with the slower kernels, and say so.
        let reason = String(cString: strerror(errno))
        FileHandle.standardError.write(Data("\(programName): warning: could not re-execute with \(set.joined(separator: " and ")) set (\(reason)); BLAS runs on its \(BLASRuntime.coreName) kernels with its default thread timeout.\n".utf8))
    }

    /// OpenBLAS's spin time before its workers sleep, as log₂ cycles (its own range is 4...30).
    public static let threadTimeoutVariable = "OPENBLAS_THREAD_TIMEOUT"
    public static let preferredThreadTimeout = 10

    /// In the re-executed process: if OpenBLAS loaded kernels made for less than the core
    /// requested (it did not take the variable), say so once; reports record whether the
    /// loaded core uses what the CPU offers (`blas_core_matches_cpu`). A probe that asks for
    /// a lesser core on purpose (the bench's generic row) is not warned about.
    public static func warnIfNotTaken() {
        let environment = ProcessInfo.processInfo.environment
        guard environment[RunEnvironment.reexecMarkerVariable] != nil, let requested = environment["OPENBLAS_CORETYPE"],
              BLASRuntime.instructionSet(ofCore: requested) > BLASRuntime.instructionSet(ofCore: BLASRuntime.coreName) else { return }
        FileHandle.standardError.write(Data("\(programName): warning: OpenBLAS did not take OPENBLAS_CORETYPE=\(requested): it runs its \(BLASRuntime.coreName) kernels on a CPU with \(BLASRuntime.cpuInstructionSet.name).\n".utf8))
    }
}
