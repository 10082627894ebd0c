import Foundation

/// A real single-node Slurm cluster for the tests: munged (reused when already running),
/// slurmctld and slurmd in the foreground as child processes, with a slurm.conf, state and
/// logs in a temporary folder. `start` returns nil and the reason when it cannot run here
/// (packages missing, not root, a daemon does not come up), so the caller can skip loudly.
final class SlurmCluster {
    let directory: String
    let configuration: String
    /// slurmctld and slurmd in the foreground (see `ChildProcess` for why not Foundation's Process).
    private var daemons: [ChildProcess] = []
    private var startedMunge = false

    var environment: [String: String] { ["SLURM_CONF": configuration] }

    private init(directory: String) {
        self.directory = directory
        configuration = directory + "/slurm.conf"
    }

    static func start() -> (cluster: SlurmCluster?, whyNot: String?) {
        let binaries = ["/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/bin/sbatch", "/usr/bin/squeue", "/usr/bin/sinfo", "/usr/sbin/munged", "/usr/bin/munge"]
        if let missing = binaries.first(where: { !FileManager.default.isExecutableFile(atPath: $0) }) {
            return (nil, "\(missing) is not installed (make test installs slurmctld slurmd slurm-client munge)")
        }
        guard getuid() == 0 else { return (nil, "slurmd must run as root to start jobs, and this test runs as uid \(getuid())") }
        let cluster = SlurmCluster(directory: temporaryDirectory("slurm"))
        if let problem = cluster.bringUp() {
            cluster.stop()
            return (nil, problem)
        }
        return (cluster, nil)
    }

    /// Nil when the node is idle and takes jobs; else what went wrong, with the log's tail.
    private func bringUp() -> String? {
        if !Self.succeeds("/bin/sh", ["-c", "/usr/bin/munge -n | /usr/bin/unmunge >/dev/null"]) {
            // Debian's munge keeps its socket in /run/munge, owned by the munge user.
            _ = Self.succeeds("/bin/sh", ["-c", "mkdir -p /run/munge && chown munge:munge /run/munge && chmod 0755 /run/munge"])
            guard FileManager.default.fileExists(atPath: "/etc/munge/munge.key") else { return "/etc/munge/munge.key is missing (reinstall munge)" }
            guard Self.succeeds("/usr/sbin/runuser", ["-u", "munge", "--", "/usr/sbin/munged"]) else { return "munged did not start" }
            startedMunge = true
            guard Self.succeeds("/bin/sh", ["-c", "/usr/bin/munge -n | /usr/bin/unmunge >/dev/null"]) else { return "munge credentials do not round-trip" }
        }
        let port = 20_000 + Int(getpid() % 20_000)
        let conf = """
        ClusterName=topiarytest
        SlurmctldHost=localhost(127.0.0.1)
        SlurmctldPort=\(port)
        SlurmdPort=\(port + 1)
        SlurmUser=root
        AuthType=auth/munge
        StateSaveLocation=\(directory)/state
        SlurmdSpoolDir=\(directory)/spool
        SlurmctldPidFile=\(directory)/slurmctld.pid
        SlurmdPidFile=\(directory)/slurmd.pid
        SlurmctldLogFile=\(directory)/slurmctld.log
        SlurmdLogFile=\(directory)/slurmd.log
        ProctrackType=proctrack/linuxproc
        TaskPlugin=task/none
        SelectType=select/cons_tres
        SelectTypeParameters=CR_Core
        SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
        ReturnToService=2
        MpiDefault=none
        JobCompType=jobcomp/none
        AccountingStorageType=accounting_storage/none
        JobAcctGatherType=jobacct_gather/none
        NodeName=localhost NodeAddr=127.0.0.1 CPUs=\(ProcessInfo.processInfo.activeProcessorCount) RealMemory=2000 State=UNKNOWN
        PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP

        """
        for folder in ["state", "spool"] { try? FileManager.default.createDirectory(atPath: directory + "/" + folder, withIntermediateDirectories: true) }
        writeTestFile(configuration, Data(conf.utf8))
        for (binary, arguments) in [("/usr/sbin/slurmctld", ["-D", "-i"]), ("/usr/sbin/slurmd", ["-D", "-N", "localhost"])] {
            let log = directory + "/" + (binary as NSString).lastPathComponent + ".out"
            guard let daemon = try? ChildProcess(binary, arguments, environment: environment, log: log) else { return "\(binary) did not start" }
            daemons.append(daemon)
        }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let state = Self.output("/usr/bin/sinfo", ["--noheader", "--format", "%T"], environment: environment), state.contains("idle") { return nil }
            if daemons.contains(where: { !$0.isRunning }) { break }   // a daemon died
            usleep(200_000)
        }
        let logs = ["slurmctld.out", "slurmd.out"].map { (try? String(contentsOfFile: directory + "/" + $0, encoding: .utf8)) ?? "" }
        return "the Slurm node did not become idle within 30 s; logs:\n" + logs.map { String($0.suffix(1500)) }.joined(separator: "\n---\n")
    }

    func stop() {
        for daemon in daemons { daemon.signal(SIGTERM) }
        for daemon in daemons { _ = try? daemon.wait(timeout: 5) }   // killed after 5 s
        daemons = []
        if startedMunge, let pid = (try? String(contentsOfFile: "/run/munge/munged.pid", encoding: .utf8)).flatMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) {
            kill(pid, SIGTERM)
            startedMunge = false
        }
    }

    deinit { stop() }

    /// Whether a command exits 0 within 30 s. munged daemonizes: runuser returns once it has.
    private static func succeeds(_ executable: String, _ arguments: [String]) -> Bool {
        (try? ChildProcess.run(executable, arguments, timeout: 30).status) == 0
    }

    /// Standard output of a command, or nil when it cannot start, exits non-zero or takes over 30 s.
    private static func output(_ executable: String, _ arguments: [String], environment: [String: String]) -> String? {
        guard let result = try? ChildProcess.run(executable, arguments, environment: environment, timeout: 30), result.status == 0 else { return nil }
        return result.stdout
    }
}
