import Foundation

/// Child processes for the tests, spawned with posix_spawn and reaped with waitpid, with a
/// deadline. Not Foundation's `Process`: when a child starts a daemon (runuser → munged
/// forks and closes its descriptors), Foundation's monitor stops reaping and
/// `waitUntilExit` never returns — the whole suite then hangs until CI kills it. Output goes
/// to files rather than pipes, so a grandchild that keeps a descriptor cannot block a read.
final class ChildProcess {
    let pid: pid_t
    /// Set once the child has been reaped.
    private(set) var exitStatus: Int32?
    let command: String
    private let stdoutPath: String
    private let stderrPath: String

    struct TimedOut: Error, CustomStringConvertible {
        let command: String
        let seconds: Double
        let stdout: String
        let stderr: String
        var description: String { "\(command) did not finish within \(seconds) s and was killed\nstdout: \(stdout.suffix(2000))\nstderr: \(stderr.suffix(2000))" }
    }

    struct Result {
        /// The exit status, or 128 + the signal's number when a signal ended it.
        let status: Int32
        let stdout: String
        let stderr: String
        var signalled: Bool { status > 128 }
    }

    /// Starts `executable` with stdin from /dev/null, stdout and stderr into files (or one
    /// `log` file for both), the test's environment overlaid with `environment`, in a
    /// process group of its own so that a timeout can kill what it started too.
    /// `environment` is added to this process's; `unset` names variables the child must not inherit.
    init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], unset: Set<String> = [], log: String? = nil) throws {
        let folder = temporaryDirectory("child")
        stdoutPath = log ?? folder + "/stdout"
        stderrPath = log ?? folder + "/stderr"
        command = ([executable] + arguments).joined(separator: " ")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if log != nil {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The test's threads block signals and ignore SIGPIPE, and a child inherits both: a
        // daemon started with SIGTERM blocked never stops. Start children with none blocked
        // and every handler at its default.
        var noSignals = sigset_t(), allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = ProcessInfo.processInfo.environment.filter { !unset.contains($0.key) }.merging(environment) { $1 }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var child: pid_t = 0
        let error = posix_spawn(&child, executable, &actions, &attributes, argv, envp)
        guard error == 0 else { throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "cannot start \(executable): \(String(cString: strerror(error)))"]) }
        pid = child
    }

    /// Runs to completion; throws `TimedOut` (after killing its process group) past `timeout` seconds.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:], unset: Set<String> = [],
                    timeout: Double = 600) throws -> Result {
        let child = try ChildProcess(executable, arguments, environment: environment, unset: unset)
        return try child.wait(timeout: timeout)
    }

    /// Nil while running; the exit status (128 + signal when signalled) once it has ended.
    func poll() -> Int32? {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        let signal = status & 0x7f
        exitStatus = signal == 0 ? (status >> 8) & 0xff : 128 + signal
        return exitStatus
    }

    var isRunning: Bool { poll() == nil }

    func wait(timeout: Double) throws -> Result {
        let deadline = Date().addingTimeInterval(timeout)
        var pause: useconds_t = 1_000
        while true {
            if let status = poll() { return Result(status: status, stdout: read(stdoutPath), stderr: read(stderrPath)) }
            if Date() > deadline {
                kill(-pid, SIGKILL)
                while poll() == nil { usleep(1_000) }
                throw TimedOut(command: command, seconds: timeout, stdout: read(stdoutPath), stderr: read(stderrPath))
            }
            usleep(pause)
            pause = min(pause * 2, 50_000)
        }
    }

    func signal(_ number: Int32) { kill(pid, number) }

    private func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
}
