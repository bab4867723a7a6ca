import Foundation
import LedgerStore
import LineProtocol
import Logging
import RecoveryDomain

/// The answer to one `APPEND`.
enum AppendAnswer: Sendable {
    case recorded(position: Int64, hash: [UInt8], duplicate: Bool, spending: Spending? = nil)
    case refused(ProtocolError)
}

/// The ledger's single writer (docs/STORE.md, "Single writer"): one thread that
/// owns the decider state and the libpq connection holding the writer's lock.
///
/// It takes every queued append at once (up to `max_batch`) and decides the
/// batch with ``Ledger/decide(batch:existing:state:pending:at:configuration:)``
/// over the committed state and the batches still committing. The events, the
/// moved checkpoint and the projection rows of the delta go to PostgreSQL as
/// one pipelined transaction (``EventLog/send(_:projections:)``), and while it
/// commits the next batch is decided and sent behind it. Answers go out only
/// after COMMIT; only then does the state move (`state.apply(delta)`). If a
/// batch fails, the batch behind it fails with it (its checkpoint step expects
/// the failed one's head) and is answered `ERR unavailable` too; the state was
/// never touched, so nothing needs restoring. While PostgreSQL is unreachable
/// the writer reconnects with backoff and answers appends `ERR unavailable`.
///
/// Look-ups before deciding — is this `event_id` recorded, is this case in the
/// tables — are skipped when the membership filters say the id is new.
final class LedgerWriter: @unchecked Sendable {
    /// One append waiting for its batch: a class, since it moves from the
    /// queue to a batch to the batch in flight, and a reference moves with
    /// one retain where the event's every field would take one each.
    final class Pending: Sendable {
        let event: Event
        let digest: [UInt8]
        /// The event's canonical content, made on the connection's loop.
        let content: [UInt8]
        /// Who records it: the rules of who may move whose money depend on it.
        let authority: Authority
        let complete: @Sendable (AppendAnswer) -> Void

        init(event: Event, digest: [UInt8], content: [UInt8], authority: Authority, complete: @escaping @Sendable (AppendAnswer) -> Void) {
            self.event = event
            self.digest = digest
            self.content = content
            self.authority = authority
            self.complete = complete
        }
    }

    /// A batch sent and not yet committed.
    struct InFlight {
        var batch: [Pending]
        var decision: BatchDecision
        var rows: [EventRow]
        var sent: EventLog.SentBatch
        var started: ContinuousClock.Instant
    }

    /// Batches in flight at once: one committing, the next decided and sent behind it.
    static let maxInFlight = 2

    let configuration: ServerConfiguration
    let logger: Logger
    let hub: SubscriptionHub
    let metrics: ServerMetrics
    private let condition = NSCondition()
    private var queue: [Pending] = []
    /// Connections waiting for room in a full queue (`max_queue`).
    private var roomWaiters: [@Sendable () -> Void] = []
    private var stopping = false
    private var finished = false
    private var thread: Thread?

    // Owned by the writer thread.
    var log: EventLog?
    /// The committed state: what the tables hold.
    var state = LedgerState()
    var stateDay: BusinessDay?
    /// The latest `recorded_at` given: a batch is never recorded before it, so
    /// positions and business days move forward together even if the clock
    /// steps back (and a closed day stays closed).
    var lastRecordedAt = Timestamp(microseconds: 0)
    var inFlight: [InFlight] = []
    /// Ids the log may hold; usable once ``filtersReady``.
    var known = KnownIdentifiers(sizedFor: 0)
    var filtersReady = false
    private var backoff: TimeInterval = 0.1
    static let maxBackoff: TimeInterval = 1
    /// How long the writer stays idle before it checks that its connection
    /// (and with it the writer's lock) is still there.
    static let idleCheck: TimeInterval = 2
    var nextAttempt = Date.distantPast
    var lastConnectError = ""
    /// The server (`host:port`) where a COMMIT's outcome was last unknown: a
    /// primary that may be about to be demoted, tried last on reconnect.
    var suspectServer: String?

    /// Filters loaded in the background after a connect, for the writer to take.
    private let loadedLock = NSLock()
    private var loaded: (generation: Int, known: KnownIdentifiers)?
    private var generation = 0

    let view = WriterView()

    init(configuration: ServerConfiguration, hub: SubscriptionHub, metrics: ServerMetrics = ServerMetrics(), logger: Logger) {
        self.configuration = configuration
        self.metrics = metrics
        self.hub = hub
        self.logger = logger
    }

    /// Connects, takes the writer's lock and loads the working state; records
    /// a new ledger's opening settings (or an earlier version's, on upgrade)
    /// and rebuilds projection rows an older fold wrote; then checks that no
    /// settings flag differs from the log. Throws if any of that fails (a
    /// second writer, an unreachable database, a differing flag).
    func start() throws {
        try connect()
        try open()
        let thread = Thread { [self] in loop() }
        thread.name = "recoveryd-writer"
        self.thread = thread
        thread.start()
    }

    /// Queues an append; `complete` is called once, from the writer thread.
    /// When `max_queue` appends wait already, nothing is queued and the
    /// result is false (see ``whenRoom(_:)``).
    func submit(_ event: Event, authority: Authority, complete: @escaping @Sendable (AppendAnswer) -> Void) -> Bool {
        let content = EventCodec.canonicalContent(of: event)
        let digest = HashChain.digest(content)
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
        queue.append(Pending(event: event, digest: digest, content: content, authority: authority, complete: complete))
        condition.signal()
        condition.unlock()
        return true
    }

