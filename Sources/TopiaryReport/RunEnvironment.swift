import Foundation
import TopiaryTensor

/// Where and how a run happened: recorded in every report.json so runs can be compared.
public struct RunEnvironment: Codable, Sendable, Equatable {
    public var topiaryVersion: String
    public var gitCommit: String
    public var gitDirty: Bool?
    public var cpuModel: String
    public var logicalCores: Int
    public var blasCore: String
    public var blasThreads: Int
    public var blasConfiguration: String
    /// The OPENBLAS_CORETYPE the process ran with (nil: unset) and whether Topiary set it by
    /// re-executing itself.
    public var blasCoreTypeVariable: String?
    public var blasCoreSelectedByTopiary: Bool
    /// OPENBLAS_THREAD_TIMEOUT (log₂ cycles OpenBLAS's workers spin before sleeping; Topiary
    /// sets 10 unless the user set it; nil in reports written before it was recorded).
    public var blasThreadTimeoutVariable: String?
    /// The CPU's vector instruction set as the kernel choice sees it (avx512_bf16, avx512,
    /// avx2_fma, baseline), and whether the loaded BLAS core uses all of it: false means BLAS
    /// ran slower kernels than this machine allows. Nil in reports written before they existed.
    public var cpuInstructionSet: String?
    public var blasCoreMatchesCPU: Bool?
    /// Flush-to-zero / denormals-are-zero on the main thread (Topiary's workers set it too).
    public var flushToZero: Bool
    /// Probed: a GEMM of subnormal products split over every BLAS thread came out all zero.
    public var flushToZeroOnBLASThreads: Bool
    public var mxcsr: String
    public var operatingSystem: String
    public var hostname: String
    public var commandLine: [String]
    public var startedAt: String

    enum CodingKeys: String, CodingKey {
        case topiaryVersion = "topiary_version", gitCommit = "git_commit", gitDirty = "git_dirty"
        case cpuModel = "cpu_model", logicalCores = "logical_cores", blasCore = "blas_core"
        case blasThreads = "blas_threads", blasConfiguration = "blas_configuration"
        case blasCoreTypeVariable = "blas_coretype_variable", blasCoreSelectedByTopiary = "blas_core_selected_by_topiary"
        case blasThreadTimeoutVariable = "blas_thread_timeout_variable"
        case cpuInstructionSet = "cpu_instruction_set", blasCoreMatchesCPU = "blas_core_matches_cpu"
        case flushToZero = "flush_to_zero", flushToZeroOnBLASThreads = "flush_to_zero_blas_threads", mxcsr, operatingSystem = "operating_system", hostname
        case commandLine = "command_line", startedAt = "started_at"
    }

    /// Marks a process Topiary re-executed with OPENBLAS_CORETYPE and/or OPENBLAS_THREAD_TIMEOUT
    /// set (its value names them), so it does not loop.
    public static let reexecMarkerVariable = "TOPIARY_BLAS_REEXEC"

    public static func current() -> RunEnvironment {
        let environment = ProcessInfo.processInfo.environment
        let git = gitState()
        return RunEnvironment(
            topiaryVersion: Topiary.version,
            gitCommit: git.commit, gitDirty: git.dirty,
            cpuModel: cpuModel(),
            logicalCores: ProcessInfo.processInfo.activeProcessorCount,
            blasCore: BLASRuntime.coreName,
            blasThreads: BLASRuntime.threadCount,
            blasConfiguration: BLASRuntime.configuration,
            blasCoreTypeVariable: environment["OPENBLAS_CORETYPE"],
            blasCoreSelectedByTopiary: environment[reexecMarkerVariable]?.split(separator: ",").contains("OPENBLAS_CORETYPE") == true,
            blasThreadTimeoutVariable: environment[BLASBootstrap.threadTimeoutVariable],
            cpuInstructionSet: BLASRuntime.cpuInstructionSet.name,
            blasCoreMatchesCPU: blasCoreMatchesCPU(),
            flushToZero: FloatEnvironment.flushToZeroEnabled,
            flushToZeroOnBLASThreads: FloatEnvironment.blasThreadsFlushSubnormals(),
            mxcsr: "0x" + String(FloatEnvironment.mxcsr, radix: 16),
            operatingSystem: ProcessInfo.processInfo.operatingSystemVersionString,
            hostname: ProcessInfo.processInfo.hostName,
            commandLine: CommandLine.arguments,
            startedAt: ISO8601DateFormatter().string(from: Date()))
    }

    /// Whether the loaded OpenBLAS kernels use every instruction set extension the kernel
    /// choice knows on this CPU.
    public static func blasCoreMatchesCPU() -> Bool {
        BLASRuntime.instructionSet(ofCore: BLASRuntime.coreName) >= BLASRuntime.cpuInstructionSet
    }

    /// "model name" from /proc/cpuinfo.
    static func cpuModel() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return "unknown"
    }

    /// The commit of the working directory's git checkout, and whether tracked files differ.
    static func gitState() -> (commit: String, dirty: Bool?) {
        guard let commit = runGit(["rev-parse", "HEAD"]), !commit.isEmpty else { return ("unknown", nil) }
        let status = runGit(["status", "--porcelain", "--untracked-files=no"])
        return (commit, status.map { !$0.isEmpty })
    }

    private static func runGit(_ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

public enum Topiary {
    public static let version = "0.1.0"
}
