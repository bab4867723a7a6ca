import Foundation
import LedgerStore
import RecoveryDomain
import Testing

/// The writer's decisions without PostgreSQL: each test plays the shell,
/// feeding the machine the results its actions would have had.
@Suite("The writer as a state machine", .tags(.fast))
struct WriterStateMachineTests {
    typealias Machine = WriterStateMachine<Int>

    /// The shell's part, by hand: receipts computed as the log computes them.
    struct Shell {
        var machine = Machine()
        /// The head counting batches sent and not received.
        var tip = ChainHead.empty
        var answers: [Int: WriterAnswer] = [:]
        var published: [Int64] = []
        var views: [String] = []
        var nextTicket = 0

        init(filtersReady: Bool = true, now: Timestamp = WriterStateMachineTests.monday, stateCacheBytes: Int = LedgerState.defaultCacheBytes) {
            machine = Machine(stateCacheBytes: stateCacheBytes)
            let actions = machine.handle(
                .connected(.init(head: .empty, state: LedgerState(), lastRecordedAt: Timestamp(microseconds: 0), server: "db:5432", now: now)))
            record(actions)
            if filtersReady { record(machine.handle(.filtersLoaded(KnownIdentifiers(sizedFor: 0), generation: 1))) }
        }

        /// Hands the machine `input` and keeps what it answered, published and showed.
        @discardableResult
        mutating func run(_ input: Machine.Input) -> [Machine.Action] {
            let actions = machine.handle(input)
            record(actions)
            return actions
        }

        mutating func record(_ actions: [Machine.Action]) {
            for action in actions {
                switch action {
                case .answer(let list): for (ticket, answer) in list { answers[ticket] = answer }
                case .publish(let events): published += events.map(\.position)
                case .view(let change): views.append("\(change)".prefix { $0 != "(" }.description)
                default: break
                }
            }
        }

        /// Submits events as one batch; returns the actions and the batch's tickets.
        mutating func submit(_ events: [Event], at now: Timestamp = WriterStateMachineTests.monday, authority: Authority = .app)
            -> (actions: [Machine.Action], tickets: [Int])
        {
            let tickets = events.indices.map { nextTicket + $0 }
            nextTicket += events.count
            let appends = zip(tickets, events).map { ticket, event in
                Machine.Append(
                    ticket: ticket,
                    submission: Submission(event: event, contentDigest: HashChain.digest(EventCodec.canonicalContent(of: event)), authority: authority))
            }
            return (run(.submitted(appends, now: now, clock: .now)), tickets)
        }

        /// The receipts the log would give the rows of a `.send`.
        mutating func sent(_ action: Machine.Action?) throws -> [Machine.Action] {
            guard case .send(let rows, _) = action else { throw Unexpected("expected a send, got \(String(describing: action))") }
            let (_, receipts) = try EventLog.batchStatements(rows, after: tip, projections: [])
            tip = receipts.last ?? tip
            return run(.sent(receipts: receipts))
        }
    }

    struct Unexpected: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    static let monday = Timestamp(rfc3339: "2026-11-23T09:00:00Z")!
    static let tuesday = Timestamp(rfc3339: "2026-11-24T09:00:00Z")!

    static func id(_ n: Int) -> EventID { EventID(String(format: "00000000-0000-4000-8000-%012x", n))! }

    static func complaint(_ n: Int, caseID: String? = nil, customer: String? = nil) -> Event {
        Event(
            eventID: id(n), agentID: "A-7", caseID: caseID ?? "K-\(n)",
            body: .complaint(Complaint(customerID: customer ?? "C-\(n)", channel: .phone, category: "late", severity: 3, baseline: 6)))
    }

    static func compensation(_ n: Int, caseID: String, amount: Int64 = 500) -> Event {
        Event(eventID: id(n), agentID: "A-7", caseID: caseID, body: .compensation(Compensation(amount: amount, currency: "USD", kind: .gift)))
    }

