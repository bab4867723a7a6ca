import Foundation
import Synchronization

/// A private PostgreSQL cluster in a directory of its own: `initdb` on first
/// use, started with a Unix socket inside that directory and no TCP port, and
/// stopped again. Used by the test harness, the benchmark and (later) the
/// daemon's embedded default.
///
/// PostgreSQL refuses to run as root, so when this process is root every
/// PostgreSQL program is run as ``user`` (default `postgres`) through
/// `runuser`, and the directory is handed to that user.
///
/// The cluster is private to this process's OS user (docs/OPERATIONS.md,
/// Security): the folder and the socket are 0700, and the only client
/// authentication is `peer` through the map `recoveryd`, which lets this OS
/// user in as `postgres` (and the roles in ``databaseUsers``) and no one else;
/// not even the OS user the cluster runs as (see ``allowedOSUsers``).
/// ``start()`` writes these settings every time, so a cluster made by an older
/// version (`trust`, a 0755 folder, a mapped `postgres`) is locked down in place.
public final class LocalCluster: Sendable {
    /// The cluster's folder: `data/` holds the cluster, the socket and the
    /// server log live beside it.
    public let directory: URL
    public let user: String
    public let binDirectory: URL

    private struct Options {
        var settings: [String: String]
        var databaseUsers = ["postgres"]
        var startedHere = false
    }

    private let held: Mutex<Options>

    /// Extra `-c name=value` settings for the server.
    public var settings: [String: String] {
        get { held.withLock { $0.settings } }
        set { held.withLock { $0.settings = newValue } }
    }

    /// The database roles the allowed OS users may connect as (see
    /// ``allowedOSUsers``): `postgres` unless a caller needs more, as the test
    /// harness does for the least-privilege roles of deploy/roles.sql.
    public var databaseUsers: [String] {
        get { held.withLock { $0.databaseUsers } }
        set { held.withLock { $0.databaseUsers = newValue } }
    }

    /// Whether ``start()`` started the server (rather than finding it
    /// running): a daemon stops only a cluster it started itself.
    public var startedHere: Bool { held.withLock { $0.startedHere } }

    public var dataDirectory: URL { directory.appending(path: "data") }
    public var logFile: URL { directory.appending(path: "postgres.log") }
    /// libpq conninfo for a database of this cluster (socket only).
    public func conninfo(database: String = "postgres", user role: String = "postgres") -> String {
        "host='\(directory.path)' port=5432 user=\(role) dbname='\(database)'"
    }

    public init(directory: URL, user: String = "postgres", settings: [String: String] = [:]) throws(StoreError) {
        self.directory = directory
        self.user = user
        held = Mutex(Options(settings: settings))
        binDirectory = try Self.findBinDirectory()
    }

    /// True when the data directory holds an initialised cluster.
    public var isInitialized: Bool {
        FileManager.default.fileExists(atPath: dataDirectory.appending(path: "PG_VERSION").path)
    }

    /// Creates the cluster if it does not exist yet. `durable: false` skips
    /// initdb's fsync (for throwaway test clusters only).
    public func initializeIfNeeded(durable: Bool = true) throws(StoreError) {
        try createDirectory()
        guard !isInitialized else { return }
        var arguments = [
            "-D", dataDirectory.path, "-U", "postgres", "--auth-local=peer", "--auth-host=reject", "--encoding=UTF8",
            "--locale=C",
        ]
        if !durable { arguments.append("--no-sync") }
        try run("initdb", arguments)
    }

    /// Starts the server and waits until it accepts connections. A server left
    /// running by an earlier process is reused; a crashed one is recovered by
    /// PostgreSQL itself on start.
    public func start() throws(StoreError) {
        try lockDown()
        if isRunning {
            // Reused: make it read the access files just written.
            try run("pg_ctl", ["-D", dataDirectory.path, "reload"])
            return
        }
        var options = [
            "-c listen_addresses=''", "-c unix_socket_directories='\(directory.path)'", "-c port=5432",
            "-c unix_socket_permissions=0700",
        ]
        options += settings.sorted { $0.key < $1.key }.map { "-c \($0.key)=\($0.value)" }
        try run(
            "pg_ctl",
            ["-D", dataDirectory.path, "-l", logFile.path, "-w", "-t", "60", "-o", options.joined(separator: " "), "start"])
        held.withLock { $0.startedHere = true }
    }

    /// Stops the server if ``start()`` started it; says whether it did.
    @discardableResult
    public func stopIfStartedHere() throws(StoreError) -> Bool {
        guard startedHere else { return false }
        try stop()
        return true
    }

    /// Stops the server: `fast` disconnects clients and shuts down cleanly,
    /// `immediate` aborts (as a crash would).
    public func stop(mode: String = "fast") throws(StoreError) {
        guard isRunning else { return }
        try run("pg_ctl", ["-D", dataDirectory.path, "-m", mode, "-w", "-t", "60", "stop"])
    }

    /// True when a server is running on this data directory.
    public var isRunning: Bool {
        (try? run("pg_ctl", ["-D", dataDirectory.path, "status"], quiet: true)) != nil
    }

