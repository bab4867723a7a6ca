import Foundation
import LedgerStore
import LineProtocol
import Logging
import NIOCore
import RecoveryDomain
import RecoveryServer
import RecoveryWire
import Synchronization

/// The server's session backend over a store in memory: admission, tokens,
/// permissions, decoding, the writer's state machine and the answers are the
/// daemon's own (``ConnectionRegistry``, ``AppendAdmission``,
/// ``WriterStateMachine``, ``Answers``); only the store is fake — the log is
/// an array, the projection tables a ``LedgerState`` folded from it. Queries
/// the in-process server answers: `CASE`, `BUDGET`, `BUDGETS`, `OUTCOMES`,
/// `SETTINGS`, `PEOPLE`, `STATUS` (others answer `ERR unavailable`).
final class InMemoryLedger: SessionBackend, Sendable {
    typealias Ticket = @Sendable (AppendAnswer) -> Void
    typealias Machine = WriterStateMachine<Ticket>

    let limits: Limits
    let logger = Logger(label: "recoveryd-in-process")
    let refusalLog = RefusalLog()
    let registry: ConnectionRegistry

    /// The store: the log's rows and hashes, and every row folded from them.
    private struct Store {
        var machine = Machine()
        var rows: [StoredEvent] = []
        var tip = ChainHead.empty
        var sent: [[ChainHead]] = []
        /// What the projection tables would hold: the whole log folded.
        var tables = LedgerState()
        var subscribers: [ObjectIdentifier: @Sendable ([StoredEvent]) -> Void] = [:]
        var deliveries: [(@Sendable ([StoredEvent]) -> Void, [StoredEvent])] = []
        var answers: [(Ticket, WriterAnswer)] = []
    }

    private let store = Mutex(Store())
    private let clock: @Sendable () -> Timestamp

    init(tokens: TokenFile, limits: Limits, seed: LedgerSeed, clock: @escaping @Sendable () -> Timestamp) {
        self.limits = limits
        self.clock = clock
        registry = ConnectionRegistry(limits: limits, tokens: tokens)
        store.withLock { store in
            var actions = store.machine.handle(
                .connected(.init(head: .empty, state: LedgerState(), lastRecordedAt: Timestamp(microseconds: 0), server: "memory", now: clock())))
            actions += store.machine.handle(.filtersLoaded(KnownIdentifiers(sizedFor: 0), generation: 1))
            Self.run(actions, in: &store)
        }
        // The ledger's opening settings, as the daemon records them.
        let opening = seed.openingEvents { EventID(UUID().uuidString)! }
        if !opening.isEmpty {
            let appends = opening.map { event in
                Machine.Append(
                    ticket: { _ in },
                    submission: Submission(event: event, contentDigest: HashChain.digest(EventCodec.canonicalContent(of: event)), authority: .daemon))
            }
            write(appends)
        }
    }

    /// Hands appends to the machine and runs what it asks against the store
    /// until nothing is in flight; then answers and delivers outside the lock.
    private func write(_ appends: [Machine.Append]) {
        let (answers, deliveries) = store.withLock { store in
            var actions = store.machine.handle(.submitted(appends, now: clock(), clock: .now))
            Self.run(actions, in: &store)
            while store.machine.inFlightCount > 0 {
                actions = store.machine.handle(.queueEmpty)
                Self.run(actions, in: &store)
            }
            defer {
                store.answers = []
                store.deliveries = []
            }
            return (store.answers, store.deliveries)
        }
        for (ticket, answer) in answers { ticket(AppendAnswer(answer)) }
        for (deliver, events) in deliveries { deliver(events) }
    }

    /// The store's side of the machine's actions (the daemon's is `WriterDriver`'s).
    private static func run(_ first: [Machine.Action], in store: inout Store) {
        var stack = Array(first.reversed())
        while let action = stack.popLast() {
            var next: Machine.Input?
            switch action {
            case .connect:
                next = .connected(.init(head: store.tip, state: store.tables, lastRecordedAt: Timestamp(microseconds: 0), server: "memory", now: .init(Date())))
            case .lookUp(let needs):
                var existing: [EventID: ExistingEvent] = [:]
                for row in store.rows {
                    guard let event = try? EventCodec.decodeRecorded(payload: row.payload).get(), needs.eventIDs.contains(event.event.eventID) else { continue }
                    existing[event.event.eventID] = ExistingEvent(
                        position: row.position, hash: row.hash, contentDigest: HashChain.digest(EventCodec.canonicalContent(of: event.event)))
                }
                next = .lookedUp(
                    existing: existing, cases: store.tables.cases.filter { needs.caseIDs.contains($0.key) },
                    complaintDays: store.tables.customerComplaints.filter { needs.customers.contains($0.key) })
            case .send(let rows, _):
                do {
                    let (_, receipts) = try EventLog.batchStatements(rows, after: store.tip, projections: [])
                    store.tip = receipts.last ?? store.tip
                    store.sent.append(receipts)
                    for (row, receipt) in zip(rows, receipts) {
                        store.rows.append(StoredEvent(position: receipt.position, payload: row.payload, hash: receipt.hash))
                        if let recorded = try? EventCodec.decodeRecorded(payload: row.payload).get() { store.tables.apply(recorded) }
                    }
                    next = .sent(receipts: receipts)
                } catch {
                    next = .sendFailed(.init(error, connected: true, server: "memory"))
                }
            case .receive:
                store.sent.removeFirst()
                next = .committed(clock: .now)
            case .resynchronize:
                next = .resynchronized(store.tip)
            case .checkConnection:
                next = .connectionChecked(nil, clock: .now)
            case .disconnect, .loadFilters, .view, .batchCommitted, .log:
                break
            case .answer(let answers):
                store.answers += answers
            case .publish(let events):
                for deliver in store.subscribers.values { store.deliveries.append((deliver, events)) }
            }
            if let next { stack.append(contentsOf: store.machine.handle(next).reversed()) }
        }
    }

