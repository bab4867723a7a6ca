import Foundation
import LedgerStore
import Logging
import NIOPosix
import RecoveryDomain
import ServiceLifecycle
import Synchronization

/// Follows the log in the database for subscribers when this daemon does not
/// write it (a standby, a follower): every `interval` it reads the events
/// past the last it published and publishes them in order. A position it
/// could not read yet is read on the next round, never skipped. Its rounds
/// block on libpq, so they run on NIO's thread pool; what a round keeps
/// between rounds is under a `Mutex` that only rounds take, one at a time.
final class LogTailer: Service, Sendable {
    private let conninfo: String
    private let timeouts: PGTimeouts
    private let hub: SubscriptionHub
    private let view: WriterView
    private let logger: Logger
    private let interval: Duration
    /// A follower's: measure how far the replica is behind its primary.
    private let measuresLag: Bool
    private let measured = Mutex<Lag?>(nil)
    /// Set when the standby took over: the writer publishes from then on.
    private let stopped = Atomic<Bool>(false)

    /// What rounds keep between them.
    private struct Rounds {
        var connection: PGConnection?
        var primary: PGConnection?
        var lastMeasured = Date.distantPast
        var published: Int64?
        var problems = OnceEach()
    }

    private let rounds = Mutex(Rounds())

    /// How far a replica is behind: in positions (its primary's checkpoint
    /// against its own head; nil when the primary cannot be reached) and in
    /// seconds since the last replayed commit (0 when all received WAL is
    /// replayed).
    struct Lag: Sendable {
        var positions: Int64?
        var seconds: Double?
    }

    var lag: Lag? { measured.withLock { $0 } }

    init(
        conninfo: String, timeouts: PGTimeouts, hub: SubscriptionHub, view: WriterView, measuresLag: Bool = false, logger: Logger,
        interval: Duration = .milliseconds(200)
    ) {
        self.measuresLag = measuresLag
        self.conninfo = conninfo
        self.timeouts = timeouts
        self.hub = hub
        self.view = view
        self.logger = logger
        self.interval = interval
    }

    func run() async {
        while !isStopped && !Task.isShuttingDownGracefully && !Task.isCancelled {
            _ = try? await NIOThreadPool.singleton.runIfActive { [self] in
                rounds.withLock { rounds in
                    do {
                        rounds.published = try round(after: rounds.published, &rounds)
                        rounds.problems.reset()
                    } catch {
                        rounds.problems.log("cannot follow the log", error, to: logger)
                    }
                }
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
            } catch {
                break
            }
        }
        try? await gracefulShutdown()
    }

    /// Stops following (the standby took over as the writer).
    func stop() { stopped.store(true, ordering: .relaxed) }

    private var isStopped: Bool { stopped.load(ordering: .relaxed) }

    /// Publishes what the log holds past `published` (at start: nothing
    /// before the head); returns the last position published.
    private func round(after published: Int64?, _ rounds: inout Rounds) throws -> Int64 {
        if !(rounds.connection?.isConnected ?? false) { rounds.connection = try PGConnection(conninfo, timeouts: timeouts) }
        guard let connection = rounds.connection else { return published ?? 0 }
        let reader = EventReader(connection: connection)
        let head = try reader.head()
        // The settings are read again when the log moved: an admin may have changed one.
        let moved = head.position != (published ?? -1)
        view.observe(head: head, settings: moved ? try Projections(connection: connection).settingsHistory() : nil)
        var next = (published ?? head.position) + 1
        while next <= head.position, !isStopped {
            let page = try reader.page(from: next, through: head.position, limit: EventReader.defaultPageSize)
            guard let last = page.last else { break }
            hub.publish(page)
            next = last.position + 1
        }
        if measuresLag, Date().timeIntervalSince(rounds.lastMeasured) >= 1 {
            rounds.lastMeasured = Date()
            let lag = measureLag(on: connection, head: head.position, primary: &rounds.primary)
            measured.withLock { $0 = lag }
        }
        return next - 1
    }

    /// The replica's lag; its primary is found through `pg_stat_wal_receiver`
    /// and reached with the replica's database and user (credentials as
    /// libpq finds them: `.pgpass`, peer).
    private func measureLag(on replica: PGConnection, head: Int64, primary: inout PGConnection?) -> Lag {
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