    /// Creates a database (if absent) and returns its conninfo.
    public func createDatabase(_ name: String) throws(StoreError) -> String {
        let admin = try PGConnection(conninfo())
        let exists = try admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [.text(name)])
        if exists.rowCount == 0 {
            try admin.execute("CREATE DATABASE \"\(name.replacingOccurrences(of: "\"", with: "\"\""))\"")
        }
        return conninfo(database: name)
    }

    private var runsAsOtherUser: Bool { getuid() == 0 }

    /// The OS users that may connect (as any of ``databaseUsers``): this
    /// process's user alone. When root runs the cluster as ``user`` (by
    /// default `postgres`, which the distribution's own server and every other
    /// such cluster share), that user is deliberately not mapped: it owns the
    /// files, but it cannot log in to a database.
    public var allowedOSUsers: [String] { [processUser] }

    /// The OS users that may open a replication connection (base backups, a
    /// standby's WAL stream) as `postgres`: this process's user and the one
    /// the cluster runs as, because a replica's server runs as that user.
    /// Such a connection runs no SQL and reads nothing that user cannot
    /// already read in the data directory it owns.
    public var replicatingOSUsers: [String] { processUser == user ? [user] : [processUser, user] }

    private var processUser: String { getpwuid(getuid()).map { String(cString: $0.pointee.pw_name) } ?? "root" }

    /// The access files this type writes: `pg_hba.conf` and `pg_ident.conf`.
    static func accessFiles(allowing users: [String], as roles: [String], replicating: [String]) -> (hba: String, ident: String) {
        let hba = """
            # Written by recoveryd at every start; edits are overwritten.
            # Only the Unix socket (mode 0700, in a 0700 folder), only by peer
            # authentication, only for the OS users mapped in pg_ident.conf:
            # databases through the map recoveryd, base backups and a
            # standby's stream through recoveryd-replication.
            local replication all peer map=recoveryd-replication
            local all all peer map=recoveryd

            """
        let ident = "# Written by recoveryd at every start; edits are overwritten.\n"
            + users.flatMap { user in roles.map { "recoveryd \(user) \($0)\n" } }.joined()
            + replicating.map { "recoveryd-replication \($0) postgres\n" }.joined()
        return (hba, ident)
    }

    /// Makes the folder and the data directory 0700 and owned by the cluster's
    /// user, and writes the access files (see the type's comment).
    public func lockDown() throws(StoreError) {
        try createDirectory()
        guard isInitialized else { return }
        let files = Self.accessFiles(allowing: allowedOSUsers, as: databaseUsers, replicating: replicatingOSUsers)
        do {
            for (name, text) in [("pg_hba.conf", files.hba), ("pg_ident.conf", files.ident)] {
                let url = dataDirectory.appending(path: name)
                try Data(text.utf8).write(to: url)
                try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: url.path)
                if runsAsOtherUser { _ = try ChildProcess.run("/bin/chown", [user, url.path]) }
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.connection, "cannot write the access files in \(dataDirectory.path): \(error)")
        }
    }

    private func createDirectory() throws(StoreError) {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory.path)
            if runsAsOtherUser {
                _ = try ChildProcess.run("/bin/chown", ["-R", user, directory.path])
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.connection, "cannot prepare \(directory.path): \(error)")
        }
    }

    @discardableResult
    private func run(_ program: String, _ arguments: [String], quiet: Bool = false) throws(StoreError) -> String {
        let executable = binDirectory.appending(path: program)
        do {
            if runsAsOtherUser {
                return try ChildProcess.run(
                    "/usr/sbin/runuser", ["-u", user, "--", executable.path] + arguments, currentDirectory: directory)
            }
            return try ChildProcess.run(executable.path, arguments, currentDirectory: directory)
        } catch let error as StoreError {
            if quiet { throw error }
            throw StoreError(error.code, "\(program) failed: \(error.message); see \(logFile.path)")
        } catch {
            throw StoreError(.connection, "cannot run \(program): \(error)")
        }
    }

    /// PostgreSQL's server programs: `$RECOVERYD_PG_BIN`, else `pg_config
    /// --bindir`, else the newest `/usr/lib/postgresql/*/bin`.
    static func findBinDirectory() throws(StoreError) -> URL {
        let fileManager = FileManager.default
        func hasInitdb(_ url: URL) -> Bool { fileManager.isExecutableFile(atPath: url.appending(path: "initdb").path) }
        if let configured = ProcessInfo.processInfo.environment["RECOVERYD_PG_BIN"] {
            let url = URL(fileURLWithPath: configured)
            guard hasInitdb(url) else { throw StoreError(.connection, "RECOVERYD_PG_BIN=\(configured) has no initdb") }
            return url
        }
        for candidate in ["/usr/bin/pg_config", "/usr/local/bin/pg_config"] where fileManager.isExecutableFile(atPath: candidate) {
            if let path = try? ChildProcess.run(candidate, ["--bindir"]).trimmingCharacters(in: .whitespacesAndNewlines),
                hasInitdb(URL(fileURLWithPath: path))
            {
                return URL(fileURLWithPath: path)
            }
        }
        let versions = ((try? fileManager.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .compactMap(Int.init).sorted(by: >)
        for version in versions {
            let url = URL(fileURLWithPath: "/usr/lib/postgresql/\(version)/bin")
            if hasInitdb(url) { return url }
        }
        throw StoreError(
            .connection,
            "PostgreSQL's server programs (initdb, pg_ctl) were not found: install them (apt-get install -y postgresql) or set RECOVERYD_PG_BIN"
        )
    }
}
