import Foundation
import TopiaryExperiment
import TopiaryTensor

enum BLASBootstrap {
    /// When OpenBLAS chose a generic core on a CPU with AVX-512 or AVX2 and the user did not
    /// set OPENBLAS_CORETYPE, exec this program again with it set. A marker variable stops a
    /// second attempt if the new core is not taken either.
    static func reexecIfNeeded() {
        let environment = ProcessInfo.processInfo.environment
        guard environment[RunEnvironment.reexecMarkerVariable] == nil,
              let coreType = BLASRuntime.preferredCoreType(currentCore: BLASRuntime.coreName,
                                                           userSetting: environment["OPENBLAS_CORETYPE"],
                                                           hasAVX512: BLASRuntime.cpuHasAVX512,
                                                           hasAVX2FMA: BLASRuntime.cpuHasAVX2FMA)
        else { return }
        setenv("OPENBLAS_CORETYPE", coreType, 1)
        setenv(RunEnvironment.reexecMarkerVariable, "1", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // Only reached when exec failed: carry on with the slower kernels, and say so.
        let reason = String(cString: strerror(errno))
        FileHandle.standardError.write(Data("topiary: warning: could not re-execute with OPENBLAS_CORETYPE=\(coreType) (\(reason)); BLAS runs on its generic \(BLASRuntime.coreName) kernels.\n".utf8))
    }
}
