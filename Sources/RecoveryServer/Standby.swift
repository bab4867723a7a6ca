import Foundation
import LedgerStore
import Logging
import RecoveryDomain

/// A thread that runs a round of work every `interval` until it is stopped or
/// a round says it is done: the standby's attempts to take over and the log
/// tailer's reads.
final class Rounds: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false

    /// `round` returns false when there is nothing more to do. It runs on the
    /// new thread only, so what it captures needs no lock.
    init(name: String, interval: TimeInterval, round: @escaping (Rounds) -> Bool) {
        nonisolated(unsafe) let round = round
        let thread = Thread { [self] in
            while !isStopped, round(self) { Thread.sleep(forTimeInterval: interval) }
        }
        thread.name = name
        thread.start()
    }

    func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
    }

    var isStopped: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopped
    }
}

/// A warning logged once per distinct error, not once per round.
private struct OnceEach {
    private var last = ""
    mutating func log(_ message: Logger.Message, _ error: Error, to logger: Logger) {
        guard "\(error)" != last else { return }
        last = "\(error)"
        logger.warning(message, metadata: ["error": "\(error)"])
    }
    mutating func reset() { last = "" }
}

/// `recoveryd serve --standby` (docs/OPERATIONS.md, "High availability"): a second daemon on the same
/// database. It serves reads from the tables while another daemon holds the
/// writer's lock, tails the log for its subscribers, and tries to become the
/// writer every `interval`; when the writer's session ends (its process
/// died, or stopped), the lock is free and this daemon's writer takes it,
/// loads the state and serves appends. Until then `APPEND` is
/// `ERR read_only <writer>`.
final class Standby: @unchecked Sendable {
    private let writer: LedgerWriter
    private let tailer: LogTailer
    private let logger: Logger
    private let interval: TimeInterval
    private let lock = NSLock()
    private var writerName: String?
    private var rounds: Rounds?
    /// The standby thread's own connection for looking up the lock's holder.
    private var probe: PGConnection?

    init(writer: LedgerWriter, tailer: LogTailer, logger: Logger, interval: TimeInterval = 0.5) {
        self.writer = writer
        self.tailer = tailer
        self.logger = logger
        self.interval = interval
    }

    /// The writer daemon's address as it advertises it, if known.
    var writerAddress: String? {
        lock.lock()
        defer { lock.unlock() }
        return writerName
    }

    func start() {
        var problems = OnceEach()
        let waiting = ContinuousClock.now
        rounds = Rounds(name: "recoveryd-standby", interval: interval) { [self] _ in
            do {
                try writer.start()
                tailer.stop()
                logger.notice(
                    "took over as the writer", metadata: ["position": "\(writer.view.position)", "waited_s": "\(ContinuousClock.now - waiting)"])
                return false
            } catch let error as StoreError where error.code == .writerLocked {
                noteHolder()
            } catch {
                problems.log("standby: cannot take over yet", error, to: logger)
            }
            return true
        }
    }

    func stop() { rounds?.stop() }

    /// Who holds the lock: the `application_name` the writer set (`recoveryd@<address>`).
    private func noteHolder() {
        if !(probe?.isConnected ?? false) { probe = try? PGConnection(writer.configuration.conninfo, timeouts: .maintenance) }
        guard let probe, let holder = try? EventLog.lockHolder(probe) else { return }
        let name = holder.application.hasPrefix("recoveryd@") ? String(holder.application.dropFirst("recoveryd@".count)) : nil
        lock.lock()
        writerName = name
        lock.unlock()
    }
}

/// Follows the log in the database for subscribers when this daemon does not
/// write it (a standby, a follower): every `interval` it reads the events
/// past the last it published and publishes them in order. A position it
/// could not read yet is read on the next round, never skipped.
final class LogTailer: @unchecked Sendable {
    private let conninfo: String
    private let timeouts: PGTimeouts
    private let hub: SubscriptionHub
    private let view: WriterView
    private let logger: Logger
    private let interval: TimeInterval
    private let lock = NSLock()
    private var rounds: Rounds?
    /// A follower's: measure how far the replica is behind its primary.
    private let measuresLag: Bool
    private var measured: Lag?
    // Owned by the tailer's thread.
    private var connection: PGConnection?
    private var primary: PGConnection?
    private var lastMeasured = Date.distantPast

