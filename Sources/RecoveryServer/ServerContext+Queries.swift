import Foundation
import LedgerStore
import LineProtocol
import NIOCore
import RecoveryDomain

/// The bodies of the queries (`CASE`, `BUDGET`, `BUDGETS`, `OUTCOMES`,
/// `VERIFY`): each reads from the writer's memory where it can and from the
/// tables on the read pool otherwise, and answers one final line.
extension ServerContext {
    func query(_ request: Request, role: ClientRole, on eventLoop: EventLoop) -> EventLoopFuture<[Response]> {
        let currency = ledger.currency
        switch request {
        case .caseQuery(let caseID):
            return read(on: eventLoop) { connection in
                guard let state = try Projections(connection: connection).cases([caseID])[caseID] else {
                    throw ProtocolError(.notFound, "no case \(caseID)")
                }
                let events = try EventReader(connection: connection).events(ofCase: caseID)
                return [Response.ok(try Answers.caseState(state, events: events, currency: currency))]
            }
        case .budget(let agentID, let day):
            let day = day ?? ledger.businessDay(of: Timestamp(Date()))
            return budget(agentID: agentID, day: day, on: eventLoop).map {
                [Response.ok(Answers.budget(agentID: agentID, day: day, row: $0, currency: currency))]
            }
        case .budgets(let day):
            return budgets(on: day, on: eventLoop).map { [Response.ok(Answers.budgets(day: day, rows: $0, currency: currency))] }
        case .outcomes(let by, let from, let to):
            return read(on: eventLoop) { connection in
                let cases = try Projections(connection: connection).cases(openedFrom: from, to: to)
                let report = OutcomeReport(cases: cases, by: by, from: from, to: to)
                return [Response.ok(Answers.outcomes(report, from: from, to: to, currency: currency))]
            }
        case .verify(let from, let to):
            return verify(from: from, to: to, on: eventLoop)
        case .hello, .ping, .quit, .append, .replay, .subscribe, .unsubscribe:
            return eventLoop.makeSucceededFuture([.error(.internalError, "\(request.verb) is not a query")])
        }
    }

    private func verify(from: Int64?, to: Int64?, on eventLoop: EventLoop) -> EventLoopFuture<[Response]> {
        let logger = self.logger
        return read(on: eventLoop) { connection in
            let started = Date()
            let result = try EventReader(connection: connection).verify(from: from ?? 1, through: to) { done in
                logger.info("VERIFY in progress", metadata: ["verified": "\(done)"])
            }
            switch result {
            case .verified(let count, let last, let hash):
                logger.info("VERIFY done", metadata: ["verified": "\(count)", "seconds": "\(Int(Date().timeIntervalSince(started)))"])
                return [Response.ok(["verified": .integer(count), "last": .integer(last), "hash": .string(Hex.encode(hash))])]
            case .broken(let position, let reason):
                logger.error("VERIFY found a broken chain", metadata: ["position": "\(position)", "reason": "\(reason)"])
                return [Response.error(.chainBroken, "\(position) \(reason)")]
            }
        }
    }

    /// The budget row of `agentID` on `day`: from the writer's memory for
    /// today and later (and any day it holds), else from the table.
    func budget(agentID: String, day: BusinessDay, on eventLoop: EventLoop) -> EventLoopFuture<BudgetDay> {
        let ledger = self.ledger
        if let row = writer.view.budget(BudgetKey(agentID: agentID, day: day), configuration: ledger) {
            return eventLoop.makeSucceededFuture(row)
        }
        return read(on: eventLoop) { connection in
            let projections = Projections(connection: connection)
            if let row = try projections.budgets([BudgetKey(agentID: agentID, day: day)]).values.first { return row }
            return LedgerState(allowances: try projections.allowances()).budget(for: agentID, on: day, configuration: ledger)
        }
    }

    /// Every budget row of `day`.
    func budgets(on day: BusinessDay, on eventLoop: EventLoop) -> EventLoopFuture<[(agentID: String, budget: BudgetDay)]> {
        if let rows = writer.view.budgets(on: day) { return eventLoop.makeSucceededFuture(rows) }
        return read(on: eventLoop) { connection in
            try Projections(connection: connection).budgets(on: day).sorted { $0.key.agentID < $1.key.agentID }
                .map { (agentID: $0.key.agentID, budget: $0.value) }
        }
    }
}
