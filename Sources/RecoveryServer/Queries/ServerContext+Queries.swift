import Foundation
import LedgerStore
import LineProtocol
import RecoveryWire
import Logging
import NIOCore
import NIOPosix
import RecoveryDomain

/// The bodies of the queries (`CASE`, `BUDGET`, `BUDGETS`, `OUTCOMES`,
/// `VERIFY`): each reads from the writer's memory where it can and from the
/// tables on the read pool otherwise, and answers one final line.
extension ServerContext {
    func query(_ request: Request, role: ClientRole, on eventLoop: EventLoop) -> EventLoopFuture<[Response]> {
        let currency = settings.currency
        let today = self.today
        switch request {
        case .caseQuery(let caseID, let at?):
            return past(at, on: eventLoop) { past, _ in
                guard let (state, events) = try past.case(caseID, at: at) else {
                    throw ProtocolError(.notFound, "no case \(caseID) at position \(at)")
                }
                return try Answers.caseState(state, events: events, currency: currency).json
            }
        case .budget(let agentID, let day, let at?):
            return past(at, on: eventLoop) { past, then in
                let day = day ?? then.day
                return Answers.budget(agentID: agentID, day: day, row: try past.budget(agentID: agentID, day: day, at: at), currency: currency).json
            }
        case .budgets(let day, let at?):
            return past(at, on: eventLoop) { past, then in
                Answers.budgets(try past.budgets(on: day ?? then.day, at: at), currency: currency).json
            }
        case .outcomes(let by, let from, let to, let at?):
            return past(at, on: eventLoop) { past, then in
                let report = OutcomeReport(cases: try past.cases(openedFrom: from, to: to, at: at), by: by, from: from, to: to, now: then.time)
                return Answers.outcomes(report, from: from, to: to, currency: currency).json
            }
        case .spending(let from, let to, let by, let at?):
            return past(at, on: eventLoop) { past, _ in
                Answers.spending(try past.spending(from: from, to: to, by: by, at: at), from: from, to: to, by: by, currency: currency).json
            }
        case .settings(let at?):
            return past(at, on: eventLoop) { past, then in
                let history = try past.settings(at: at)
                let (inForce, positions) = history.settings(through: at)
                return Answers.settings(inForce, positions: positions, day: then.day, supervisors: try past.supervisors(on: then.day, at: at)).json
            }
        case .caseQuery(let caseID, nil):
            return read(on: eventLoop) { connection in
                guard let state = try Projections(connection: connection).cases([caseID])[caseID] else {
                    throw ProtocolError(.notFound, "no case \(caseID)")
                }
                let events = try EventReader(connection: connection).events(ofCase: caseID)
                return [Response.ok(try Answers.caseState(state, events: events, currency: currency))]
            }
        case .budget(let agentID, let day, nil):
            let day = day ?? today
            return budget(agentID: agentID, day: day, on: eventLoop).map {
                [Response.ok(Answers.budget(agentID: agentID, day: day, row: $0, currency: currency))]
            }
        case .budgets(let day, nil):
            return budgets(on: day ?? today, on: eventLoop).map { [Response.ok(Answers.budgets($0, currency: currency))] }
        case .outcomes(let by, let from, let to, nil):
            return read(on: eventLoop) { connection in
                let cases = try Projections(connection: connection).cases(openedFrom: from, to: to)
                let report = OutcomeReport(cases: cases, by: by, from: from, to: to, now: Timestamp(Date()))
                return [Response.ok(Answers.outcomes(report, from: from, to: to, currency: currency))]
            }
        case .spending(let from, let to, let by, nil):
            return read(on: eventLoop) { connection in
                let rows = try Projections(connection: connection).spending(from: from, to: to, by: by)
                return [Response.ok(Answers.spending(rows, from: from, to: to, by: by, currency: currency))]
            }
        case .settings(nil):
            return read(on: eventLoop) { connection in
                let projections = Projections(connection: connection)
                let state = LedgerState(allowances: try projections.allowances(), settingsHistory: try projections.settingsHistory())
                let day = state.settingsHistory.businessDay(of: Timestamp(Date()))
                let (inForce, positions) = state.settingsHistory.settings(through: .max)
                let supervisors = state.allowances.keys.filter { state.role(of: $0, on: day) == .supervisor }.sorted()
                return [Response.ok(Answers.settings(inForce, positions: positions, day: day, supervisors: supervisors))]
            }
        case .verify(let from, let to):
            return verify(from: from, to: to, on: eventLoop)
        case .cases(let search):
            return read(on: eventLoop) { connection in
                let page = try Projections(connection: connection).cases(matching: search)
                return [Response.ok(Reply.Cases(cases: page.cases.map { Answers.caseSummary($0, currency: currency) }, next: page.more ? page.cases.last?.caseID : nil))]
            }
        case .due(let agentID):
            let zone = settings.timeZone
            return read(on: eventLoop) { connection in
                let due = try Projections(connection: connection).casesDue(by: today.end(in: zone), owner: agentID)
                let now = Timestamp(Date())
                return [Response.ok(Reply.Due(
                    day: today.description,
                    cases: due.map { c in
                        Answers.caseSummary(
                            c, currency: currency,
                            due: Reply.CaseSummary.Due(followUpDue: c.followUpDue?.description, overdue: c.followUpDue.map { $0 < now } ?? false))
                    }))]
            }
        case .people:
            return read(on: eventLoop) { connection in
                let projections = Projections(connection: connection)
                let state = LedgerState(allowances: try projections.allowances(), settingsHistory: try projections.settingsHistory())
                let everyone = try projections.peopleWithBudgetRows().union(state.allowances.keys)
                let people = everyone.sorted().map { agentID in
                    Reply.Person(agentId: agentID, role: state.role(of: agentID, on: today).rawValue, allowance: state.allowance(for: agentID, on: today))
                }
                return [Response.ok(Reply.People(day: today.description, currency: currency, people: people))]
            }
        case .head:
            guard writer.view.isServing else {
                // Only the writer vouches for a head: a standby answers it unsigned, from the log.
                let name = configuration.signer.ledger
                let mode = self.mode
                return read(on: eventLoop) { connection in
                    let head = try EventReader(connection: connection).head()
                    return [Response.ok(Reply.LogHead(ledger: name, position: head.position, hash: Hex.encode(head.hash), mode: mode))]
                }
            }
            return signHead(on: eventLoop).map { [Response.ok(Answers.head($0))] }
        case .status:
            return status(on: eventLoop)
        case .hello, .ping, .quit, .append, .replay, .subscribe, .unsubscribe:
            return eventLoop.makeSucceededFuture([.error(.internalError, "\(request.verb) is not a query")])
        }
    }

