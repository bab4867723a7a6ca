import Foundation

/// Starts programs with `posix_spawn` and waits with `waitpid` — not
/// Foundation's `Process`, whose exit detection can hang when programs are
/// started from several threads (seen here with parallel tests). Output goes to
/// a file, never a pipe: `pg_ctl start` leaves a server behind that would hold
/// a pipe open.
public enum ChildProcess {
    /// Starts `path` with `arguments`, standard input from /dev/null and
    /// standard output and error appended to `output`; returns its pid.
    public static func spawn(_ path: String, _ arguments: [String], output: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // The child starts with no signal blocked and the usual signals at
        // their defaults, whatever this process blocks or ignores (servers such
        // as pg_autoctl stop their children with SIGINT, and an inherited
        // ignored SIGINT would make them wait forever).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        posix_spawnattr_setsigmask(&attributes, &unblocked)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGUSR1, SIGUSR2, SIGCHLD, SIGALRM] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        guard spawned == 0 else {
            throw StoreError(.connection, "cannot start \(path): \(String(cString: strerror(spawned)))")
        }
        return pid
    }

    /// How a child ended.
    public enum Termination: Equatable, Sendable {
        case exited(Int32)
        case signalled(Int32)
    }

    /// Waits for `pid` to end.
    public static func wait(_ pid: pid_t) -> Termination {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f)
    }

    /// Runs a program to completion (in `currentDirectory`, through `env -C`)
    /// and returns its output; throws with the output if it fails.
    public static func run(_ path: String, _ arguments: [String], currentDirectory: URL? = nil) throws -> String {
        let output = FileManager.default.temporaryDirectory.appending(path: "recoveryd-\(UUID().uuidString).out").path
        defer { unlink(output) }
        let program = currentDirectory == nil ? path : "/usr/bin/env"
        let words = currentDirectory.map { ["-C", $0.path, path] } ?? []
        let termination = wait(try spawn(program, words + arguments, output: output))
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        guard termination == .exited(0) else {
            let how: String
            switch termination {
            case .exited(let code): how = "exited with \(code)"
            case .signalled(let signal): how = "was killed by signal \(signal)"
            }
            let name = URL(fileURLWithPath: path).lastPathComponent
            throw StoreError(.connection, "\(name) \(how): \(text.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return text
    }
}
