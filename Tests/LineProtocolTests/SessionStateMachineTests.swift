import LineProtocol
import RecoveryWire
import RecoveryDomain
import TestRandomness
import Testing

/// Drives a ``SessionStateMachine`` directly: inputs in, actions out.
struct MachineDriver {
    var machine: SessionStateMachine
    var written: [Response] = []
    var actions: [SessionStateMachine.Action] = []

    init(limits: Limits = Limits(), connect: Bool = true) {
        machine = SessionStateMachine(limits: limits)
        if connect { feed(.connected(refusal: nil)) }
    }

    /// Feeds one input; returns its actions and records what was written.
    @discardableResult
    mutating func feed(_ input: SessionStateMachine.Input) -> [SessionStateMachine.Action] {
        let result = machine.handle(input)
        for action in result {
            if case .write(let lines) = action { written += lines }
        }
        actions += result
        return result
    }

    @discardableResult
    mutating func line(_ text: String) -> [SessionStateMachine.Action] { feed(.frame(.line(Array(text.utf8)))) }

    /// Says HELLO and answers its check with `role`.
    mutating func hello(as role: ClientRole) {
        let checked = line("HELLO token")
        guard case .checkHello(let id, _) = checked.first(where: { if case .checkHello = $0 { true } else { false } }) else {
            Issue.record("no token check in \(checked)")
            return
        }
        feed(.helloChecked(id, granted: (role, .ok(["role": .string(role.rawValue)]))))
        written.removeAll()
    }

    var texts: [String] { written.map { String(decoding: $0.encoded().dropLast(), as: UTF8.self) } }

    func ids(_ predicate: (SessionStateMachine.Action) -> SessionStateMachine.RequestID?) -> [SessionStateMachine.RequestID] {
        actions.compactMap(predicate)
    }

    var appendIDs: [SessionStateMachine.RequestID] { ids { if case .submitAppend(let id, _, _) = $0 { id } else { nil } } }
    var queryIDs: [SessionStateMachine.RequestID] { ids { if case .runQuery(let id, _, _) = $0 { id } else { nil } } }
    var pageReads: [(id: SessionStateMachine.RequestID, from: Int64)] {
        actions.compactMap { if case .readPage(let id, let from, _) = $0 { (id, from) } else { nil } }
    }

    func did(_ action: SessionStateMachine.Action) -> Bool { actions.contains(action) }
}