    static func followUp(_ n: Int, caseID: String) -> Event {
        Event(eventID: id(n), agentID: "A-7", caseID: caseID, body: .followUp(FollowUp(satisfaction: 9)))
    }

    static func sends(_ actions: [Machine.Action]) -> [Machine.Action] {
        actions.filter { if case .send = $0 { true } else { false } }
    }

    static func has(_ actions: [Machine.Action], _ wanted: (Machine.Action) -> Bool) -> Bool { actions.contains(where: wanted) }

    @Test func anAppendIsAnsweredOnlyAfterItsCommitAndOnlyThenDoesTheStateMove() throws {
        var shell = Shell()
        let (actions, tickets) = shell.submit([Self.complaint(1), Self.complaint(2)])
        #expect(Self.sends(actions).count == 1)
        #expect(!Self.has(actions) { if case .answer = $0 { true } else { false } })
        let afterSend = try shell.sent(Self.sends(actions).first)
        #expect(afterSend.isEmpty, "a batch in flight waits for the queue to empty or for room")
        #expect(shell.answers.isEmpty)
        #expect(shell.machine.state.lastPosition == 0, "nothing moves before COMMIT")
        #expect(shell.run(.queueEmpty).count == 1)
        let committed = shell.run(.committed(clock: .now))
        #expect(Self.has(committed) { if case .batchCommitted(2, _) = $0 { true } else { false } })
        #expect(shell.answers[tickets[0]]?.position == 1)
        #expect(shell.answers[tickets[1]]?.position == 2)
        #expect(shell.answers[tickets[1]]?.hash == shell.tip.hash, "the receipt is the chain's hash at its position")
        #expect(shell.published == [1, 2])
        #expect(shell.machine.state.lastPosition == 2)
        #expect(shell.machine.head == shell.tip)
        #expect(shell.machine.isIdle)
    }

    @Test func twoBatchesGoInFlightAtOnceAndTheSecondIsDecidedOverTheFirst() throws {
        var shell = Shell()
        let first = shell.submit([Self.complaint(1, caseID: "K-1")])
        _ = try shell.sent(Self.sends(first.actions).first)
        // The case is opened by a batch still committing: the compensation sees it.
        let second = shell.submit([Self.compensation(2, caseID: "K-1")])
        _ = try shell.sent(Self.sends(second.actions).first)
        #expect(shell.machine.inFlightCount == 2)
        // A third batch waits for the oldest commit: at most two in flight.
        let third = shell.submit([Self.complaint(3)])
        guard case .receive = third.actions.first, third.actions.count == 1 else {
            Issue.record("expected a receive first, got \(third.actions)")
            return
        }
        let afterFirst = shell.run(.committed(clock: .now))
        #expect(shell.answers[first.tickets[0]]?.position == 1)
        _ = try shell.sent(Self.sends(afterFirst).first)
        shell.run(.queueEmpty)
        shell.run(.committed(clock: .now))
        shell.run(.queueEmpty)
        shell.run(.committed(clock: .now))
        #expect(shell.answers[second.tickets[0]]?.position == 2)
        #expect(shell.answers[third.tickets[0]]?.position == 3)
        #expect(shell.machine.state.budgets.values.map(\.spent) == [500])
    }

