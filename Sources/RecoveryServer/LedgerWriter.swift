import Foundation
import LedgerStore
import LineProtocol
import Logging
import RecoveryDomain

/// The answer to one `APPEND`.
enum AppendAnswer: Sendable {
    case recorded(position: Int64, hash: [UInt8], duplicate: Bool)
    case refused(ProtocolError)
}

/// What queries may read from the writer's memory: the chain's head, the
/// budget rows it holds (all of today's, and any older ones it loaded) and the
/// allowance settings. Updated after every commit.
struct WriterView: Sendable {
    var head: ChainHead = .empty
    var today: BusinessDay = BusinessDay(daysSinceEpoch: 0)
    var budgets: [BudgetKey: BudgetDay] = [:]
    var allowances: [String: [AllowanceSetting]] = [:]
    var databaseUp = false
}

/// The ledger's single writer (DESIGN.md §4): one thread that owns the decider
/// state and the libpq connection holding the writer's lock. It takes every
/// queued append at once (up to `maxBatch`), decides each in order against the
/// state (later ones see earlier ones), writes the events and the projection
/// rows they changed in one transaction, commits, and only then answers. A
/// failed commit restores the state as it was before the batch and answers
/// every append of it `ERR unavailable`; while PostgreSQL is unreachable the
/// writer reconnects with backoff and answers appends `ERR unavailable` at once.
final class LedgerWriter: @unchecked Sendable {
    private struct Pending {
        var event: Event
        var digest: [UInt8]
        var complete: @Sendable (AppendAnswer) -> Void
    }

    private let configuration: ServerConfiguration
    private let logger: Logger
    private let hub: SubscriptionHub
    private let condition = NSCondition()
    private var queue: [Pending] = []
    /// Connections waiting for room in a full queue (`max_queue`).
    private var roomWaiters: [@Sendable () -> Void] = []
    private var stopping = false
    private var finished = false
    private var thread: Thread?

    // Owned by the writer thread.
    private var log: EventLog?
    private var state = LedgerState()
    private var stateDay: BusinessDay?
    private var backoff: TimeInterval = 0.1
    static let maxBackoff: TimeInterval = 1
    private var nextAttempt = Date.distantPast
    private var lastConnectError = ""
    /// The server (`host:port`) where a COMMIT's outcome was last unknown: a
    /// primary that may be about to be demoted, tried last on reconnect.
    private var suspectServer: String?

    private let viewLock = NSLock()
    private var published = WriterView()

    init(configuration: ServerConfiguration, hub: SubscriptionHub, logger: Logger) {
        self.configuration = configuration
        self.hub = hub
        self.logger = logger
    }

    /// Connects, takes the writer's lock and loads the working state; throws if
    /// any of that fails (a second writer, an unreachable database).
    func start() throws {
        try connect()
        let thread = Thread { [self] in loop() }
        thread.name = "recoveryd-writer"
        self.thread = thread
        thread.start()
    }

    var view: WriterView {
        viewLock.lock()
        defer { viewLock.unlock() }
        return published
    }

    /// Queues an append; `complete` is called once, from the writer thread.
    /// When `max_queue` appends wait already, nothing is queued and the
    /// result is false (see ``whenRoom(_:)``).
    func submit(_ event: Event, complete: @escaping @Sendable (AppendAnswer) -> Void) -> Bool {
        let digest = HashChain.digest(EventCodec.canonicalContent(of: event))
        condition.lock()
        if stopping {
            condition.unlock()
            complete(.refused(ProtocolError(.unavailable, "the server is shutting down")))
            return true
        }
        guard queue.count < configuration.limits.maxQueue else {
            condition.unlock()
            return false
        }
        queue.append(Pending(event: event, digest: digest, complete: complete))
        condition.signal()
        condition.unlock()
        return true
    }

    /// Calls `room` once there is room in the queue: at once if there is now.
    func whenRoom(_ room: @escaping @Sendable () -> Void) {
        condition.lock()
        guard queue.count >= configuration.limits.maxQueue, !stopping else {
            condition.unlock()
            return room()
        }
        roomWaiters.append(room)
        condition.unlock()
    }

    /// Answers what is queued, then stops the thread and closes the connection.
    /// Waits at most `timeout`: appends still queued then are answered
    /// `ERR unavailable` (every wait of the batch in progress has a deadline
    /// of its own, so the thread ends soon after).
    func stop(timeout: Duration) {
        let deadline = Date().addingTimeInterval(TimeInterval(timeout.components.seconds) + 0.5)
        condition.lock()
        stopping = true
        condition.broadcast()
        while !finished && thread != nil {
            guard condition.wait(until: deadline) else { break }
        }
        let left = finished ? [] : queue
        if !finished { queue = [] }
        condition.unlock()
        guard !left.isEmpty else { return }
        logger.warning("the writer did not finish within the shutdown grace; answering the rest", metadata: ["appends": "\(left.count)"])
        let answer = AppendAnswer.refused(ProtocolError(.unavailable, "the server is shutting down; nothing was recorded, retry later"))
        left.forEach { $0.complete(answer) }
    }