func event(_ position: Int64) -> StoredEvent {
    StoredEvent(position: position, payload: Array(#"{"position":\#(position)}"#.utf8), hash: [UInt8](repeating: UInt8(position % 256), count: 32))
}

func events(_ range: ClosedRange<Int64>) -> [StoredEvent] { range.map(event) }

@Suite("Session state machine: requests, order and roles")
struct SessionRequestTests {
    @Test func beforeHelloOnlyHelloPingAndQuitAreServed() {
        var driver = MachineDriver()
        driver.line("PING")
        driver.line("BUDGET A-7")
        driver.line("QUIT")
        #expect(driver.texts == [#"OK {"pong":true}"#, "ERR auth_required say HELLO <token> first; before it only HELLO, PING and QUIT are served", #"OK {"bye":true}"#])
        #expect(driver.did(.close(flushFirst: true)))
        #expect(driver.machine.isClosed)
    }

    @Test func answersKeepRequestOrderWhileLeadingAppendsGoToTheWriterAtOnce() {
        var driver = MachineDriver()
        driver.hello(as: .frontline)
        driver.line("APPEND {}")
        driver.line("APPEND {}")
        driver.line("CASE K-1")
        driver.line("APPEND {}")
        // Two leading appends started, the query and the append behind it wait.
        #expect(driver.appendIDs.count == 2)
        #expect(driver.queryIDs.isEmpty)
        let (first, second) = (driver.appendIDs[0], driver.appendIDs[1])
        driver.feed(.appendAnswered(second, .ok(["position": .integer(2)])))
        #expect(driver.written.isEmpty, "the second answer waits for the first")
        driver.feed(.appendAnswered(first, .ok(["position": .integer(1)])))
        #expect(driver.texts == [#"OK {"position":1}"#, #"OK {"position":2}"#])
        #expect(driver.queryIDs.count == 1, "the query starts once everything before it is answered")
        #expect(driver.appendIDs.count == 2, "the append behind the query waits for it")
        driver.feed(.queryAnswered(driver.queryIDs[0], [.ok(["case_id": .string("K-1")])]))
        #expect(driver.appendIDs.count == 3)
    }

    @Test func everyVerbIsCheckedAgainstTheRoleInOnePlace() {
        for role in ClientRole.allCases {
            var driver = MachineDriver()
            driver.hello(as: role)
            driver.line("BUDGETS 2026-11-26")
            let allowed = Permissions.roles(for: .budgets(day: BusinessDay("2026-11-26")!)).contains(role)
            #expect(allowed == !driver.queryIDs.isEmpty, "\(role)")
            if !allowed { #expect(driver.texts == ["ERR forbidden the \(role.rawValue) role may not BUDGETS"]) }
        }
        #expect(Permissions.check(.allowance, by: .frontline)?.code == .forbidden)
        #expect(Permissions.check(.allowance, by: .admin) == nil)
        #expect(Permissions.check(.compensation, by: .auditor)?.code == .forbidden)
    }

    @Test func failedHellosAreCountedAndTheLastOneCloses() {
        var limits = Limits()
        limits.maxFailedHellos = 3
        var driver = MachineDriver(limits: limits)
        for attempt in 1...3 {
            let checked = driver.line("HELLO wrong")
            guard case .checkHello(let id, "wrong") = checked.last else {
                Issue.record("no check: \(checked)")
                return
            }
            driver.feed(.helloChecked(id, granted: nil))
            #expect(driver.did(.failedHello(count: attempt)))
        }
        #expect(driver.texts == ["ERR auth_required unknown token", "ERR auth_required unknown token", "ERR auth_required unknown token; 3 failed HELLOs, closing"])
        // Never authenticated: closed at once, the goodbye not waited for.
        #expect(driver.did(.close(flushFirst: false)) && !driver.did(.close(flushFirst: true)))
    }

    @Test func withoutHelloTheHelloTimerClosesAndAGoodHelloCancelsIt() {
        var waiting = MachineDriver()
        #expect(waiting.did(.schedule(.hello, seconds: 10)))
        waiting.line("PING")
        waiting.feed(.timerFired(.hello))
        #expect(waiting.texts.last == "ERR timeout no HELLO within 10 s; closing")
        // At once: a client that reads nothing (or a TLS handshake never made) holds no place.
        #expect(waiting.did(.close(flushFirst: false)) && !waiting.did(.close(flushFirst: true)))

        var greeted = MachineDriver()
        greeted.hello(as: .auditor)
        #expect(greeted.did(.cancel(.hello)))
        #expect(greeted.did(.authenticated(.auditor)))
        greeted.feed(.timerFired(.hello))
        #expect(!greeted.machine.isClosed)
    }

    @Test func aRefusedConnectionGetsItsReasonAndCloses() {
        var driver = MachineDriver(connect: false)
        driver.feed(.connected(refusal: ProtocolError(.unavailable, "too many connections from 127.0.0.1 (limit 2)")))
        #expect(driver.texts == ["ERR unavailable too many connections from 127.0.0.1 (limit 2)"])
        #expect(driver.did(.close(flushFirst: false)))
    }

    @Test func anEvictedConnectionIsToldWhyAndClosedAtOnceButNeverOnceAuthenticated() {
        var waiting = MachineDriver()
        waiting.feed(.evicted)
        #expect(waiting.texts == ["ERR unavailable too many connections waiting for HELLO (limit 128); this, the oldest, is closed to make room"])
        #expect(waiting.did(.close(flushFirst: false)))
        var greeted = MachineDriver()
        greeted.hello(as: .finance)
        greeted.feed(.evicted)
        #expect(!greeted.machine.isClosed)
    }

    @Test func quitBeforeHelloIsStillAnsweredBeforeTheClose() {
        var driver = MachineDriver()
        driver.line("QUIT")
        #expect(driver.texts == [#"OK {"bye":true}"#])
        #expect(driver.did(.close(flushFirst: true)))
    }

    @Test func idleClosesOnlyAConnectionWithNothingInFlight() {
        var driver = MachineDriver()
        driver.hello(as: .frontline)
        driver.line("APPEND {}")
        driver.feed(.idle)
        #expect(!driver.machine.isClosed)
        driver.feed(.appendAnswered(driver.appendIDs[0], .ok(nil)))
        driver.feed(.idle)
        #expect(driver.texts.last == "ERR timeout idle for 300 s; closing")
        #expect(driver.machine.isClosed)
    }

    @Test func shutdownAnswersWhatWasReadThenCloses() {
        var driver = MachineDriver()
        driver.hello(as: .frontline)
        driver.line("APPEND {}")
        driver.feed(.shutdown)
        #expect(!driver.did(.pauseReading), "what arrives is read and dropped, so the close is no reset")
        driver.line("PING")  // read after shutdown: dropped
        #expect(!driver.machine.isClosed)
        driver.feed(.appendAnswered(driver.appendIDs[0], .ok(nil)))
        #expect(driver.texts == ["OK"])
        #expect(driver.did(.close(flushFirst: true)))
    }
}

extension SessionRequestTests {
    @Test func afterTheShutdownGraceWhatIsUnansweredIsUnavailableAndALateAnswerIsDropped() {
        var driver = MachineDriver()
        driver.hello(as: .frontline)
        driver.line("APPEND {}")
        driver.line("APPEND {}")
        driver.feed(.appendAnswered(driver.appendIDs[0], .ok(["position": .integer(1)])))
        driver.feed(.shutdown)
        driver.feed(.shutdownNow)
        #expect(
            driver.texts == [
                #"OK {"position":1}"#,
                "ERR unavailable the server is shutting down; the outcome of this request is unknown: retry it (appends are idempotent)",
            ])
        #expect(driver.did(.close(flushFirst: true)))
        driver.feed(.appendAnswered(driver.appendIDs[1], .ok(["position": .integer(2)])))
        #expect(driver.texts.count == 2, "an answer after the close is not written")
    }
}

@Suite("Session state machine: back-pressure")
struct SessionBackPressureTests {
    @Test func whileNotWritableReadingPausesAndNothingNewStarts() {
        var driver = MachineDriver()
        driver.hello(as: .frontline)
        driver.feed(.writabilityChanged(false))
        #expect(driver.did(.pauseReading))
        #expect(driver.did(.schedule(.write, seconds: 30)))
        driver.line("PING")
        driver.line("APPEND {}")
        #expect(driver.written.isEmpty)
        #expect(driver.appendIDs.isEmpty)
        driver.feed(.writabilityChanged(true))
        #expect(driver.did(.cancel(.write)))
        #expect(driver.did(.resumeReading))
        #expect(driver.texts == [#"OK {"pong":true}"#])
        #expect(driver.appendIDs.count == 1)
    }

    @Test func aClientThatNeverReadsIsClosedAfterTheWriteTimeout() {
        var driver = MachineDriver()
        driver.line("X")
        driver.feed(.writabilityChanged(false))
        driver.feed(.timerFired(.write))
        #expect(driver.texts.last == "ERR timeout answers were not read for 30 s; closing")
        #expect(driver.did(.close(flushFirst: false)))
    }

    @Test func atMaxPendingReadingPausesAndResumesAsAnswersDrain() {
        var limits = Limits()
        limits.maxPending = 3
        var driver = MachineDriver(limits: limits)
        driver.hello(as: .frontline)
        for _ in 1...3 { driver.line("APPEND {}") }
        #expect(driver.did(.pauseReading))
        driver.feed(.appendAnswered(driver.appendIDs[0], .ok(nil)))
        #expect(driver.did(.resumeReading))
    }

    @Test func aFullWriterQueuePausesAppendsUntilItHasRoom() {
        var driver = MachineDriver()
        driver.hello(as: .frontline)
        driver.line("APPEND {}")
        let id = driver.appendIDs[0]
        driver.feed(.appendDeferred(id))
        #expect(driver.did(.pauseReading))
        driver.line("APPEND {}")
        #expect(driver.appendIDs.count == 1, "nothing is offered to a full writer")
        driver.feed(.writerHasRoom)
        #expect(driver.did(.resumeReading))
        #expect(driver.appendIDs == [id, id, id + 1], "the deferred append is offered again first, in order")
    }
}

@Suite("Session state machine: REPLAY")
struct SessionReplayTests {
    @Test func pagesAreAskedForOnlyWhileWritableAndTheFinalLineCarriesTheChain() {
        var driver = MachineDriver()
        driver.hello(as: .auditor)
        driver.line("REPLAY 1")
        guard case .openReplay(let id, 1, nil) = driver.actions.last else {
            Issue.record("no openReplay: \(driver.actions)")
            return
        }
        driver.feed(.replayOpened(id, .success(.init(previousHash: [UInt8](repeating: 0, count: 32), last: 1_500))))
        #expect(driver.pageReads.map(\.from) == [1])
        driver.feed(.writabilityChanged(false))
        driver.feed(.pageRead(id, .success(events(1...1_000))))
        #expect(driver.pageReads.count == 1, "no next page while the client does not read")
        driver.feed(.writabilityChanged(true))
        #expect(driver.pageReads.map(\.from) == [1, 1_001])
        driver.feed(.pageRead(id, .success(events(1_001...1_500))))
        #expect(driver.written.count == 1_501)
        #expect(driver.texts.last == #"OK {"count":1500,"hash":"\#(Hex.encode(event(1_500).hash))","last":1500,"prev_hash":"\#(String(repeating: "0", count: 64))"}"#)
    }

    @Test func aReplayTheClientDoesNotReadEndsAsASlowConsumer() {
        var driver = MachineDriver()
        driver.hello(as: .auditor)
        driver.line("REPLAY 1")
        guard case .openReplay(let id, _, _) = driver.actions.last else { return }
        driver.feed(.replayOpened(id, .success(.init(previousHash: [], last: 5_000))))
        driver.feed(.pageRead(id, .success(events(1...1_000))))
        driver.feed(.writabilityChanged(false))
        driver.feed(.timerFired(.write))
        #expect(driver.texts.last == "ERR slow_consumer 1000 nothing was read for 30 s; resume with REPLAY 1001")
        #expect(driver.did(.slowConsumer(last: 1_000)))
        #expect(driver.did(.close(flushFirst: false)))
    }
}

@Suite("Session state machine: SUBSCRIBE")
struct SessionSubscribeTests {
    /// Subscribes from `from`; returns the request id.
    static func subscribe(_ driver: inout MachineDriver, from: Int64) -> SessionStateMachine.RequestID {
        driver.hello(as: .auditor)
        driver.line("SUBSCRIBE \(from)")
        #expect(driver.did(.joinHub))
        return driver.pageReads.last!.id
    }

    static func positions(_ driver: MachineDriver) -> [Int64] {
        driver.written.compactMap { response -> Int64? in
            guard case .event(let payload) = response else { return nil }
            return Int64(String(decoding: payload.dropFirst(12).dropLast(), as: UTF8.self))
        }
    }

    @Test func liveEventsThatArriveDuringCatchUpAreJoinedWithoutGapOrDuplicate() {
        var driver = MachineDriver()
        let id = Self.subscribe(&driver, from: 1)
        driver.feed(.eventsCommitted(events(5...6)))  // live, while the first page is read
        driver.feed(.pageRead(id, .success(events(1...5))))
        driver.feed(.eventsCommitted(events(7...7)))
        #expect(Self.positions(driver) == [1, 2, 3, 4, 5, 6, 7])
    }

    @Test func aHoleBetweenCatchUpAndLiveIsReadFromTheTable() {
        var driver = MachineDriver()
        let id = Self.subscribe(&driver, from: 1)
        driver.feed(.pageRead(id, .success(events(1...3))))  // read before 4 and 5 committed
        #expect(Self.positions(driver) == [1, 2, 3])
        // 4 committed before this subscriber joined the hub's snapshot; 5 came live.
        driver.feed(.eventsCommitted(events(5...5)))
        #expect(driver.pageReads.last?.from == 4, "the hole is read, not skipped")
        driver.feed(.pageRead(id, .success(events(4...5))))
        driver.feed(.eventsCommitted(events(6...6)))
        #expect(Self.positions(driver) == [1, 2, 3, 4, 5, 6])
    }

    @Test func tooMuchLiveTrafficDuringCatchUpIsReadFromTheTableInstead() {
        var limits = Limits()
        limits.subscriberBuffer = 10
        var driver = MachineDriver(limits: limits)
        let id = Self.subscribe(&driver, from: 1)
        driver.feed(.eventsCommitted(events(1...20)))
        driver.feed(.pageRead(id, .success(events(1...4))))
        #expect(driver.pageReads.last?.from == 5)
        driver.feed(.pageRead(id, .success(events(5...20))))
        driver.feed(.eventsCommitted(events(21...21)))
        #expect(Self.positions(driver) == Array(1...21))
        #expect(!driver.machine.isClosed)
    }

    @Test func aLiveSubscriberPastItsBufferIsCutOffAtTheLastPositionSent() {
        var limits = Limits()
        limits.subscriberBuffer = 10
        var driver = MachineDriver(limits: limits)
        let id = Self.subscribe(&driver, from: 1)
        driver.feed(.pageRead(id, .success(events(1...2))))
        driver.feed(.writabilityChanged(false))
        driver.feed(.eventsCommitted(events(3...8)))
        driver.feed(.eventsCommitted(events(9...13)))
        #expect(Self.positions(driver) == [1, 2])
        #expect(driver.texts.last == "ERR slow_consumer 2 more than 10 events waited; resume with SUBSCRIBE 3")
        #expect(driver.did(.leaveHub))
        #expect(driver.did(.close(flushFirst: true)))
    }

    @Test func whileSubscribedOnlyPingUnsubscribeAndQuitAreAccepted() {
        var driver = MachineDriver()
        let id = Self.subscribe(&driver, from: 1)
        driver.feed(.pageRead(id, .success(events(1...2))))
        driver.line("CASE K-1")
        driver.line("PING")
        driver.line("UNSUBSCRIBE")
        #expect(
            driver.texts.suffix(3) == [
                "ERR bad_request while subscribed only UNSUBSCRIBE, PING and QUIT are accepted", #"OK {"pong":true}"#,
                #"OK {"count":2,"last":2,"unsubscribed":true}"#,
            ])
        #expect(driver.did(.leaveHub))
        driver.line("CASE K-1")
        #expect(driver.queryIDs.count == 1, "an ordinary connection again")
    }

    /// Commits, hub deliveries, page reads and writability interleaved at
    /// random, as the writer thread, the read pool and the event loop would:
    /// every subscriber receives exactly from…N, in order.
    @Test(arguments: 1...40)
    func randomInterleavingsNeverGapOrDuplicate(seed: UInt64) {
        var rng = SplitMix64(state: seed)
        var limits = Limits()
        limits.subscriberBuffer = Int.random(in: 3...40, using: &rng)
        let total: Int64 = 3_000
        var committed: Int64 = Int64.random(in: 0...200, using: &rng)
        var driver = MachineDriver(limits: limits)
        let from = Int64.random(in: 1...max(1, committed + 1), using: &rng)
        driver.hello(as: .auditor)
        var joined = false
        var liveQueue: [[StoredEvent]] = []  // posted to the loop, delivered in order
        var pendingReads: [(id: SessionStateMachine.RequestID, from: Int64, snapshot: Int64?)] = []
        var writable = true
        func absorb(_ actions: [SessionStateMachine.Action]) {
            for action in actions {
                switch action {
                case .joinHub: joined = true
                case .leaveHub: joined = false
                case .readPage(let id, let from, _): pendingReads.append((id, from, nil))
                default: break
                }
            }
        }
        absorb(driver.line("SUBSCRIBE \(from)"))
        var steps = 0
        while (committed < total || !liveQueue.isEmpty || !pendingReads.isEmpty || !writable) && steps < 200_000 {
            steps += 1
            switch Int.random(in: 0..<10, using: &rng) {
            case 0...2 where committed < total:
                let count = Int64.random(in: 1...30, using: &rng)
                let batch = events((committed + 1)...min(total, committed + count))
                committed = batch.last!.position
                if joined { liveQueue.append(batch) }
            case 3...4 where !liveQueue.isEmpty:
                absorb(driver.feed(.eventsCommitted(liveQueue.removeFirst())))
            case 5 where !pendingReads.isEmpty:
                // The pool runs a read: it sees what has committed by now.
                if let index = pendingReads.firstIndex(where: { $0.snapshot == nil }) { pendingReads[index].snapshot = committed }
            case 6...7 where pendingReads.first?.snapshot != nil:
                let read = pendingReads.removeFirst()
                let end = min(read.snapshot!, read.from + Int64(SessionStateMachine.pageSize) - 1)
                absorb(driver.feed(.pageRead(read.id, .success(read.from <= end ? events(read.from...end) : []))))
            case 8:
                writable.toggle()
                absorb(driver.feed(.writabilityChanged(writable)))
            default:
                if !writable {
                    writable = true
                    absorb(driver.feed(.writabilityChanged(true)))
                }
            }
            #expect(!driver.machine.isClosed || !writable, "closed only as a slow consumer")
            if driver.machine.isClosed { break }
        }
        let received = Self.positions(driver)
        #expect(received == Array(from..<(from + Int64(received.count))), "seed \(seed): gap or duplicate")
        if !driver.machine.isClosed {
            #expect(received.last == total, "seed \(seed): ended at \(received.last ?? 0)")
        } else {
            #expect(driver.texts.last?.hasPrefix("ERR slow_consumer \(received.last ?? from - 1) ") == true)
        }
    }
}

extension SessionRequestTests {
    @Test func aRevokedTokenEndsTheConnectionWithWorkInFlightMarkedUnknown() {
        var driver = MachineDriver()
        driver.hello(as: .frontline)
        driver.line("APPEND {}")
        driver.line("APPEND {}")
        driver.feed(.appendAnswered(driver.appendIDs[0], .ok(["position": .integer(1)])))
        driver.feed(.revoked)
        #expect(
            driver.texts == [
                #"OK {"position":1}"#,
                "ERR unavailable the token of this connection was revoked before this was answered; its outcome is unknown: retry it (appends are idempotent)",
                "ERR auth_required the token of this connection was revoked; closing",
            ])
        #expect(driver.did(.close(flushFirst: true)))
        driver.line("PING")
        #expect(driver.texts.count == 3, "nothing is read or answered after it")
    }

    @Test func aConnectionThatNeverSaidHelloIsNotEndedByARevocation() {
        var driver = MachineDriver()
        driver.feed(.revoked)
        driver.line("PING")
        #expect(driver.texts == [#"OK {"pong":true}"#])
        #expect(!driver.machine.isClosed)
    }
}
