import RecoveryDomain

/// The ledger's single writer as a pure state machine (docs/ARCHITECTURE.md,
/// "The writer"). It owns the committed state, the batches in flight, the
/// connection's status and the id filters; it does no I/O. Every input (a
/// batch taken from the queue, a look-up's rows, a COMMIT, a failure) returns
/// the actions its shell must run — look up, send, receive, answer, publish,
/// reconnect — and each action's result comes back as the next input.
/// ``WriterDriver`` is that shell; the daemon and the store's tests both use it.
///
/// The rules it keeps:
/// - **OK means durable.** A batch's appends are answered only after its
///   COMMIT (`committed`), and only then does the state move (`state.apply`).
/// - **Pipelining.** Up to ``maxInFlight`` batches are sent at once; each is
///   decided over the committed state and the deltas of those before it.
/// - **Nothing decided on a guess.** Deciding goes through
///   ``Ledger/decide(batch:lookups:state:pending:at:outside:)``: a row the
///   working state lacks and the filters cannot rule out is looked up first,
///   after the batches in flight committed (so the tables match the state).
/// - **Failure.** A failed batch fails every batch sent behind it (their
///   checkpoint step expects its head); all are answered `unavailable`, and
///   the state, never touched, needs no undo. A value PostgreSQL refuses
///   (SQLSTATE class 22 or 23) sends the appends again one by one, so only
///   the offending one is refused. A commit whose outcome is unknown makes
///   the writer read its head again, or reconnect and reload.
/// - **Time moves forward.** A batch is never recorded before the last one,
///   even if the clock steps back, so a closed day stays closed.
public struct WriterStateMachine<Ticket> {
    /// One append taken from the queue: who to answer, and what.
    public struct Append {
        public var ticket: Ticket
        public var submission: Submission

        public init(ticket: Ticket, submission: Submission) {
            self.ticket = ticket
            self.submission = submission
        }
    }

    /// What the tables held when the writer connected.
    public struct Loaded: Sendable {
        public var head: ChainHead
        public var state: LedgerState
        /// The latest `recorded_at` in the log.
        public var lastRecordedAt: Timestamp
        /// The server connected to (`host:port`).
        public var server: String
        /// The wall clock at connect: today's business day.
        public var now: Timestamp

        public init(head: ChainHead, state: LedgerState, lastRecordedAt: Timestamp, server: String, now: Timestamp) {
            self.head = head
            self.state = state
            self.lastRecordedAt = lastRecordedAt
            self.server = server
            self.now = now
        }
    }

    /// An action that failed: the store's error if it was one, its text, and
    /// whether the connection is still usable.
    public struct Failure: Sendable {
        public var error: StoreError?
        public var description: String
        public var connected: Bool
        public var server: String

        public init(_ error: any Error, connected: Bool, server: String) {
            self.error = error as? StoreError
            description = "\(error)"
            self.connected = connected
            self.server = server
        }
    }

    public enum Input {
        /// The queue handed over appends (at most `max_batch`), at `now`.
        case submitted([Append], now: Timestamp, clock: ContinuousClock.Instant)
        /// Nothing is queued: a batch in flight may be received.
        case queueEmpty
        /// Time passed with nothing to do: reconnect when due; check an idle connection.
        case tick(clock: ContinuousClock.Instant)
        /// No more appends will come; what is queued still is.
        case stopping
        case connected(Loaded)
        case connectFailed(String, clock: ContinuousClock.Instant)
        case lookedUp(existing: [EventID: ExistingEvent], cases: [String: CaseState], complaintDays: [String: [BusinessDay]])
        case lookUpFailed(Failure)
        case sent(receipts: [ChainHead])
        case sendFailed(Failure)
        case committed(clock: ContinuousClock.Instant)
        case commitFailed(Failure)
        /// The head read again after a failure (nil: it could not be read).
        case resynchronized(ChainHead?)
        /// The idle check's `SELECT 1`: nil when it answered, else why not.
        case connectionChecked(String?, clock: ContinuousClock.Instant)
        /// The id filters read in the background after connect `generation`.
        case filtersLoaded(KnownIdentifiers, generation: Int)
    }

    /// A change the daemon's shared view of the writer must follow.
    public enum ViewChange {
        case reset(head: ChainHead, today: BusinessDay, state: LedgerState)
        case committed(LedgerDelta, head: ChainHead)
        case disconnected
        case evicted(before: BusinessDay)
    }