    @Test func aFailedCommitFailsTheBatchBehindItAndTheWriterReconnects() throws {
        var shell = Shell()
        let first = shell.submit([Self.complaint(1)])
        _ = try shell.sent(Self.sends(first.actions).first)
        let second = shell.submit([Self.complaint(2)])
        _ = try shell.sent(Self.sends(second.actions).first)
        shell.run(.queueEmpty)
        let failed = shell.run(
            .commitFailed(.init(StoreError(.connection, "server closed the connection"), connected: false, server: "db:5432")))
        #expect(Self.has(failed) { if case .disconnect = $0 { true } else { false } })
        for ticket in first.tickets + second.tickets {
            guard case .unavailable(let message) = shell.answers[ticket] else {
                Issue.record("ticket \(ticket): \(String(describing: shell.answers[ticket]))")
                continue
            }
            #expect(message.contains("the batch was not committed"))
        }
        #expect(shell.machine.state.lastPosition == 0, "the state was never touched")
        #expect(shell.views.last == "disconnected")
        // The next append reconnects at once; a failed connect answers it unavailable and backs off.
        let next = shell.submit([Self.complaint(3)])
        guard case .connect = next.actions.first else {
            Issue.record("expected a connect, got \(next.actions)")
            return
        }
        let refused = shell.run(.connectFailed("connection refused", clock: .now))
        #expect(Self.has(refused) { if case .log(let line) = $0 { line.message == "PostgreSQL unavailable, retrying" } else { false } })
        guard case .unavailable(let message) = shell.answers[next.tickets[0]] else {
            Issue.record("not answered unavailable")
            return
        }
        #expect(message == "the database is unavailable (connection refused); nothing was recorded, retry later")
    }

    @Test func reconnectsBackOffFromATenthOfASecondToOneSecond() {
        var shell = Shell()
        shell.run(.connectionChecked("gone", clock: .now))
        let start = ContinuousClock.now
        var clock = start
        var waits: [Duration] = []
        for _ in 0..<6 {
            guard case .connect = shell.run(.tick(clock: clock)).first else {
                Issue.record("no connect when due")
                return
            }
            shell.run(.connectFailed("refused", clock: clock))
            let due = shell.machine.nextTick(after: clock)
            #expect(shell.run(.tick(clock: due - .milliseconds(1))).isEmpty, "not before it is due")
            waits.append(due - clock)
            clock = due
        }
        #expect(waits == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1)])
    }

    @Test func aValuePostgreSQLRefusesIsFoundBySendingTheAppendsAgainOneByOne() throws {
        var shell = Shell()
        let batch = shell.submit([Self.complaint(1), Self.complaint(2), Self.complaint(3)])
        _ = try shell.sent(Self.sends(batch.actions).first)
        shell.run(.queueEmpty)
        var actions = shell.run(
            .commitFailed(.init(StoreError(.server, sqlState: "22021", "invalid byte sequence"), connected: true, server: "db:5432")))
        shell.tip = shell.machine.head
        #expect(shell.answers.isEmpty, "nothing is answered before each was tried alone")
        // Each alone, received before the next is sent; the second is the bad one.
        for round in 0..<3 {
            // Their ids went into the filters when the batch was sent: the log is asked first.
            if case .lookUp(let needs) = actions.last {
                #expect(needs.eventIDs == [Self.id(round + 1)])
                actions = shell.run(.lookedUp(existing: [:], cases: [:], complaintDays: [:]))
            }
            let send = Self.sends(actions)
            #expect(send.count == 1)
            guard case .send(let rows, _) = send.first else { return }
            #expect(rows.count == 1)
            let received = try shell.sent(send.first)
            guard case .receive = received.first else {
                Issue.record("a single is received before anything else, got \(received)")
                return
            }
            if round == 1 {
                shell.tip = shell.machine.head
                actions = shell.run(
                    .commitFailed(.init(StoreError(.server, sqlState: "22021", "invalid byte sequence"), connected: true, server: "db:5432")))
            } else {
                actions = shell.run(.committed(clock: .now))
            }
        }
        #expect(shell.answers[batch.tickets[0]]?.position == 1)
        #expect(shell.answers[batch.tickets[1]] == .invalidValue("PostgreSQL refused this event's values (SQLSTATE 22021); nothing was recorded"))
        #expect(shell.answers[batch.tickets[2]]?.position == 2)
    }