    /// Appends waiting for the writer now.
    var queueDepth: Int {
        condition.lock()
        defer { condition.unlock() }
        return queue.count
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
            while queue.isEmpty && !stopping && inFlight.isEmpty {
                if log == nil {
                    _ = condition.wait(until: min(nextAttempt, Date().addingTimeInterval(1)))
                    if queue.isEmpty && !stopping {
                        condition.unlock()
                        reconnectIfDue()
                        condition.lock()
                    }
                } else if !condition.wait(until: Date().addingTimeInterval(Self.idleCheck)), queue.isEmpty, inFlight.isEmpty, !stopping {
                    condition.unlock()
                    checkIdleConnection()
                    condition.lock()
                }
            }
            if queue.isEmpty && stopping && inFlight.isEmpty {
                finished = true
                log = nil
                let waiters = roomWaiters
                roomWaiters = []
                condition.broadcast()
                condition.unlock()
                waiters.forEach { $0() }
                return
            }
            guard !queue.isEmpty && inFlight.count < Self.maxInFlight else {
                condition.unlock()
                receiveOldest()
                continue
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
            takeLoadedFilters()
            send(batch)
        }
    }

    private func connect() throws {
        let connection = try PGConnection(configuration.conninfo, timeouts: configuration.timeouts, preferringNot: suspectServer)
        if let suspectServer, connection.server != suspectServer {
            logger.info("moved away from a server whose commit timed out", metadata: ["from": "\(suspectServer)", "to": "\(connection.server)"])
        }
        let log = try EventLog(connection: connection)
        // A standby reads this to name the writer in `ERR read_only`.
        let advertised = configuration.advertise ?? "\(configuration.host):\(configuration.port)"
        try? connection.query("SELECT set_config('application_name', $1, false)", [.text(String("recoveryd@\(advertised)".prefix(63)))])
        try load(from: log)
        logger.debug("writer connected", metadata: ["server": "\(connection.server)", "position": "\(log.head.position)"])
    }

    /// Reads the working state from the tables `log` writes, after checking
    /// that they reflect the log's head.
    func load(from log: EventLog) throws {
        let connection = log.connection
        let loaded = try Projections(connection: connection).workingState(now: Timestamp(Date()))
        let today = loaded.settingsHistory.businessDay(of: Timestamp(Date()))
        guard loaded.lastPosition == log.head.position else {
            throw StoreError(
                .corrupt,
                "the projection tables reflect position \(loaded.lastPosition) but the log ends at \(log.head.position); run `recoveryd rebuild --check`"
            )
        }
        let checkpoint = try Projections(connection: connection).checkpoint()
        guard checkpoint == log.head else {
            throw StoreError(
                .corrupt,
                "the checkpoint records hash \(Hex.encode(checkpoint.hash)) at position \(checkpoint.position) but the log's last hash is \(Hex.encode(log.head.hash)): the log or the checkpoint was changed outside recoveryd; find where with `recoveryctl verify` against saved heads before serving from it"
            )
        }
        if let last = try EventReader(connection: connection).lastRecordedAt(), last > lastRecordedAt { lastRecordedAt = last }
        state = loaded
        stateDay = today
        self.log = log
        backoff = 0.1
        startLoadingFilters(through: log.head.position)
        view.reset(head: log.head, today: today, state: state)
    }

    /// Reads the ids the log holds on a connection of its own, so the writer
    /// can serve meanwhile (with look-ups, as if every id might be known).
    /// Ids the writer sends from now on go into its own filters.
    private func startLoadingFilters(through position: Int64) {
        loadedLock.lock()
        generation += 1
        let current = generation
        loaded = nil
        loadedLock.unlock()
        known = KnownIdentifiers(sizedFor: position)
        filtersReady = false
        let conninfo = configuration.conninfo
        let timeouts = configuration.timeouts
        let logger = self.logger
        let loader = Thread { [weak self] in
            let clock = ContinuousClock()
            let started = clock.now
            do {
                let connection = try PGConnection(conninfo, timeouts: timeouts)
                let known = try KnownIdentifiers.load(connection: connection, through: position)
                guard let self else { return }
                self.loadedLock.lock()
                if self.generation == current { self.loaded = (current, known) }
                self.loadedLock.unlock()
                logger.debug("id filters loaded", metadata: ["events": "\(position)", "took": "\(clock.now - started)"])
            } catch {
                logger.warning("could not load the id filters; every append is looked up", metadata: ["error": "\(error)"])
            }
        }
        loader.name = "recoveryd-filters"
        loader.start()
    }

    private func takeLoadedFilters() {
        guard !filtersReady else { return }
        loadedLock.lock()
        let ready = loaded.flatMap { $0.generation == generation ? $0.known : nil }
        loadedLock.unlock()
        guard let ready else { return }
        known.formUnion(ready)
        filtersReady = true
    }

    /// While no appends come, a lost connection (PostgreSQL restarted, a
    /// failover) is found by a `SELECT 1`, not by the next append: the writer
    /// reconnects at once, and `/readyz` and `STATUS` say so meanwhile.
    private func checkIdleConnection() {
        guard let log else { return }
        do {
            _ = try log.connection.query("SELECT 1")
        } catch {
            self.log = nil
            view.disconnected()
            lastConnectError = "\(error)"
            nextAttempt = Date()
            logger.warning("the writer's connection to PostgreSQL was lost while idle; reconnecting", metadata: ["error": "\(error)"])
        }
    }

    func reconnectIfDue() {
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
}
