import Foundation
import Synchronization
import RecoveryDomain

/// Folds the whole log through the domain's `evolve`, as a rebuild does
/// (docs/STORE.md, "Rebuild"): the state it gives must equal the projection
/// tables. It takes nothing but the log: the ledger's settings are its
/// `ledger_setting` events, and its opening ones are read first since they
/// hold from the first position. One
/// thread reads pages and decodes them on both cores while the caller's
/// thread folds them in order; at most `capacity` decoded pages wait, so
/// memory stays bounded however long the log.
public enum Rebuild {
    public struct Replayed: Sendable {
        public var state: LedgerState
        public var events: Int64
        public var seconds: Double

        /// Events folded per second.
        public var rate: Int { seconds > 0 ? Int(Double(events) / seconds) : 0 }
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Replays the log of `conninfo` from position 1; `progress` is called
    /// every 100,000 events. Throws at the first position that does not decode
    /// or does not follow the one before.
    public static func replay(conninfo: String, progress: (Int64) -> Void = { _ in }) throws -> Replayed {
        let started = ContinuousClock.now
        var replayed = LedgerState(opening: try EventReader(connection: PGConnection(conninfo)).opening())
        // The state's dictionaries sized first, from the tables' row estimates:
        // growing them as the fold goes rehashes every entry again and again.
        let sizes = try expectedRows(conninfo: conninfo)
        replayed.cases.reserveCapacity(sizes["cases"] ?? 0)
        replayed.customerComplaints.reserveCapacity(sizes["cases"] ?? 0)
        replayed.budgets.reserveCapacity(sizes["budget_days"] ?? 0)
        replayed.customerDays.reserveCapacity(sizes["customer_days"] ?? 0)
        var count: Int64 = 0
        var failure: String?
        let pages = DecodedPages(capacity: 4)
        let reader = Thread {
            do {
                var payloads: [[UInt8]] = []
                payloads.reserveCapacity(EventReader.defaultPageSize)
                // Each page is decoded on both cores, then handed over in order.
                func hand(_ payloads: [[UInt8]]) {
                    let halves = Mutex<[[Result<RecordedEvent, Rejection>]]>([[], []])
                    DispatchQueue.concurrentPerform(iterations: 2) { half in
                        let range = half == 0 ? 0..<payloads.count / 2 : payloads.count / 2..<payloads.count
                        let decoded = range.map { EventCodec.decodeRecorded(payload: payloads[$0]) }
                        halves.withLock { $0[half] = decoded }
                    }
                    pages.push(halves.withLock { $0[0] + $0[1] })
                }
                try EventReader(connection: PGConnection(conninfo)).forEach(from: 1) { stored in
                    payloads.append(stored.payload)
                    if payloads.count == EventReader.defaultPageSize {
                        hand(payloads)
                        payloads.removeAll(keepingCapacity: true)
                    }
                }
                hand(payloads)
                pages.finish(error: nil)
            } catch {
                pages.finish(error: "\(error)")
            }
        }
        reader.start()
        while failure == nil, let page = pages.pop() {
            for decoded in page {
                switch decoded {
                case .success(let recorded):
                    guard recorded.position == replayed.lastPosition + 1 else {
                        failure = "position \(recorded.position) follows \(replayed.lastPosition)"
                        break
                    }
                    replayed.apply(recorded)
                    count += 1
                    if count % 100_000 == 0 { progress(count) }
                case .failure(let error):
                    failure = "position \(replayed.lastPosition + 1) does not decode: \(error)"
                }
                if failure != nil { break }
            }
        }
        pages.cancel()
        if failure == nil, let error = pages.error { failure = error }
        if let failure { throw Failure(description: "rebuild failed: \(failure)") }
        return Replayed(state: replayed, events: count, seconds: (ContinuousClock.now - started).seconds)
    }

    /// PostgreSQL's estimate of the rows of each projection table the fold
    /// fills (`pg_class.reltuples`, kept by VACUUM and ANALYZE; none for a
    /// table never counted), capped so that a wrong estimate cannot ask for
    /// more than it could hold.
    static func expectedRows(conninfo: String) throws -> [String: Int] {
        let rows = try PGConnection(conninfo).query(
            """
            SELECT c.relname, c.reltuples::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND c.relname IN ('cases', 'budget_days', 'customer_days') AND n.nspname = current_schema()
            """)
        var sizes: [String: Int] = [:]
        for row in 0..<rows.rowCount {
            guard let name = rows.string(row, 0), let estimate = rows.int64(row, 1), estimate > 0 else { continue }
            sizes[name] = Int(min(estimate, 100_000_000))
        }
        return sizes
    }

