import Foundation
import RecoveryDomain

/// The shell of ``WriterStateMachine``: it runs the machine's actions against
/// PostgreSQL (an ``EventLog`` holding the writer's lock) and feeds each
/// result back, until the machine asks for nothing more. Everything else an
/// action asks — answer, publish, follow the view, log, count — goes to
/// ``Effects``. Blocking, like libpq: one thread drives it at a time (the
/// daemon's writer thread; a test's own).
public final class WriterDriver<Ticket> {
    public typealias Machine = WriterStateMachine<Ticket>

    /// Where the machine's outward actions go.
    public struct Effects {
        public var answer: ([(Ticket, WriterAnswer)]) -> Void
        public var publish: ([StoredEvent]) -> Void = { _ in }
        public var view: (Machine.ViewChange) -> Void = { _ in }
        public var log: (WriterLog) -> Void = { _ in }
        public var batchCommitted: (_ appends: Int, _ took: Duration) -> Void = { _, _ in }
        /// Reads the id filters in the background and hands them to the
        /// machine later (`filtersLoaded`); by default they are read at once.
        public var loadFilters: ((_ through: Int64, _ generation: Int) -> Void)?

        public init(answer: @escaping ([(Ticket, WriterAnswer)]) -> Void) { self.answer = answer }
    }

    /// How to reach the ledger's database.
    public struct Connector: Sendable {
        public var conninfo: String
        public var timeouts: PGTimeouts
        /// `application_name` of the writer's session (`recoveryd@<address>`):
        /// how a standby names the writer.
        public var applicationName: String?

        public init(conninfo: String, timeouts: PGTimeouts = PGTimeouts(), applicationName: String? = nil) {
            self.conninfo = conninfo
            self.timeouts = timeouts
            self.applicationName = applicationName
        }
    }

    public private(set) var machine: Machine
    /// The connection holding the writer's lock, while connected.
    public private(set) var log: EventLog?
    public var effects: Effects
    public let connector: Connector
    /// The batches sent and not received, oldest first.
    private var sent: [EventLog.SentBatch] = []

    public init(connector: Connector, effects: Effects, logsBatches: Bool = false, stateCacheBytes: Int = LedgerState.defaultCacheBytes) {
        self.connector = connector
        self.effects = effects
        machine = Machine(logsBatches: logsBatches, stateCacheBytes: stateCacheBytes)
    }

    /// Connects, takes the writer's lock and loads the working state; throws
    /// what went wrong (another writer, an unreachable database, tables that
    /// do not match the log) instead of retrying.
    public func connect() throws {
        let loaded = try open(avoiding: nil)
        handle(.connected(loaded))
    }

    /// Hands `input` to the machine and runs what it asks, each result going
    /// back in before the next action (depth first), until nothing is left.
    public func handle(_ input: Machine.Input) {
        var stack = Array(machine.handle(input).reversed())
        while let action = stack.popLast() {
            if let next = execute(action) { stack.append(contentsOf: machine.handle(next).reversed()) }
        }
    }

    /// Drops the connection, and with it the writer's lock.
    public func close() {
        log = nil
        sent = []
    }

    /// Runs one batch to its answers, synchronously: submits it, then
    /// receives until nothing is in flight. The store's tests append this way,
    /// through the same machine as the daemon.
    public func append(_ appends: [Machine.Append], at now: Timestamp) {
        handle(.submitted(appends, now: now, clock: .now))
        while machine.inFlightCount > 0 { handle(.queueEmpty) }
    }