    @Test func aCommitWithAnUnknownOutcomeReadsTheHeadAgainOrReloads() throws {
        var shell = Shell()
        let batch = shell.submit([Self.complaint(1)])
        _ = try shell.sent(Self.sends(batch.actions).first)
        shell.run(.queueEmpty)
        let failed = shell.run(.commitFailed(.init(StoreError(.commitUnknown, "no answer to COMMIT"), connected: true, server: "db-a:5432")))
        #expect(Self.has(failed) { if case .resynchronize = $0 { true } else { false } })
        guard case .unavailable(let message) = shell.answers[batch.tickets[0]] else {
            Issue.record("not answered")
            return
        }
        #expect(message.contains("the outcome of the commit is unknown"))
        // The table says the batch committed after all: the state is behind, so start again from the tables.
        let reread = shell.run(.resynchronized(ChainHead(position: 1, hash: [1])))
        #expect(Self.has(reread) { if case .disconnect = $0 { true } else { false } })
        // …avoiding the server whose commit was in doubt.
        let next = shell.submit([Self.complaint(2)])
        guard case .connect(let avoiding) = next.actions.first else {
            Issue.record("expected a connect")
            return
        }
        #expect(avoiding == "db-a:5432")
    }

    @Test func aRowTheStateLacksIsLookedUpAfterTheBatchesInFlightCommit() throws {
        var shell = Shell(filtersReady: false)
        let first = shell.submit([Self.complaint(1, caseID: "K-1")])
        // Before the filters are read, any id may be in the log: looked up first.
        guard case .lookUp(let needs) = first.actions.last else {
            Issue.record("expected a look-up, got \(first.actions)")
            return
        }
        #expect(needs.caseIDs == ["K-1"] && needs.customers == ["C-1"] && needs.eventIDs == [Self.id(1)])
        let decided = shell.run(.lookedUp(existing: [:], cases: [:], complaintDays: [:]))
        _ = try shell.sent(Self.sends(decided).first)
        // K-9 is in the tables, not in memory: its compensation waits for the batch in flight, then for the row.
        let second = shell.submit([Self.compensation(2, caseID: "K-9")])
        guard case .receive = second.actions.last else {
            Issue.record("the tables must match the state before they are read: \(second.actions)")
            return
        }
        let afterCommit = shell.run(.committed(clock: .now))
        guard case .lookUp(let lacking) = afterCommit.last else {
            Issue.record("expected a look-up, got \(afterCommit)")
            return
        }
        #expect(lacking.caseIDs == ["K-9"])
        let k9 = CaseState(
            caseID: "K-9", customerID: "C-9", channel: .phone, category: "late", severity: 3, baseline: 6, owner: "A-7", openedAt: Self.monday,
            openedDay: BusinessDay("2026-11-23")!, status: .open, steps: [], firstApologyAt: nil, resolvedAt: nil, satisfaction: nil,
            wouldRecommend: nil, compensationNet: 0, compensations: [:], lastPosition: 1)
        let sent = shell.run(.lookedUp(existing: [:], cases: ["K-9": k9], complaintDays: [:]))
        guard case .send(let rows, _) = Self.sends(sent).first else {
            Issue.record("expected the compensation to be decided and sent")
            return
        }
        #expect(rows.map(\.type) == ["compensation"], "recorded against the case read from the tables, not refused as unknown")
    }

    @Test func timeNeverMovesBackAndANewDayDropsWhatIsSettled() throws {
        var shell = Shell()
        let opened = shell.submit([Self.complaint(1, caseID: "K-1"), Self.followUp(2, caseID: "K-1"), Self.complaint(3, caseID: "K-3")])
        _ = try shell.sent(Self.sends(opened.actions).first)
        shell.run(.queueEmpty)
        shell.run(.committed(clock: .now))
        #expect(Set(shell.machine.state.cases.keys) == ["K-1", "K-3"])
        // The clock steps back an hour: recorded a microsecond after the last batch instead.
        let back = shell.submit([Self.complaint(4)], at: Timestamp(rfc3339: "2026-11-23T08:00:00Z")!)
        guard case .send(let rows, _) = Self.sends(back.actions).first else { return }
        #expect(rows.first?.recordedAt == Timestamp(microseconds: Self.monday.microseconds + 1))
        _ = try shell.sent(Self.sends(back.actions).first)
        shell.run(.queueEmpty)
        shell.run(.committed(clock: .now))
        // Tuesday: the closed case and Monday's budget rows leave memory; the open cases stay.
        let tuesday = shell.submit([Self.complaint(5)], at: Self.tuesday)
        #expect(shell.views.contains("evicted"))
        #expect(Set(shell.machine.state.cases.keys) == ["K-3", "K-4"])
        #expect(shell.machine.state.budgets.keys.allSatisfy { $0.day.description == "2026-11-24" })
        #expect(Self.sends(tuesday.actions).count == 1)
    }