    public enum Action {
        /// Connect (avoiding a server whose commit just failed), take the
        /// writer's lock, load the working state → `connected` / `connectFailed`.
        case connect(avoiding: String?)
        /// Read these rows → `lookedUp` / `lookUpFailed`.
        case lookUp(StateRequirements)
        /// Send these rows and the delta's projection rows as one pipelined
        /// transaction, continuing the tip → `sent` / `sendFailed`.
        case send([EventRow], LedgerDelta)
        /// Wait for the oldest batch sent to commit → `committed` / `commitFailed`.
        case receive
        /// Read the head again → `resynchronized`.
        case resynchronize
        /// `SELECT 1` on the idle connection → `connectionChecked`.
        case checkConnection
        /// Drop the connection (and with it the writer's lock).
        case disconnect
        /// Read the id filters in the background → `filtersLoaded` later.
        case loadFilters(through: Int64, generation: Int)
        case answer([(Ticket, WriterAnswer)])
        case publish([StoredEvent])
        case view(ViewChange)
        /// A batch committed: how many appends, and how long from taking it to COMMIT.
        case batchCommitted(appends: Int, took: Duration)
        case log(WriterLog)
    }

    /// Batches in flight at once: one committing, the next decided and sent behind it.
    public static var maxInFlight: Int { 2 }
    /// How long the writer stays idle before checking that its connection
    /// (and with it the writer's lock) is still there.
    public static var idleCheck: Duration { .seconds(2) }
    static var firstBackoff: Duration { .milliseconds(100) }
    /// At most a second between attempts: a new primary is found within a
    /// second of taking writes.
    static var maxBackoff: Duration { .seconds(1) }

    /// A batch taken from the queue and not yet sent.
    struct Batch {
        /// Who to answer, and what to decide: split once, when taken.
        var tickets: [Ticket]
        var submissions: [Submission]
        var now: Timestamp
        var started: ContinuousClock.Instant
        /// Sent alone and received before anything else (a retry one by one).
        var alone = false
        /// When it will be recorded, fixed when it is first decided.
        var recordedAt: Timestamp?
        var lookups = Lookups()
    }

    /// A batch sent and not yet committed.
    struct InFlight {
        var batch: Batch
        var decision: BatchDecision
        var rows: [EventRow]
        var receipts: [ChainHead] = []
    }

    enum Connection {
        case connected(server: String)
        /// `nextAttempt` nil: at once.
        case disconnected(nextAttempt: ContinuousClock.Instant?, lastError: String)
    }

    /// What the machine waits for.
    enum Phase {
        case idle
        case connecting
        case lookingUp(StateRequirements)
        case sending(InFlight)
        case receiving
        case resynchronizing
        case checking
    }

    /// The committed state: what the tables hold.
    public private(set) var state = LedgerState()
    /// The head of the committed log.
    public private(set) var head = ChainHead.empty
    private var stateDay: BusinessDay?
    private var lastRecordedAt = Timestamp(microseconds: 0)
    private var inFlight: [InFlight] = []
    /// Batches taken and not sent yet; the first is the one being worked on.
    private var backlog: [Batch] = []
    /// A batch whose send failed, answered once the batches before it are received.
    private var failedSend: (Batch, Failure)?
    private var phase = Phase.idle
    private var connection = Connection.disconnected(nextAttempt: nil, lastError: "not connected yet")
    private var hasConnected = false
    private var backoff = firstBackoff
    private var isStopping = false
    private var lastActivity: ContinuousClock.Instant?
    private var known = KnownIdentifiers(sizedFor: 0)
    private var filtersReady = false
    private var generation = 0
    /// The server where a COMMIT's outcome was last unknown: a primary that
    /// may be about to be demoted, tried last on reconnect.
    private var suspectServer: String?

    /// Whether each committed batch is logged (at debug level; the shell says
    /// whether its log takes debug lines, so a busy writer formats none).
    private let logsBatches: Bool

    /// The working set's budget (`--state-cache-mib`): past it, between
    /// batches, what the tables hold is dropped down to three quarters of it.
    private let stateCacheBytes: Int

    public init(logsBatches: Bool = false, stateCacheBytes: Int = LedgerState.defaultCacheBytes) {
        self.logsBatches = logsBatches
        self.stateCacheBytes = stateCacheBytes
    }