    private var settings: SettingsHistory { store.withLock { $0.tables.settingsHistory } }


    // MARK: SessionBackend

    func admit(_ connection: ObjectIdentifier, peer: String, end: @escaping @Sendable (ConnectionEnding) -> Void) -> ProtocolError? {
        registry.admit(connection, peer: peer, end: end)
    }

    func authenticated(_ connection: ObjectIdentifier) { registry.authenticated(connection) }

    func release(_ connection: ObjectIdentifier) { registry.release(connection) }

    func hello(_ connection: ObjectIdentifier, token: String) -> (token: TokenFile.Entry, answer: Response)? {
        guard let entry = registry.hello(connection, token: token) else { return nil }
        let position = store.withLock { $0.tip.position }
        let hello = Answers.hello(
            role: entry.role, agent: entry.agent, position: position, signingKey: "", limits: limits, settings: settings.latest, mode: "writer")
        return (entry, .ok(hello))
    }

    func submitAppend(
        json: [UInt8], role: ClientRole, agent: String?, on loop: (any EventLoop)?, answer reply: @escaping @Sendable (AppendAnswer) -> Void
    ) -> Bool {
        let answer: @Sendable (AppendAnswer) -> Void = { result in
            if let loop { loop.execute { reply(result) } } else { reply(result) }
        }
        switch AppendAdmission.admit(json: json, role: role, agent: agent, currency: settings.currency) {
        case .failure(let refusal):
            answer(.refused(refusal))
        case .success(let (event, authority)):
            let submission = Submission(event: event, contentDigest: HashChain.digest(EventCodec.canonicalContent(of: event)), authority: authority)
            write([Machine.Append(ticket: answer, submission: submission)])
        }
        return true
    }

    func whenWriterHasRoom(_ room: @escaping @Sendable () -> Void) { room() }

    func query(_ request: Request, role: ClientRole, on eventLoop: EventLoop) -> EventLoopFuture<[Response]> {
        let (tables, rows) = store.withLock { ($0.tables, $0.rows) }
        let history = tables.settingsHistory
        let currency = history.latest.currency
        let now = clock()
        let today = history.businessDay(of: now)
        let answer: Response
        switch request {
        case .caseQuery(let caseID, nil):
            guard let state = tables.cases[caseID] else { return eventLoop.makeSucceededFuture([.error(.notFound, "no case \(caseID)")]) }
            let events = rows.filter { (try? EventCodec.decodeRecorded(payload: $0.payload).get())?.event.caseID == caseID }
            do {
                answer = .ok(try Answers.caseState(state, events: events, currency: currency))
            } catch {
                answer = .error(.internalError, "\(error)")
            }
        case .budget(let agentID, let day, nil):
            let day = day ?? today
            answer = .ok(Answers.budget(agentID: agentID, day: day, row: tables.budget(for: agentID, on: day), currency: currency))
        case .budgets(let day, nil):
            answer = .ok(Answers.budgets(DayBudgets(day: day ?? today, state: tables), currency: currency))
        case .outcomes(let by, let from, let to, nil):
            let report = OutcomeReport(cases: tables.cases.values, by: by, from: from, to: to, now: now)
            answer = .ok(Answers.outcomes(report, from: from, to: to, currency: currency))
        case .settings(nil):
            let (inForce, positions) = history.settings(through: .max)
            let supervisors = tables.allowances.keys.filter { tables.role(of: $0, on: today) == .supervisor }.sorted()
            answer = .ok(Answers.settings(inForce, positions: positions, day: today, supervisors: supervisors))
        case .people:
            let people = tables.allowances.keys.sorted().map {
                Reply.Person(agentId: $0, role: tables.role(of: $0, on: today).rawValue, allowance: tables.allowance(for: $0, on: today))
            }
            answer = .ok(Reply.People(day: today.description, currency: currency, people: people))
        default:
            answer = .error(.unavailable, "\(request.verb) is not answered by the in-process server")
        }
        return eventLoop.makeSucceededFuture([answer])
    }

    func openReplay(from: Int64, to: Int64?, on eventLoop: EventLoop) -> EventLoopFuture<SessionStateMachine.ReplayWindow> {
        let rows = store.withLock { $0.rows }
        let last = Int64(rows.count)
        guard from - 1 <= last else { return eventLoop.makeFailedFuture(ProtocolError(.notFound, "position \(from - 1) is past the last position \(last)")) }
        let previous = from <= 1 ? ChainHead.empty.hash : rows[Int(from - 2)].hash
        return eventLoop.makeSucceededFuture(.init(previousHash: previous, last: min(to ?? last, last)))
    }

    func readPage(from: Int64, through: Int64?, limit: Int, on eventLoop: EventLoop) -> EventLoopFuture<[StoredEvent]> {
        let rows = store.withLock { $0.rows }
        let end = min(Int(through ?? Int64(rows.count)), rows.count, Int(from) + limit - 1)
        return eventLoop.makeSucceededFuture(from <= end ? Array(rows[Int(from - 1)..<end]) : [])
    }

    func join(_ subscriber: ObjectIdentifier, deliver: @escaping @Sendable ([StoredEvent]) -> Void) {
        store.withLock { $0.subscribers[subscriber] = deliver }
    }

    func leave(_ subscriber: ObjectIdentifier) { _ = store.withLock { $0.subscribers.removeValue(forKey: subscriber) } }
}
