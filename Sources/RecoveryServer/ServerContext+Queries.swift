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

    /// `STATUS`: what an operator checks first. The database is probed with a
    /// read (its failure is the answer's `"database":"down"`, not an error).
    private func status(on eventLoop: EventLoop) -> EventLoopFuture<[Response]> {
        var status = Reply.Status(
            version: recoverydVersion, mode: mode, position: writer.view.position, database: "", writerConnected: writer.view.isServing && writer.view.isConnected,
            writer: writer.view.isServing ? nil : standby?.writerAddress, connections: connections.count,
            unauthenticated: connections.unauthenticated, connectionsByRole: connections.countsByRole, subscribers: hub.count,
            queueDepth: writer.queueDepth, uptimeSeconds: Int64(Date().timeIntervalSince(started)), startedAt: Timestamp(started).description,
            ledger: configuration.signer.ledger,
            // Why appends are refused when the log no longer extends a signed head.
            appendsRefused: writer.view.brokenHistory.map { "\($0.code.rawValue) \($0.message)" })
        if let lag = tailer?.lag, configuration.mode == .follower {
            status.lag = Reply.Hello.Lag(positions: lag.positions, seconds: lag.seconds.map { String(format: "%.3f", $0) })
        }
        let reached = reads.run(on: eventLoop) { connection in _ = try connection.query("SELECT 1") }
        return reached.map { "up" }.recover { _ in "down" }.map { [status] (database: String) in
            var status = status
            status.database = database
            return [Response.ok(status)]
        }
    }

    /// When an answer as of a position is for: the time that position was
    /// recorded (the epoch for position 0), and its business day.
    struct Then {
        var time: Timestamp
        var day: BusinessDay
    }

    /// An answer as the ledger stood right after position `at` (``PastState``),
    /// with `"at"` and `"at_hash"` added, all read in one snapshot. A day
    /// left out defaults to the day of that position, and deadlines are
    /// passed or not as of its time: the answer is the one given then.
    private func past(
        _ at: Int64, on eventLoop: EventLoop, _ body: @escaping @Sendable (PastState, Then) throws -> [String: JSONValue]
    ) -> EventLoopFuture<[Response]> {
        let (zone, maxEvents) = (settings.timeZone, configuration.limits.maxAtEvents)
        return read(on: eventLoop) { connection in
            let past = PastState(connection: connection, maxEvents: maxEvents)
            return try past.snapshot(at: at) { head in
                let time = try EventReader(connection: connection).recordedAt(at) ?? Timestamp(microseconds: 0)
                var answer = try body(past, Then(time: time, day: BusinessDay(time, in: zone)))
                answer["at"] = .integer(head.position)
                answer["at_hash"] = .string(Hex.encode(head.hash))
                return [Response.ok(answer)]
            }
        }
    }

    /// `VERIFY`: the chain and every row's columns (``EventReader/verify``);
    /// through the head, also the head the writer holds in memory and the
    /// checkpoint, each against the recomputed hash at its position. Both are
    /// taken before the log is read, so they are within what is verified.
    private func verify(from: Int64?, to: Int64?, on eventLoop: EventLoop) -> EventLoopFuture<[Response]> {
        let logger = self.logger
        let writer = self.writer
        let witness = configuration.headWitness
        return read(on: eventLoop) { connection in
            let started = Date()
            let serving = writer.view.isServing
            let memory = writer.view.chainHead
            let checkpoint = try Projections(connection: connection).checkpoint()
            let start = from ?? 1
            let records = to == nil
                ? [("the writer's head in memory", memory), ("the checkpoint", checkpoint)].filter { $0.1.position >= start && (serving || $0.0 == "the checkpoint") }
                : []
            var recomputed: [Int64: [UInt8]] = [:]
            var result = try EventReader(connection: connection).verify(
                from: start, through: to, witnesses: Set(records.map(\.1.position)), witnessed: { recomputed[$0] = $1 }
            ) { done in
                logger.info("VERIFY in progress", metadata: ["verified": "\(done)"])
            }
            if case .verified(_, let last, _) = result {
                for (name, head) in records where head.position > 0 {
                    guard let hash = recomputed[head.position] else {
                        result = .broken(position: last + 1, reason: "the log ends at \(last) but \(name) is at \(head.position)")
                        break
                    }
                    if hash != head.hash {
                        result = .broken(
                            position: head.position,
                            reason: "\(name) records hash \(Hex.encode(head.hash)) here but the log's chain gives \(Hex.encode(hash))")
                        break
                    }
                }
            }
            // And the daemon's own last signed heads: a rewrite with every hash
            // recomputed is consistent with itself, but not with them.
            if case .verified = result, to == nil, let problem = try HeadNotary.check(connection: connection, witness: witness) {
                result = .broken(position: problem.position, reason: problem.reason)
            }
            switch result {
            case .verified(let count, let last, let hash):
                logger.info("VERIFY done", metadata: ["verified": "\(count)", "seconds": "\(Int(Date().timeIntervalSince(started)))"])
                return [Response.ok(Reply.Verified(verified: count, last: last, hash: Hex.encode(hash)))]
            case .broken(let position, let reason):
                logger.error("VERIFY found a broken chain", metadata: ["position": "\(position)", "reason": "\(reason)"])
                return [Response.error(.chainBroken, "\(position) \(reason)")]
            }
        }
    }

    /// The writer's head, signed and kept (``HeadNotary``) before it is
    /// answered: every head the daemon hands out is on its own record.
    func signHead(on eventLoop: EventLoop) -> EventLoopFuture<SignedHead> {
        let (notary, head, logger) = (self.notary, writer.view.chainHead, self.logger)
        return read(on: eventLoop) { connection in try notary.sign(head, on: connection, logger: logger) }
    }

    /// The last head of a run, signed and kept on a connection of its own
    /// with short deadlines, waited for at most 3 s: a shutdown is never held
    /// up by it.
    func signFinalHead() async {
        let (head, notary, conninfo, logger) = (writer.view.chainHead, self.notary, configuration.conninfo, logger)
        let signed = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                do {
                    try await NIOThreadPool.singleton.runIfActive {
                        let connection = try PGConnection(conninfo, timeouts: PGTimeouts(connect: .seconds(2), statement: .seconds(2), commit: .seconds(2)))
                        _ = try notary.sign(head, on: connection, logger: logger)
                    }
                } catch {
                    logger.warning("the last head was not kept", metadata: ["error": "\(error)"])
                }
                return true
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(3))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !signed { logger.warning("the last head was not kept within 3 s") }
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