    /// True when nothing is in flight, queued here or awaited.
    public var isIdle: Bool {
        guard case .idle = phase else { return false }
        return inFlight.isEmpty && backlog.isEmpty && failedSend == nil
    }

    public var isConnected: Bool {
        if case .connected = connection { return true }
        return false
    }

    public var inFlightCount: Int { inFlight.count }

    /// When a `tick` has something to do: the next connection attempt, or
    /// the idle check.
    public func nextTick(after clock: ContinuousClock.Instant) -> ContinuousClock.Instant {
        switch connection {
        case .disconnected(let next, _): return next ?? clock
        case .connected: return (lastActivity ?? clock) + Self.idleCheck
        }
    }

    public mutating func handle(_ input: Input) -> [Action] {
        switch input {
        case .submitted(let appends, let now, let clock):
            lastActivity = clock
            guard !appends.isEmpty else { return proceed(clock: clock) }
            backlog.append(Batch(tickets: appends.map(\.ticket), submissions: appends.map(\.submission), now: now, started: clock))
            return proceed(clock: clock)
        case .queueEmpty:
            guard case .idle = phase, !inFlight.isEmpty else { return [] }
            phase = .receiving
            return [.receive]
        case .tick(let clock):
            return tick(clock)
        case .stopping:
            isStopping = true
            return []
        case .connected(let loaded):
            return connected(loaded)
        case .connectFailed(let error, let clock):
            phase = .idle
            connection = .disconnected(nextAttempt: clock + backoff, lastError: error)
            var actions: [Action] = [
                .log(.warning("PostgreSQL unavailable, retrying", ["error": error, "retry_in_s": "\(backoff.seconds)"]))
            ]
            backoff = min(backoff * 2, Self.maxBackoff)
            actions += answerBacklogUnavailable()
            return actions + proceed(clock: clock)
        case .lookedUp(let existing, let cases, let complaintDays):
            guard case .lookingUp(let asked) = phase, !backlog.isEmpty else { preconditionFailure("rows arrived that were not asked for") }
            phase = .idle
            state.cases.merge(cases) { current, _ in current }
            state.customerComplaints.merge(complaintDays) { current, _ in current }
            backlog[0].lookups.existing.merge(existing) { current, _ in current }
            backlog[0].lookups.done.formUnion(asked)
            return proceed(clock: nil)
        case .lookUpFailed(let failure):
            phase = .idle
            let batch = backlog.removeFirst()
            return fail(failure, batches: [batch]) + proceed(clock: nil)
        case .sent(let receipts):
            guard case .sending(var flight) = phase else { preconditionFailure("a batch was sent that was not decided") }
            phase = .idle
            flight.receipts = receipts
            for record in flight.decision.records {
                known.events.insert(record.event.eventID)
                if record.event.type == .complaint, let caseID = record.event.caseID, let customerID = record.event.customerID {
                    known.cases.insert(caseID)
                    known.customers.insert(customerID)
                }
            }
            inFlight.append(flight)
            if flight.batch.alone {
                phase = .receiving
                return [.receive]
            }
            return proceed(clock: nil)
        case .sendFailed(let failure):
            guard case .sending(let flight) = phase else { preconditionFailure("a send failed that was not started") }
            phase = .idle
            // The batches sent before it stand on their own: receive them first.
            failedSend = (flight.batch, failure)
            return proceed(clock: nil)
        case .committed(let clock):
            phase = .idle
            return committed(clock: clock) + proceed(clock: clock)
        case .commitFailed(let failure):
            phase = .idle
            let failed = inFlight.map(\.batch)
            inFlight = []
            return fail(failure, batches: failed) + proceed(clock: nil)
        case .resynchronized(let read):
            phase = .idle
            if let read, read.position == state.lastPosition {
                head = read
                return proceed(clock: nil)
            }
            // The commit's outcome is unknown: start again from the tables.
            connection = .disconnected(nextAttempt: nil, lastError: lastError)
            return [.disconnect, .view(.disconnected)] + proceed(clock: nil)
        case .connectionChecked(let problem, let clock):
            phase = .idle
            lastActivity = clock
            guard let problem else { return proceed(clock: clock) }
            connection = .disconnected(nextAttempt: nil, lastError: problem)
            return [
                .disconnect, .view(.disconnected),
                .log(.warning("the writer's connection to PostgreSQL was lost while idle; reconnecting", ["error": problem])),
            ] + proceed(clock: clock)
        case .filtersLoaded(let loaded, let loadedGeneration):
            guard loadedGeneration == generation, !filtersReady else { return [] }
            known.formUnion(loaded)
            filtersReady = true
            return []
        }
    }