    private func execute(_ action: Machine.Action) -> Machine.Input? {
        switch action {
        case .connect(let avoiding):
            do {
                return .connected(try open(avoiding: avoiding))
            } catch {
                return .connectFailed("\(error)", clock: .now)
            }
        case .lookUp(let needs):
            guard let log else { return .lookUpFailed(failure(StoreError(.connection, "not connected"))) }
            do {
                let projections = Projections(connection: log.connection)
                return .lookedUp(
                    existing: try log.existing(needs.eventIDs), cases: needs.caseIDs.isEmpty ? [:] : try projections.cases(needs.caseIDs),
                    complaintDays: needs.customers.isEmpty ? [:] : try projections.complaintDays(of: needs.customers))
            } catch {
                return .lookUpFailed(failure(error))
            }
        case .send(let rows, let delta):
            guard let log else { return .sendFailed(failure(StoreError(.connection, "not connected"))) }
            do {
                let batch = try log.send(rows, projections: try Projections.statements(for: delta))
                sent.append(batch)
                return .sent(receipts: batch.receipts)
            } catch {
                return .sendFailed(failure(error))
            }
        case .receive:
            guard let log, !sent.isEmpty else { return .commitFailed(failure(StoreError(.connection, "not connected"))) }
            let batch = sent.removeFirst()
            do {
                try log.receive(batch)
                return .committed(clock: .now)
            } catch {
                // Batches sent behind it fail at their checkpoint step (it
                // expects the failed one's head): read their results off.
                sent = []
                while log.connection.pipelinedGroups > 0 && log.connection.isConnected { try? log.connection.receivePipeline() }
                return .commitFailed(failure(error))
            }
        case .resynchronize:
            guard let log, (try? log.resynchronize()) != nil else { return .resynchronized(nil) }
            return .resynchronized(log.head)
        case .checkConnection:
            guard let log else { return .connectionChecked("not connected", clock: .now) }
            do {
                _ = try log.connection.query("SELECT 1")
                return .connectionChecked(nil, clock: .now)
            } catch {
                return .connectionChecked("\(error)", clock: .now)
            }
        case .disconnect:
            log = nil
            sent = []
            return nil
        case .loadFilters(let through, let generation):
            if let load = effects.loadFilters {
                load(through, generation)
                return nil
            }
            guard let log, let known = try? KnownIdentifiers.load(connection: log.connection, through: through) else { return nil }
            return .filtersLoaded(known, generation: generation)
        case .answer(let answers):
            effects.answer(answers)
        case .publish(let events):
            effects.publish(events)
        case .view(let change):
            effects.view(change)
        case .batchCommitted(let appends, let took):
            effects.batchCommitted(appends, took)
        case .log(let line):
            effects.log(line)
        }
        return nil
    }

    private func failure(_ error: any Error) -> Machine.Failure {
        Machine.Failure(error, connected: log?.connection.isConnected ?? false, server: log?.connection.server ?? "")
    }

    /// Reads the working state again on the connection it holds (after the
    /// projection tables were rewritten).
    public func reload() throws {
        guard let log else { throw StoreError(.connection, "the writer is not connected") }
        handle(.connected(try load(log)))
    }

    /// A new connection holding the writer's lock, and the working state read
    /// from the tables once they are checked against the log's head.
    private func open(avoiding: String?) throws -> Machine.Loaded {
        let connection = try PGConnection(connector.conninfo, timeouts: connector.timeouts, preferringNot: avoiding)
        let log = try EventLog(connection: connection)
        if let name = connector.applicationName {
            try? connection.query("SELECT set_config('application_name', $1, false)", [.text(String(name.prefix(63)))])
        }
        return try load(log)
    }

    private func load(_ log: EventLog) throws -> Machine.Loaded {
        let connection = log.connection
        let now = Timestamp(Date())
        let projections = Projections(connection: connection)
        let state = try projections.workingState(now: now)
        guard state.lastPosition == log.head.position else {
            throw StoreError(
                .corrupt,
                "the projection tables reflect position \(state.lastPosition) but the log ends at \(log.head.position); run `recoveryd rebuild --check`"
            )
        }
        let checkpoint = try projections.checkpoint()
        guard checkpoint == log.head else {
            throw StoreError(
                .corrupt,
                "the checkpoint records hash \(Hex.encode(checkpoint.hash)) at position \(checkpoint.position) but the log's last hash is \(Hex.encode(log.head.hash)): the log or the checkpoint was changed outside recoveryd; find where with `recoveryctl verify` against saved heads before serving from it"
            )
        }
        let lastRecordedAt = try EventReader(connection: connection).lastRecordedAt() ?? Timestamp(microseconds: 0)
        self.log = log
        sent = []
        return Machine.Loaded(head: log.head, state: state, lastRecordedAt: lastRecordedAt, server: connection.server, now: now)
    }
}