    /// The budget row of `agentID` on `day`: from the writer's memory for
    /// today and later (and any day it holds), else from the table.
    func budget(agentID: String, day: BusinessDay, on eventLoop: EventLoop) -> EventLoopFuture<BudgetDay> {
        if let row = writer.view.budget(BudgetKey(agentID: agentID, day: day)) {
            return eventLoop.makeSucceededFuture(row)
        }
        return read(on: eventLoop) { connection in
            let projections = Projections(connection: connection)
            if let row = try projections.budgets([BudgetKey(agentID: agentID, day: day)]).values.first { return row }
            return LedgerState(allowances: try projections.allowances(), settingsHistory: try projections.settingsHistory())
                .budget(for: agentID, on: day)
        }
    }

    /// `day`'s budgets (``DayBudgets``).
    func budgets(on day: BusinessDay, on eventLoop: EventLoop) -> EventLoopFuture<DayBudgets> {
        if let rows = writer.view.budgets(on: day) { return eventLoop.makeSucceededFuture(rows) }
        return read(on: eventLoop) { connection in
            let projections = Projections(connection: connection)
            var rows: [String: BudgetDay] = [:]
            for (key, row) in try projections.budgets(on: day) { rows[key.agentID] = row }
            return DayBudgets(day: day, rows: rows, allowances: try projections.allowances(), settings: try projections.settingsHistory())
        }
    }
}