    /// How far a replica is behind: in positions (its primary's checkpoint
    /// against its own head; nil when the primary cannot be reached) and in
    /// seconds since the last replayed commit (0 when all received WAL is
    /// replayed).
    struct Lag: Sendable {
        var positions: Int64?
        var seconds: Double?
    }

    var lag: Lag? {
        lock.lock()
        defer { lock.unlock() }
        return measured
    }

    init(
        conninfo: String, timeouts: PGTimeouts, hub: SubscriptionHub, view: WriterView, measuresLag: Bool = false, logger: Logger,
        interval: TimeInterval = 0.2
    ) {
        self.measuresLag = measuresLag
        self.conninfo = conninfo
        self.timeouts = timeouts
        self.hub = hub
        self.view = view
        self.logger = logger
        self.interval = interval
    }

    func start() {
        var published: Int64?
        var problems = OnceEach()
        rounds = Rounds(name: "recoveryd-tailer", interval: interval) { [self] rounds in
            do {
                published = try round(after: published, until: rounds)
                problems.reset()
            } catch {
                problems.log("cannot follow the log", error, to: logger)
            }
            return true
        }
    }

    func stop() { rounds?.stop() }

    /// Publishes what the log holds past `published` (at start: nothing
    /// before the head); returns the last position published.
    private func round(after published: Int64?, until rounds: Rounds) throws -> Int64 {
        if !(connection?.isConnected ?? false) { connection = try PGConnection(conninfo, timeouts: timeouts) }
        guard let connection else { return published ?? 0 }
        let reader = EventReader(connection: connection)
        let head = try reader.head()
        // The settings are read again when the log moved: an admin may have changed one.
        let moved = head.position != (published ?? -1)
        view.observe(head: head, settings: moved ? try Projections(connection: connection).settingsHistory() : nil)
        var next = (published ?? head.position) + 1
        while next <= head.position, !rounds.isStopped {
            let page = try reader.page(from: next, through: head.position, limit: EventReader.defaultPageSize)
            guard let last = page.last else { break }
            hub.publish(page)
            next = last.position + 1
        }
        if measuresLag, Date().timeIntervalSince(lastMeasured) >= 1 {
            lastMeasured = Date()
            let lag = measureLag(on: connection, head: head.position)
            lock.lock()
            measured = lag
            lock.unlock()
        }
        return next - 1
    }

    /// The replica's lag; its primary is found through `pg_stat_wal_receiver`
    /// and reached with the replica's database and user (credentials as
    /// libpq finds them: `.pgpass`, peer).
    private func measureLag(on replica: PGConnection, head: Int64) -> Lag {
        var lag = Lag()
        if let row = try? replica.query(
            """
            SELECT CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                        ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END::float8::text
            """), let text = row.string(0, 0) {
            lag.seconds = Double(text)
        }
        if !(primary?.isConnected ?? false) {
            primary = nil
            if let row = try? replica.query(
                "SELECT sender_host, sender_port::text, current_database(), current_user FROM pg_stat_wal_receiver WHERE status = 'streaming'"),
                row.rowCount == 1, let host = row.string(0, 0), let port = row.string(0, 1), let database = row.string(0, 2),
                let user = row.string(0, 3)
            {
                func quoted(_ value: String) -> String {
                    "'" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
                }
                primary = try? PGConnection(
                    "host=\(quoted(host)) port=\(port) dbname=\(quoted(database)) user=\(quoted(user)) connect_timeout=2",
                    timeouts: PGTimeouts(connect: .seconds(2), statement: .seconds(2), commit: .seconds(2)))
            }
        }
        if let primary, let row = try? primary.query("SELECT position FROM ledger_checkpoint"), let position = row.int64(0, 0) {
            lag.positions = max(0, position - head)
        }
        return lag
    }
}
