import Foundation
import LedgerStore
import RecoveryDomain
import PostgresTestSupport
import RecoveryClient
import Testing

/// The real `recoveryd` binary, started for one test against a database of the
/// test cluster (or any conninfo), with a token file of known tokens.
final class Daemon {
    static let tokens: [String: String] = [
        "frontline": "front-token", "auditor": "audit-token", "finance": "finance-token", "admin": "admin-token",
    ]
    /// Frontline tokens bound to one person each (`agent=` in the token file).
    static let boundTokens: [String: String] = ["A-1": "a1-token", "A-2": "a2-token", "S-1": "s1-token"]

    let conninfo: String
    private(set) var port: Int
    let folder: URL
    let extraArguments: [String]
    /// Variables added to the daemon's environment (through `env`).
    let environment: [String: String]
    private(set) var pid: pid_t = 0

    init(conninfo: String? = nil, arguments: [String] = [], environment: [String: String] = [:]) throws {
        self.conninfo = try conninfo ?? TestPostgres.database(migrated: false)
        folder = FileManager.default.temporaryDirectory.appending(path: "recoveryd-e2e-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var lines = ""
        for (role, token) in Self.tokens { lines += "\(role) \(TokenFileDigest.of(token)) test\n" }
        for (agent, token) in Self.boundTokens { lines += "frontline \(TokenFileDigest.of(token)) agent=\(agent) \(agent)'s\n" }
        try lines.write(to: folder.appending(path: "tokens"), atomically: true, encoding: .utf8)
        port = try Self.freePort()
        extraArguments = arguments
        self.environment = environment
        // The free port may be taken by another test's process before the
        // daemon binds it: then try another.
        for attempt in 1...3 {
            do {
                try start()
                return
            } catch let error as DaemonError where attempt < 3 && error.description.contains("cannot listen") {
                port = try Self.freePort()
            }
        }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: folder)
    }

    static var binary: String {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return executable.deletingLastPathComponent().appending(path: "recoveryd").path
    }

    var logPath: String { folder.appending(path: "recoveryd.log").path }

    /// Starts the daemon and waits until it accepts connections.
    func start() throws {
        let arguments = [
            "serve", "--listen", "127.0.0.1:\(port)", "--database", conninfo,
            "--token-file", folder.appending(path: "tokens").path, "--data-dir", folder.path,
        ] + extraArguments
        pid = environment.isEmpty
            ? try Self.spawn(Self.binary, arguments, output: logPath)
            // env execs the daemon in place: the pid is the daemon's.
            : try Self.spawn("/usr/bin/env", environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" } + [Self.binary] + arguments, output: logPath)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let client = try? LineClient(port: port) {
                client.close()
                return
            }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                pid = 0
                throw DaemonError("recoveryd exited at start: \(log)")
            }
            usleep(50_000)
        }
        throw DaemonError("recoveryd did not start listening: \(log)")
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits for the daemon to exit by itself (after a signal the test sent);
    /// its exit status as `waitpid` gives it.
    @discardableResult
    func waitForExit() -> Int32 {
        guard pid != 0 else { return 0 }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        pid = 0
        return status
    }

    /// SIGTERM, then waits for the exit; returns the exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM) -> Int32 {
        guard pid != 0 else { return 0 }
        kill(pid, signal)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        pid = 0
        return status
    }

    /// Connects and says HELLO with the frontline token bound to `agent`.
    func client(boundTo agent: String) throws -> LineClient {
        let client = try LineClient(port: port)
        let answer = try client.request("HELLO \(Self.boundTokens[agent]!)")
        guard answer.hasPrefix("OK ") else { throw DaemonError("HELLO failed: \(answer)") }
        return client
    }

    /// Connects and says HELLO with the role's token.
    func client(_ role: String? = nil) throws -> LineClient {
        let client = try LineClient(port: port)
        if let role {
            let answer = try client.request("HELLO \(Self.tokens[role]!)")
            guard answer.hasPrefix("OK ") else { throw DaemonError("HELLO failed: \(answer)") }
        }
        return client
    }

    /// Sends each request on a connection of its own (with `role`'s token),
    /// all released at the same moment; the answers, in no particular order.
    func atOnce(_ role: String, _ requests: [String]) throws -> [String] {
        let answers = NSLockedBox<[String]>([])
        let start = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        for request in requests {
            let client = try client(role)
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                start.wait()
                let answer = (try? client.request(request)) ?? "no answer"
                answers.mutate { $0.append(answer) }
            }
        }
        for _ in requests { start.signal() }
        guard group.wait(timeout: .now() + 60) == .success else { throw DaemonError("requests sent at once were not all answered in 60 s") }
        return answers.value
    }

    /// Runs `recoveryd` with other arguments to completion.
    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let output = FileManager.default.temporaryDirectory.appending(path: "recoveryd-run-\(UUID().uuidString)").path
        defer { unlink(output) }
        let pid = try spawn(binary, arguments, output: output)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return ((status >> 8) & 0xff, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    /// Runs `/usr/bin/env arguments…` to its end (a test's outside tool:
    /// pytest, curl); its exit status and what it printed.
    static func runTool(_ arguments: [String], output: String) throws -> (status: Int32, output: String) {
        let pid = try spawn("/usr/bin/env", arguments, output: output)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return (status, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    static func spawn(_ path: String, _ arguments: [String], output: String) throws -> pid_t {
        try ChildProcess.spawn(path, arguments, output: output)
    }

    static func freePort() throws -> Int { try LoopbackPort.free() }
}

/// Waits until `condition` holds, polling every 0.1 s; throws after `timeout`.
func waitFor(_ what: String, timeout: TimeInterval = 15, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while try !condition() {
        guard Date() < deadline else { throw DaemonError("timed out waiting for \(what)") }
        usleep(100_000)
    }
}

/// Waits until `condition` holds, polling every 0.1 s without blocking a
/// thread (for async tests); throws after `timeout`.
func eventually(_ what: String, timeout: Duration = .seconds(15), _ condition: () throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try !condition() {
        guard ContinuousClock.now < deadline else { throw DaemonError("timed out waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(100))
    }
}

struct DaemonError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

import Crypto

enum TokenFileDigest {
    static func of(_ token: String) -> String { Hex.encode(SHA256.hash(data: Array(token.utf8))) }
}