    // MARK: Steps

    private var lastError: String {
        if case .disconnected(_, let error) = connection { return error }
        return ""
    }

    private mutating func tick(_ clock: ContinuousClock.Instant) -> [Action] {
        guard case .idle = phase else { return [] }
        switch connection {
        case .disconnected(let next, _):
            guard !isStopping, next.map({ clock >= $0 }) ?? true else { return [] }
            phase = .connecting
            return [.connect(avoiding: suspectServer)]
        case .connected:
            guard inFlight.isEmpty, backlog.isEmpty, clock >= (lastActivity ?? clock) + Self.idleCheck else { return [] }
            phase = .checking
            return [.checkConnection]
        }
    }

    private mutating func connected(_ loaded: Loaded) -> [Action] {
        phase = .idle
        var actions: [Action] = []
        if let suspectServer, loaded.server != suspectServer {
            actions.append(.log(.info("moved away from a server whose commit timed out", ["from": suspectServer, "to": loaded.server])))
        }
        if hasConnected && !isConnected { actions.append(.log(.info("reconnected to PostgreSQL", ["position": "\(loaded.head.position)"]))) }
        hasConnected = true
        connection = .connected(server: loaded.server)
        backoff = Self.firstBackoff
        state = loaded.state
        head = loaded.head
        lastRecordedAt = max(lastRecordedAt, loaded.lastRecordedAt)
        let today = state.settingsHistory.businessDay(of: loaded.now)
        stateDay = today
        // Filters of the log as it is now; the ids sent from here on go into them too.
        generation += 1
        known = KnownIdentifiers(sizedFor: head.position)
        filtersReady = false
        actions += [
            .loadFilters(through: head.position, generation: generation),
            .view(.reset(head: head, today: today, state: state)),
            .log(.debug("writer connected", ["server": loaded.server, "position": "\(head.position)"])),
        ]
        return actions + proceed(clock: nil)
    }

    /// The next step with nothing awaited: a failure waiting for the batches
    /// before it, then the backlog's first batch.
    private mutating func proceed(clock: ContinuousClock.Instant?) -> [Action] {
        guard case .idle = phase else { return [] }
        if let (batch, failure) = failedSend {
            if !inFlight.isEmpty && isConnected {
                phase = .receiving
                return [.receive]
            }
            failedSend = nil
            let actions = isConnected ? fail(failure, batches: [batch]) : answer([batch], .unavailable(unavailableMessage))
            return actions + proceed(clock: clock)
        }
        guard var batch = backlog.first else { return [] }
        guard isConnected else {
            if !isStopping, case .disconnected(let next, _) = connection, next.map({ (clock ?? batch.started) >= $0 }) ?? true {
                phase = .connecting
                return [.connect(avoiding: suspectServer)]
            }
            return answerBacklogUnavailable() + proceed(clock: clock)
        }
        if inFlight.count >= Self.maxInFlight || (batch.alone && !inFlight.isEmpty) {
            phase = .receiving
            return [.receive]
        }
        var actions: [Action] = []
        let recordedAt: Timestamp
        if let fixed = batch.recordedAt {
            recordedAt = fixed
        } else {
            // Never before the last batch: positions and business days move forward together.
            recordedAt = max(batch.now, Timestamp(microseconds: lastRecordedAt.microseconds + 1))
            lastRecordedAt = recordedAt
            batch.recordedAt = recordedAt
            backlog[0] = batch
        }
        let today = state.settingsHistory.businessDay(of: recordedAt)
        if stateDay != today && inFlight.isEmpty {
            // A new day: what is settled goes (the tables keep it), before anything is looked up.
            state.evictSettled(before: today)
            stateDay = today
            actions.append(.view(.evicted(before: today)))
        }
        if inFlight.isEmpty && state.estimatedBytes > stateCacheBytes {
            // Only between commits: the tables then hold everything the state does.
            let dropped = state.evict(downTo: stateCacheBytes / 4 * 3)
            actions.append(
                .log(
                    .info(
                        "the working set reached --state-cache-mib; dropped cases the tables hold",
                        ["cases_dropped": "\(dropped)", "cases_kept": "\(state.cases.count)", "estimate_mib": "\(state.estimatedBytes >> 20)"])))
        }
        var lookups = batch.lookups
        lookups.existing.merge(inFlightRecords(for: batch)) { current, _ in current }
        let submissions = batch.submissions
        let filters = Filters(known: known, ready: filtersReady)
        switch Ledger.decide(
            batch: submissions, lookups: lookups, state: state, pending: inFlight.map(\.decision.delta), at: recordedAt, outside: filters)
        {
        case .needs(let needs):
            // The tables must match the state before they are read.
            if !inFlight.isEmpty {
                phase = .receiving
                return actions + [.receive]
            }
            phase = .lookingUp(needs)
            return actions + [.lookUp(needs)]
        case .decided(let decision):
            let recordedAtText = recordedAt.description
            let rows = decision.records.indices.map {
                EventRow(decision.records[$0], contentDigest: decision.digests[$0], recordedAtText: recordedAtText)
            }
            backlog.removeFirst()
            phase = .sending(InFlight(batch: batch, decision: decision, rows: rows))
            return actions + [.send(rows, decision.delta)]
        }
    }