    // MARK: The writer thread

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopping {
                if log == nil {
                    _ = condition.wait(until: min(nextAttempt, Date().addingTimeInterval(1)))
                    if queue.isEmpty && !stopping {
                        condition.unlock()
                        reconnectIfDue()
                        condition.lock()
                    }
                } else {
                    condition.wait()
                }
            }
            if queue.isEmpty && stopping {
                finished = true
                log = nil
                let waiters = roomWaiters
                roomWaiters = []
                condition.broadcast()
                condition.unlock()
                waiters.forEach { $0() }
                return
            }
            let take = min(queue.count, configuration.limits.maxBatch)
            let batch = Array(queue.prefix(take))
            queue.removeFirst(take)
            var waiters: [@Sendable () -> Void] = []
            if queue.count < configuration.limits.maxQueue || stopping {
                swap(&waiters, &roomWaiters)
            }
            condition.unlock()
            waiters.forEach { $0() }

            if !stopping { reconnectIfDue() }
            guard log != nil else {
                let answer = AppendAnswer.refused(
                    ProtocolError(.unavailable, "the database is unavailable (\(lastConnectError)); nothing was recorded, retry later"))
                batch.forEach { $0.complete(answer) }
                continue
            }
            process(batch)
        }
    }

    private func connect() throws {
        let connection = try PGConnection(configuration.conninfo, timeouts: configuration.timeouts, preferringNot: suspectServer)
        if let suspectServer, connection.server != suspectServer {
            logger.info("moved away from a server whose commit timed out", metadata: ["from": "\(suspectServer)", "to": "\(connection.server)"])
        }
        let log = try EventLog(connection: connection)
        let today = configuration.ledger.businessDay(of: Timestamp(Date()))
        let loaded = try Projections(connection: connection).workingState(today: today)
        guard loaded.lastPosition == log.head.position else {
            throw StoreError(
                .corrupt,
                "the projection tables reflect position \(loaded.lastPosition) but the log ends at \(log.head.position); run `recoveryd rebuild --check`"
            )
        }
        state = loaded
        stateDay = today
        self.log = log
        backoff = 0.1
        publish()
        logger.debug("writer connected", metadata: ["server": "\(connection.server)", "position": "\(log.head.position)"])
    }

    private func reconnectIfDue() {
        guard log == nil, Date() >= nextAttempt else { return }
        do {
            try connect()
            logger.info("reconnected to PostgreSQL", metadata: ["position": "\(state.lastPosition)"])
        } catch {
            lastConnectError = "\(error)"
            nextAttempt = Date().addingTimeInterval(backoff)
            logger.warning("PostgreSQL unavailable, retrying", metadata: ["error": "\(error)", "retry_in_s": "\(backoff)"])
            // At most a second between attempts: a new primary is found within
            // a second of taking writes (each attempt is bounded by the
            // connect timeout, and costs PostgreSQL one connection).
            backoff = min(backoff * 2, Self.maxBackoff)
        }
    }

    private func process(_ batch: [Pending]) {
        guard let log else { return }
        let now = Timestamp(Date())
        let ledger = configuration.ledger
        let today = ledger.businessDay(of: now)
        if stateDay != today {
            state.evictSettled(before: today)
            stateDay = today
        }
        var answers: [AppendAnswer?] = Array(repeating: nil, count: batch.count)
        var rows: [EventRow] = []
        do {
            let clock = ContinuousClock()
            let started = clock.now
            let existing = try log.existing(Set(batch.map(\.event.eventID)))
            let checked = clock.now
            try loadMissing(for: batch.map(\.event), recordedAt: now, connection: log.connection)
            let loaded = clock.now
            let decision = Ledger.decide(
                batch: batch.map { Submission(event: $0.event, contentDigest: $0.digest) }, existing: existing, state: state,
                at: now, configuration: ledger)
            rows = zip(decision.records, decision.digests).map { EventRow($0, contentDigest: $1) }
            let decided = clock.now
            var projected = Duration.zero
            let receipts = try log.append(rows) { connection in
                let start = clock.now
                defer { projected = clock.now - start }
                try Projections(connection: connection).write(decision.delta)
            }
            // Committed: only now does the state move.
            state.apply(decision.delta)
            precondition(log.head.position == state.lastPosition, "the log and the state moved together")
            for (index, outcome) in decision.outcomes.enumerated() {
                switch outcome {
                case .recorded(let row):
                    answers[index] = .recorded(position: receipts[row].position, hash: receipts[row].hash, duplicate: false)
                case .repeated(let row):
                    answers[index] = .recorded(position: receipts[row].position, hash: receipts[row].hash, duplicate: true)
                case .duplicate(let prior):
                    answers[index] = .recorded(position: prior.position, hash: prior.hash, duplicate: true)
                case .refused(let rejection):
                    answers[index] = .refused(ProtocolError(rejection))
                }
            }
            let committed = clock.now
            publish()
            hub.publish(zip(rows, receipts).map { StoredEvent(position: $1.position, payload: $0.payload, hash: $1.hash) })
            logger.debug(
                "batch committed",
                metadata: [
                    "appends": "\(batch.count)", "recorded": "\(rows.count)", "idempotency": "\(checked - started)",
                    "load": "\(loaded - checked)", "decide": "\(decided - loaded)", "write_commit": "\(committed - decided)", "projections": "\(projected)",
                ])
        } catch {
            // Nothing of this batch is acknowledged, and the state never moved.
            if let dataError = error as? StoreError, dataError.isDataError, log.connection.isConnected {
                // PostgreSQL refused a value of one of the appends; its message
                // quotes the row, so it goes to the log only, never to a client.
                if batch.count > 1 {
                    logger.warning(
                        "PostgreSQL refused a batch for a data error; appending its events one by one",
                        metadata: ["error": "\(dataError)", "appends": "\(batch.count)"])
                    for pending in batch { process([pending]) }
                    return
                }
                logger.warning("PostgreSQL refused an append's values", metadata: ["error": "\(dataError)"])
                batch[0].complete(
                    .refused(
                        ProtocolError(
                            .invalid,
                            "PostgreSQL refused this event's values (SQLSTATE \(dataError.sqlState ?? "?")); nothing was recorded")))
                return
            }
            let unknown = (error as? StoreError).map { $0.code == .commitUnknown || $0.code == .timeout } ?? false
            let message = unknown
                ? "the outcome of the commit is unknown (\(error)); retry with the same event_id: it is idempotent, and answers the original receipt if the event was recorded"
                : "the batch was not committed (\(error)); retry with the same event_id, which is idempotent"
            logger.error(
                unknown ? "append batch outcome unknown; reconnecting and reloading from the tables" : "append batch failed",
                metadata: ["error": "\(error)", "events": "\(rows.count)", "server": "\(log.connection.server)"])
            answers = Array(repeating: .refused(ProtocolError(.unavailable, message)), count: batch.count)
            if unknown { suspectServer = log.connection.server }
            if !log.connection.isConnected {
                self.log = nil
                lastConnectError = "\(error)"
                nextAttempt = Date()
                publish()
            } else if (try? log.resynchronize()) == nil || log.head.position != state.lastPosition {
                // The commit's outcome is unknown: start again from the tables.
                self.log = nil
                nextAttempt = Date()
            }
        }
        for (index, pending) in batch.enumerated() {
            pending.complete(answers[index] ?? .refused(ProtocolError(.internalError, "no answer was decided")))
        }
    }

    /// Loads what deciding the batch needs and memory lacks: cases named, and
    /// budget rows of past days (reversals). Today's rows are all in memory.
    private func loadMissing(for events: [Event], recordedAt: Timestamp, connection: PGConnection) throws {
        let projections = Projections(connection: connection)
        let missingCases = Set(events.compactMap(\.caseID)).filter { state.cases[$0] == nil }
        if !missingCases.isEmpty {
            state.cases.merge(try projections.cases(missingCases)) { current, _ in current }
        }
        var keys = Set<BudgetKey>()
        for event in events {
            if case .compensationReversal(let reversal) = event.body, let caseID = event.caseID,
                let entry = state.cases[caseID]?.compensations[reversal.reverses]
            {
                keys.insert(BudgetKey(agentID: entry.chargedTo, day: entry.day))
            }
            keys.formUnion(Ledger.requirements(of: event, recordedAt: recordedAt, configuration: configuration.ledger).budgetDays)
        }
        let missingKeys = keys.filter { state.budgets[$0] == nil && $0.day != stateDay }
        if !missingKeys.isEmpty {
            state.budgets.merge(try projections.budgets(missingKeys)) { current, _ in current }
        }
    }

    private func publish() {
        let view = WriterView(
            head: log?.head ?? published.head, today: stateDay ?? published.today, budgets: state.budgets,
            allowances: state.allowances, databaseUp: log != nil)
        viewLock.lock()
        published = view
        viewLock.unlock()
    }
}