    @Test func pastItsBudgetTheWorkingSetDropsWhatTheTablesHoldAndReadsItAgainWhenNeeded() throws {
        // A budget of three cases' worth: the fourth case's commit goes over it.
        var shell = Shell(stateCacheBytes: 3 * LedgerState.bytesPerCase + 2 * LedgerState.bytesPerBudgetDay)
        let opened = shell.submit([
            Self.complaint(1, caseID: "K-1"), Self.followUp(2, caseID: "K-1"), Self.complaint(3, caseID: "K-3"),
            Self.complaint(4, caseID: "K-4"), Self.complaint(5, caseID: "K-5"),
        ])
        _ = try shell.sent(Self.sends(opened.actions).first)
        shell.run(.queueEmpty)
        shell.run(.committed(clock: .now))
        #expect(shell.machine.state.cases.count == 4, "nothing is dropped while a batch is in flight")
        // The next batch finds the set over its budget: the closed case goes first,
        // then the open ones touched longest ago, down to three quarters of it.
        let next = shell.submit([Self.compensation(6, caseID: "K-5")])
        #expect(Self.has(next.actions) { if case .log(let line) = $0 { line.message.contains("--state-cache-mib") } else { false } })
        #expect(Set(shell.machine.state.cases.keys) == ["K-4", "K-5"], "\(shell.machine.state.cases.keys.sorted())")
        #expect(shell.machine.state.estimatedBytes <= (3 * LedgerState.bytesPerCase + 2 * LedgerState.bytesPerBudgetDay) / 4 * 3)
        _ = try shell.sent(Self.sends(next.actions).first)
        shell.run(.queueEmpty)
        shell.run(.committed(clock: .now))
        // A dropped case is read from the tables when an append needs it, not taken for unknown.
        let dropped = shell.submit([Self.compensation(7, caseID: "K-3")])
        guard case .lookUp(let needs) = dropped.actions.last else {
            Issue.record("expected a look-up of the dropped case, got \(dropped.actions)")
            return
        }
        #expect(needs.caseIDs == ["K-3"])
    }

    @Test func anIdleConnectionIsCheckedAndALostOneReconnectsAtOnce() {
        var shell = Shell()
        let start = ContinuousClock.now
        shell.run(.submitted([], now: Self.monday, clock: start))
        #expect(shell.run(.tick(clock: start + .seconds(1))).isEmpty)
        guard case .checkConnection = shell.run(.tick(clock: start + .seconds(2))).first else {
            Issue.record("no idle check after two seconds")
            return
        }
        let lost = shell.run(.connectionChecked("server closed the connection", clock: start + .seconds(2)))
        #expect(Self.has(lost) { if case .disconnect = $0 { true } else { false } })
        #expect(shell.views.last == "disconnected")
        guard case .connect = shell.run(.tick(clock: start + .seconds(2))).first else {
            Issue.record("a lost connection is sought again at once")
            return
        }
    }
}

extension WriterAnswer {
    var position: Int64? {
        if case .recorded(let position, _, _, _) = self { return position }
        return nil
    }

    var hash: [UInt8]? {
        if case .recorded(_, let hash, _, _) = self { return hash }
        return nil
    }
}

extension Tag {
    /// Needs no PostgreSQL, no daemon process and no outside tool.
    @Tag static var fast: Self
}