    /// The oldest batch in flight committed: the state moves, its appends are answered.
    private mutating func committed(clock: ContinuousClock.Instant) -> [Action] {
        let flight = inFlight.removeFirst()
        state.apply(flight.decision.delta)
        if let last = flight.receipts.last { head = last }
        precondition(head.position == state.lastPosition, "the log and the state moved together")
        let receipts = flight.receipts
        var answers: [(Ticket, WriterAnswer)] = []
        answers.reserveCapacity(flight.batch.tickets.count)
        for (ticket, outcome) in zip(flight.batch.tickets, flight.decision.outcomes) {
            switch outcome {
            case .recorded(let row):
                answers.append(
                    (ticket, .recorded(position: receipts[row].position, hash: receipts[row].hash, duplicate: false, spending: flight.decision.spending[row])))
            case .repeated(let row):
                answers.append((ticket, .recorded(position: receipts[row].position, hash: receipts[row].hash, duplicate: true, spending: nil)))
            case .duplicate(let prior):
                answers.append((ticket, .recorded(position: prior.position, hash: prior.hash, duplicate: true, spending: nil)))
            case .refused(let rejection):
                answers.append((ticket, .refused(rejection)))
            }
        }
        let took = clock - flight.batch.started
        var actions: [Action] = [
            .view(.committed(flight.decision.delta, head: head)),
            .batchCommitted(appends: flight.batch.tickets.count, took: took),
            .answer(answers),
            .publish(zip(flight.rows, receipts).map { StoredEvent(position: $1.position, payload: $0.payload, hash: $1.hash) }),
        ]
        if logsBatches {
            actions.append(
                .log(
                    .debug(
                        "batch committed",
                        [
                            "appends": "\(flight.batch.tickets.count)", "recorded": "\(flight.rows.count)", "took": "\(took)",
                            "in_flight": "\(inFlight.count)",
                        ])))
        }
        return actions
    }

    /// After batches failed: answers them (or sends their appends again one
    /// by one, for a refused value) and makes the connection good again.
    private mutating func fail(_ failure: Failure, batches: [Batch]) -> [Action] {
        let count = batches.reduce(0) { $0 + $1.tickets.count }
        guard count > 0 else { return [] }
        let error = failure.error
        let unreadable = error?.code == .corrupt
        if let error, error.isDataError || unreadable, failure.connected {
            if count > 1 {
                // Each alone, in order, before anything taken after them.
                let singles = batches.flatMap { batch in
                    zip(batch.tickets, batch.submissions).map {
                        Batch(tickets: [$0], submissions: [$1], now: batch.now, started: batch.started, alone: true)
                    }
                }
                backlog.insert(contentsOf: singles, at: 0)
                return [
                    .log(
                        .warning(
                            unreadable
                                ? "a projection row the batch needs cannot be read; appending its events one by one"
                                : "PostgreSQL refused a batch for a data error; appending its events one by one",
                            ["error": "\(error)", "appends": "\(count)"]))
                ]
            }
            if unreadable {
                // The row is this append's own case: the message names it and says how to repair the tables.
                return [.log(.error("a projection row cannot be read", ["error": "\(error)"]))]
                    + answer(batches, .internalError("\(error.message); nothing was recorded"))
            }
            return [.log(.warning("PostgreSQL refused an append's values", ["error": "\(error)"]))]
                + answer(
                    batches, .invalidValue("PostgreSQL refused this event's values (SQLSTATE \(error.sqlState ?? "?")); nothing was recorded"))
        }
        let unknown = error.map { $0.code == .commitUnknown || $0.code == .timeout } ?? false
        let message =
            unknown
            ? "the outcome of the commit is unknown (\(failure.description)); retry with the same event_id: it is idempotent, and answers the original receipt if the event was recorded"
            : "the batch was not committed (\(failure.description)); retry with the same event_id, which is idempotent"
        var actions: [Action] = [
            .log(
                .error(
                    unknown ? "append batch outcome unknown; reconnecting and reloading from the tables" : "append batch failed",
                    ["error": failure.description, "appends": "\(count)", "server": failure.server]))
        ]
        if unknown { suspectServer = failure.server }
        if failure.connected {
            phase = .resynchronizing
            actions.append(.resynchronize)
        } else {
            connection = .disconnected(nextAttempt: nil, lastError: failure.description)
            actions += [.disconnect, .view(.disconnected)]
        }
        return actions + answer(batches, .unavailable(message))
    }