    /// Replaces every projection row with those of `replayed` and moves the
    /// checkpoint to the log's head, in one transaction on the writer's
    /// connection (so no daemon writes meanwhile: `log` holds the writer's lock).
    /// `replayed` must be the fold of the whole log.
    public static func write(_ replayed: LedgerState, through log: EventLog) throws {
        guard replayed.lastPosition == log.head.position else {
            throw Failure(description: "the replay ends at \(replayed.lastPosition) but the log at \(log.head.position); replay again")
        }
        let connection = log.connection
        try connection.transaction {
            // TRUNCATE, not DELETE: the tables start empty (no dead rows for
            // the indexes to step over) and the rows are copied straight in.
            // Its lock is held to COMMIT, and a rollback restores the old rows.
            try connection.execute("TRUNCATE \(DaemonRole.projectionTables.joined(separator: ", "))")
            // Indexes, primary keys included, are built once from the loaded
            // rows (a sort) rather than entry by entry during the load (where
            // this role owns the tables; the daemon's own role does not, and
            // loads through them).
            let deferred = try dropIndexes(connection)
            try Projections(connection: connection).load(everything: replayed)
            if !deferred.isEmpty {
                try connection.execute("SET LOCAL maintenance_work_mem = '256MB'")
                for definition in deferred { try connection.execute(definition) }
            }
            try connection.query(
                "UPDATE ledger_checkpoint SET position = $1, hash = $2, projection_version = $3, updated_at = now()",
                [.int(log.head.position), .bytes(log.head.hash), .int(Projections.version)])
        }
    }

    /// Drops the indexes of the projection tables (their primary keys with
    /// them), on the tables the connection's role owns, and returns the
    /// statements that create them again, primary keys first. No foreign key
    /// points at a projection table (schema 0013 dropped the last), and
    /// inside a transaction a rollback restores them all.
    static func dropIndexes(_ connection: PGConnection) throws -> [String] {
        let rows = try connection.query(
            """
            SELECT quote_ident(n.nspname) || '.' || quote_ident(t.relname), quote_ident(n.nspname) || '.' || quote_ident(i.relname),
                c.conname IS NOT NULL, quote_ident(c.conname),
                CASE WHEN c.conname IS NULL THEN pg_get_indexdef(x.indexrelid) ELSE pg_get_constraintdef(c.oid) END
            FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
                JOIN pg_namespace n ON n.oid = i.relnamespace
                LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.contype = 'p'
            WHERE t.oid = ANY($1::regclass[]) AND pg_has_role(t.relowner, 'USAGE')
                AND (c.conname IS NOT NULL OR (NOT x.indisprimary AND NOT x.indisunique
                    AND NOT EXISTS (SELECT FROM pg_constraint WHERE conindid = x.indexrelid)))
            ORDER BY c.conname IS NULL, 1, 2
            """, [.text("{" + DaemonRole.projectionTables.joined(separator: ",") + "}")])
        var definitions: [String] = []
        for row in 0..<rows.rowCount {
            guard let table = rows.string(row, 0), let index = rows.string(row, 1), let definition = rows.string(row, 4) else { continue }
            if rows.bool(row, 2) == true, let constraint = rows.string(row, 3) {
                try connection.execute("ALTER TABLE \(table) DROP CONSTRAINT \(constraint)")
                definitions.append("ALTER TABLE \(table) ADD CONSTRAINT \(constraint) \(definition)")
            } else {
                try connection.execute("DROP INDEX \(index)")
                definitions.append(definition)
            }
        }
        return definitions
    }

