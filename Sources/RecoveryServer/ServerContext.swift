import Foundation
import LedgerStore
import LineProtocol
import Logging
import NIOConcurrencyHelpers
import NIOCore
import RecoveryDomain

/// What every session shares: configuration, the writer, the read pool, the
/// subscription hub, and the register of open sessions (for the connection
/// limit and for draining on shutdown).
final class ServerContext: Sendable {
    let configuration: ServerConfiguration
    let writer: LedgerWriter
    let reads: ReadPool
    let hub: SubscriptionHub
    let logger: Logger
    private let sessions = NIOLockedValueBox<[ObjectIdentifier: Session]>([:])

    init(configuration: ServerConfiguration, writer: LedgerWriter, reads: ReadPool, hub: SubscriptionHub, logger: Logger) {
        self.configuration = configuration
        self.writer = writer
        self.reads = reads
        self.hub = hub
        self.logger = logger
    }

    /// Registers a session; false when the connection limit is reached.
    func admit(_ session: Session) -> Bool {
        sessions.withLockedValue { open in
            guard open.count < configuration.limits.maxConnections else { return false }
            open[ObjectIdentifier(session)] = session
            return true
        }
    }

    func release(_ session: Session) {
        _ = sessions.withLockedValue { $0.removeValue(forKey: ObjectIdentifier(session)) }
    }

    var openSessions: [Session] { sessions.withLockedValue { Array($0.values) } }

    /// The budget row of `agentID` on `day`: from the writer's memory for
    /// today and later (and any day it holds), else from the table.
    func budget(agentID: String, day: BusinessDay, on eventLoop: EventLoop) -> EventLoopFuture<BudgetDay> {
        let view = writer.view
        let ledger = configuration.ledger
        if let row = view.budgets[BudgetKey(agentID: agentID, day: day)] { return eventLoop.makeSucceededFuture(row) }
        if day >= view.today {
            let state = LedgerState(allowances: view.allowances)
            return eventLoop.makeSucceededFuture(state.budget(for: agentID, on: day, configuration: ledger))
        }
        return reads.run(on: eventLoop) { connection in
            let projections = Projections(connection: connection)
            if let row = try projections.budgets([BudgetKey(agentID: agentID, day: day)]).values.first { return row }
            return LedgerState(allowances: try projections.allowances()).budget(for: agentID, on: day, configuration: ledger)
        }
    }

    /// Every budget row of `day`.
    func budgets(on day: BusinessDay, on eventLoop: EventLoop) -> EventLoopFuture<[(agentID: String, budget: BudgetDay)]> {
        let view = writer.view
        if day >= view.today {
            let rows = view.budgets.filter { $0.key.day == day }.sorted { $0.key.agentID < $1.key.agentID }
            return eventLoop.makeSucceededFuture(rows.map { (agentID: $0.key.agentID, budget: $0.value) })
        }
        return reads.run(on: eventLoop) { connection in
            try Projections(connection: connection).budgets(on: day).sorted { $0.key.agentID < $1.key.agentID }
                .map { (agentID: $0.key.agentID, budget: $0.value) }
        }
    }
}