    private var unavailableMessage: String {
        "the database is unavailable (\(lastError)); nothing was recorded, retry later"
    }

    private mutating func answerBacklogUnavailable() -> [Action] {
        let waiting = backlog
        backlog = []
        return answer(waiting, .unavailable(unavailableMessage))
    }

    private func answer(_ batches: [Batch], _ answer: WriterAnswer) -> [Action] {
        let answers = batches.flatMap { $0.tickets.map { ($0, answer) } }
        return answers.isEmpty ? [] : [.answer(answers)]
    }

    /// What the batches in flight record under the ids of `batch`.
    private func inFlightRecords(for batch: Batch) -> [EventID: ExistingEvent] {
        guard !inFlight.isEmpty else { return [:] }
        var found: [EventID: ExistingEvent] = [:]
        let ids = Set(batch.submissions.map(\.event.eventID))
        for flight in inFlight {
            for (index, record) in flight.decision.records.enumerated() where ids.contains(record.event.eventID) {
                let receipt = flight.receipts[index]
                found[record.event.eventID] = ExistingEvent(
                    position: receipt.position, hash: receipt.hash, contentDigest: flight.decision.digests[index])
            }
        }
        return found
    }
}

/// The writer's filters as the decider asks them: until they are read, any
/// id may be in the log.
struct Filters: OutsideTheState {
    var known: KnownIdentifiers
    var ready: Bool

    func mayHold(event: EventID) -> Bool { !ready || known.events.mightContain(event) }
    func mayHold(case caseID: String) -> Bool { !ready || known.cases.mightContain(caseID) }
    func mayHold(customer: String) -> Bool { !ready || known.customers.mightContain(customer) }
}

/// The writer's answer to one append, in the store's terms; the server maps
/// it to the protocol's.
public enum WriterAnswer: Sendable, Equatable {
    case recorded(position: Int64, hash: [UInt8], duplicate: Bool, spending: Spending?)
    /// The decider refused it.
    case refused(Rejection)
    /// Nothing was recorded, or the outcome is unknown: retry (appends are idempotent).
    case unavailable(String)
    /// PostgreSQL refused one of its values.
    case invalidValue(String)
    /// A projection row it needs cannot be read.
    case internalError(String)
}

/// A line the writer's shell logs.
public struct WriterLog: Sendable, Equatable {
    public enum Level: Sendable { case debug, info, notice, warning, error }
    public var level: Level
    public var message: String
    public var metadata: [String: String]

    static func debug(_ message: String, _ metadata: [String: String] = [:]) -> WriterLog { WriterLog(level: .debug, message: message, metadata: metadata) }
    static func info(_ message: String, _ metadata: [String: String] = [:]) -> WriterLog { WriterLog(level: .info, message: message, metadata: metadata) }
    static func warning(_ message: String, _ metadata: [String: String] = [:]) -> WriterLog { WriterLog(level: .warning, message: message, metadata: metadata) }
    static func error(_ message: String, _ metadata: [String: String] = [:]) -> WriterLog { WriterLog(level: .error, message: message, metadata: metadata) }
}

extension WriterStateMachine.Append: Sendable where Ticket: Sendable {}