    /// Every way `stored` (the tables) and `followUpsDue` (the table of
    /// deadlines, case by case) differ from `replayed` (the log), one line each.
    public static func differences(_ replayed: LedgerState, _ stored: LedgerState, followUpsDue: [String: Timestamp]) -> [String] {
        var out: [String] = []
        var awaiting: [String: Timestamp] = [:]
        for (id, c) in replayed.cases { if let due = c.awaitsFollowUpBy { awaiting[id] = due } }
        for id in differing(awaiting, followUpsDue) {
            out.append(
                "follow-up of case \(id): log says \(awaiting[id].map { "due \($0)" } ?? "not awaited"); follow_ups_due says \(followUpsDue[id].map { "due \($0)" } ?? "not awaited")")
        }
        if replayed.lastPosition != stored.lastPosition {
            out.append("checkpoint: tables at position \(stored.lastPosition), log at \(replayed.lastPosition)")
        }
        func outcome(_ c: CaseState?) -> String {
            c.map { "\($0.outcome.rawValue), net \($0.compensationNet), last \($0.lastPosition)" } ?? "absent"
        }
        func spent(_ b: BudgetDay?) -> String { b.map { "spent \($0.spent) of \($0.allowance)" } ?? "absent" }
        for id in differing(replayed.cases, stored.cases) {
            out.append("case \(id): log says \(outcome(replayed.cases[id])); table says \(outcome(stored.cases[id]))")
        }
        for key in differing(replayed.budgets, stored.budgets) {
            out.append("budget \(key.agentID) \(key.day): log says \(spent(replayed.budgets[key])); table says \(spent(stored.budgets[key]))")
        }
        for agent in differing(replayed.allowances, stored.allowances) {
            out.append("allowances of \(agent) differ")
        }
        if replayed.settingsHistory != stored.settingsHistory {
            out.append(
                "settings: log says \(replayed.settingsHistory.changes.map { "\($0.name.rawValue)=\($0.value)@\($0.position)" }); table says \(stored.settingsHistory.changes.map { "\($0.name.rawValue)=\($0.value)@\($0.position)" })"
            )
        }
        for key in differing(replayed.customerDays, stored.customerDays) {
            out.append(
                "customer \(key.customerID) \(key.day): log says \(replayed.customerDays[key].map(String.init) ?? "absent"); table says \(stored.customerDays[key].map(String.init) ?? "absent")")
        }
        return out
    }
}

/// The keys whose values differ between `a` and `b` (absent from one
/// counts), sorted; one pass over each, so only what differs is sorted.
func differing<Key: Comparable, Value: Equatable>(_ a: [Key: Value], _ b: [Key: Value]) -> [Key] {
    var keys = a.compactMap { key, value in b[key] == value ? nil : key }
    keys += b.keys.filter { a[$0] == nil }
    return keys.sorted()
}

/// Pages of decoded events handed from the reading thread to the folding one;
/// at most `capacity` pages wait, so memory stays bounded. A bounded buffer:
/// the pages under a `Mutex`, one semaphore counting free places (the reader
/// waits on it) and one counting pages (the folder waits on it).
final class DecodedPages: Sendable {
    private struct Held {
        var pages: [[Result<RecordedEvent, Rejection>]] = []
        var finished = false
        var cancelled = false
        var error: String?
    }

    private let held = Mutex(Held())
    private let places: DispatchSemaphore
    private let ready = DispatchSemaphore(value: 0)

    init(capacity: Int) { places = DispatchSemaphore(value: capacity) }

    /// The reader's error, once it finished.
    var error: String? { held.withLock { $0.error } }

    func push(_ page: [Result<RecordedEvent, Rejection>]) {
        // Once cancelled, never wait: no one takes pages any more. (A cancel
        // between this check and the wait signals a place to wake it.)
        guard !held.withLock({ $0.cancelled }) else { return }
        places.wait()
        let taken = held.withLock { held in
            guard !held.cancelled else { return false }
            held.pages.append(page)
            return true
        }
        if taken { ready.signal() }
    }

    func finish(error: String?) {
        held.withLock { held in
            held.finished = true
            held.error = error
        }
        ready.signal()
    }

    func pop() -> [Result<RecordedEvent, Rejection>]? {
        while true {
            let page: [Result<RecordedEvent, Rejection>]?? = held.withLock { held in
                if !held.pages.isEmpty { return .some(held.pages.removeFirst()) }
                return held.finished ? .some(nil) : nil
            }
            if let page {
                if page != nil { places.signal() } else { ready.signal() }  // the end stays visible to a later pop
                return page
            }
            ready.wait()
        }
    }

    /// The folding side stopped early: let the reader stop too.
    func cancel() {
        held.withLock { $0.cancelled = true }
        places.signal()
    }
}

extension Duration {
    /// The duration in seconds, for rates and reports.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
