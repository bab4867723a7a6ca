import RecoveryDomain
import RecoveryWire

/// One client connection as a pure state machine (docs/ARCHITECTURE.md, "Connections"): it takes what
/// happened — a line arrived, an append was answered, a page was read, events
/// were committed, the socket became (un)writable, a timer fired — and answers
/// with the effects to carry out, as plain data. It does no I/O; the channel
/// handler that owns it carries out the actions and feeds back the results.
///
/// What it guarantees by construction:
/// - every request gets exactly one final line, in request order, however its
///   work is done (leading `APPEND`s go to the writer at once and keep their
///   order; any other request starts when everything before it is answered);
/// - nothing new is started, and no next page is asked for, while the
///   connection is not writable, and reading pauses while it is not writable,
///   while `max_pending` requests wait, or while the writer's queue is full;
/// - a subscription's catch-up and live events are serialized here, on the
///   connection's own event loop, so the switch from one to the other has no
///   gap and no duplicate: positions are sent strictly one after the other,
///   and any hole is read from the table before going on.
public struct SessionStateMachine: Sendable {
    public typealias RequestID = UInt64

    /// Events read per page by `REPLAY` and by a subscription's catch-up.
    public static let pageSize = 1_000

    public enum Timer: Sendable, Equatable {
        /// `hello_timeout`: armed at connect, cancelled by a good `HELLO`.
        case hello
        /// `write_timeout`: armed while the connection is not writable.
        case write
    }

    /// The part of the log a `REPLAY` covers, as read when it starts.
    public struct ReplayWindow: Sendable, Equatable {
        /// The chain hash at `from − 1`.
        public var previousHash: [UInt8]
        /// The last position to send: `to`, or the log's last position if lower.
        public var last: Int64

        public init(previousHash: [UInt8], last: Int64) {
            self.previousHash = previousHash
            self.last = last
        }
    }

    public enum Input: Sendable {
        /// The connection was accepted; `refusal` when a connection limit refuses it.
        case connected(refusal: ProtocolError?)
        case frame(LineFrame)
        /// The token of a `HELLO` was looked up: the role and the full `OK` answer, or nil.
        case helloChecked(RequestID, granted: (role: ClientRole, answer: Response)?)
        case appendAnswered(RequestID, Response)
        /// The writer's queue was full: the append was not taken and is tried
        /// again after ``writerHasRoom``.
        case appendDeferred(RequestID)
        case writerHasRoom
        case queryAnswered(RequestID, [Response])
        case replayOpened(RequestID, Result<ReplayWindow, ProtocolError>)
        case pageRead(RequestID, Result<[StoredEvent], ProtocolError>)
        /// The writer committed these events (a subscription's live feed).
        case eventsCommitted([StoredEvent])
        case writabilityChanged(Bool)
        case timerFired(Timer)
        /// Nothing was read for `idle_timeout`.
        case idle
        /// The server is shutting down: read nothing more, answer what was read.
        case shutdown
        /// The shutdown grace is over: answer everything still unanswered
        /// `ERR unavailable` (its outcome unknown) and close.
        case shutdownNow
        /// The token this connection said `HELLO` with was revoked (the token
        /// file was read again without it): answer what is left and close.
        case revoked
        /// The pool of connections waiting for `HELLO` was full and this one
        /// was the oldest in it: closed to make room (never once authenticated).
        case evicted
        /// The socket closed.
        case channelClosed
    }

    public enum Action: Sendable, Equatable {
        /// Write these lines and flush.
        case write([Response])
        case checkHello(RequestID, token: String)
        case submitAppend(RequestID, json: [UInt8], role: ClientRole)
        case runQuery(RequestID, Request, role: ClientRole)
        case openReplay(RequestID, from: Int64, to: Int64?)
        /// Read up to ``pageSize`` events from `from` (through `through`, if given).
        case readPage(RequestID, from: Int64, through: Int64?)
        /// Start (stop) receiving ``Input/eventsCommitted(_:)``.
        case joinHub
        case leaveHub
        case pauseReading
        case resumeReading
        case schedule(Timer, seconds: Int)
        case cancel(Timer)
        /// The connection said a good `HELLO` (for the count of unauthenticated connections).
        case authenticated(ClientRole)
        /// A `HELLO` with an unknown token; `count` on this connection so far.
        case failedHello(count: Int)
        /// A slow consumer was cut off at this position.
        case slowConsumer(last: Int64)
        /// Close the connection: after what was written has been flushed, or at once.
        case close(flushFirst: Bool)
    }

    private struct Slot {
        let id: RequestID
        let request: Request?
        var answer: [Response]?
        var running = false
        var closeAfter = false
    }

    private struct Replay {
        let id: RequestID
        var next: Int64
        var last: Int64 = 0
        var previousHash: [UInt8] = []
        var lastHash: [UInt8] = []
        var count: Int64 = 0
        var opened = false
        var pageInFlight = true
    }

    private struct Subscription {
        let id: RequestID
        /// The last position written to the connection; the next one sent is always this + 1.
        var lastSent: Int64
        var sent: Int64 = 0
        var live = false
        var pageInFlight = false
        /// Committed events not written yet: during catch-up, those that came
        /// live; once live, those held while the connection was not writable.
        var held: [StoredEvent] = []
        /// Catch-up dropped live events past the buffer; they are read from the table.
        var overflowed = false
    }

    private enum Stream {
        case replay(Replay)
        case subscription(Subscription)
    }

    private enum Phase {
        case open
        case draining
        case closed
    }

    public let limits: Limits
    private var phase = Phase.open
    private var role: ClientRole?
    private var failedHellos = 0
    private var slots: [Slot] = []
    private var stream: Stream?
    private var nextID: RequestID = 0
    private var writable = true
    private var writerFull = false
    private var readingPaused = false
    private var writeTimerArmed = false
    private var actions: [Action] = []

    public init(limits: Limits) {
        self.limits = limits
    }

    public var isClosed: Bool { phase == .closed }
    public var isSubscribed: Bool {
        if case .subscription = stream { return true }
        return false
    }

    // MARK: Inputs

    public mutating func handle(_ input: Input) -> [Action] {
        switch input {
        case .connected(let refusal):
            if let refusal {
                actions.append(.write([.error(refusal)]))
                close(flushFirst: false)
            } else {
                actions.append(.schedule(.hello, seconds: limits.helloTimeout))
            }
        case .frame(let frame):
            if phase == .open { receive(frame) }
        case .helloChecked(let id, let granted):
            helloChecked(id, granted)
        case .appendAnswered(let id, let response):
            answer(id, [response])
        case .queryAnswered(let id, let responses):
            answer(id, responses)
        case .appendDeferred(let id):
            if let index = index(of: id) { slots[index].running = false }
            writerFull = true
        case .writerHasRoom:
            writerFull = false
        case .replayOpened(let id, let result):
            replayOpened(id, result)
        case .pageRead(let id, let result):
            pageRead(id, result)
        case .eventsCommitted(let events):
            committed(events)
        case .writabilityChanged(let isWritable):
            writabilityChanged(isWritable)
        case .timerFired(let timer):
            timerFired(timer)
        case .idle:
            if phase == .open, slots.isEmpty, stream == nil {
                finalLine(.error(.timeout, "idle for \(limits.idleTimeout) s; closing"))
            }
        case .shutdown:
            shutdown()
        case .shutdownNow:
            shutdown()
            for index in slots.indices where slots[index].answer == nil {
                slots[index].answer = [
                    .error(.unavailable, "the server is shutting down; the outcome of this request is unknown: retry it (appends are idempotent)")
                ]
            }
            stream = nil
        case .revoked:
            revoked()
        case .evicted:
            evicted()
        case .channelClosed:
            if isSubscribed { actions.append(.leaveHub) }
            stream = nil
            slots = []
            phase = .closed
        }
        pump()
        updateReading()
        defer { actions = [] }
        return actions
    }

    // MARK: Requests

    private mutating func receive(_ frame: LineFrame) {
        let parsed: Result<Request, ProtocolError>
        switch frame {
        case .tooLong:
            parsed = .failure(ProtocolError(.tooLarge, "request line longer than \(limits.maxLine) bytes; it was discarded"))
        case .line(let bytes):
            parsed = Request.parse(bytes)
        }
        if isSubscribed {
            whileSubscribed(parsed)
            return
        }
        nextID += 1
        switch parsed {
        case .success(let request): slots.append(Slot(id: nextID, request: request))
        case .failure(let error): slots.append(Slot(id: nextID, request: nil, answer: [.error(error)]))
        }
    }

    /// Writes the answers that are ready, in order; starts the request at the
    /// head, and the `APPEND`s that lead the queue (the writer keeps their order).
    private mutating func pump() {
        var out: [Response] = []
        while phase != .closed, let head = slots.first {
            if let answer = head.answer {
                out += answer
                slots.removeFirst()
                if head.closeAfter {
                    write(&out)
                    endSubscriptionSilently()
                    // A connection that never said a good HELLO is closed at once: its
                    // goodbye is written if the socket takes it, never waited for
                    // (a client that does not read, or a TLS handshake never made,
                    // must not hold a place). QUIT's answer is waited for as always.
                    close(flushFirst: role != nil || head.request == .quit)
                    return
                }
                continue
            }
            if head.running || !writable { break }
            if case .append = head.request, writerFull { break }
            // Lines ready now go before anything starting this request writes.
            write(&out)
            start(at: 0)
        }
        write(&out)
        if phase != .closed, writable, !writerFull {
            for index in slots.indices {
                guard case .append = slots[index].request, slots[index].answer == nil else { break }
                if !slots[index].running { start(at: index) }
            }
        }
        finishDraining()
    }

    private mutating func write(_ out: inout [Response]) {
        guard !out.isEmpty else { return }
        actions.append(.write(out))
        out = []
    }

    private mutating func finishDraining() {
        if phase == .draining && slots.isEmpty && stream == nil { close(flushFirst: true) }
    }

    private mutating func start(at index: Int) {
        let id = slots[index].id
        guard let request = slots[index].request else { return }
        slots[index].running = true
        switch request {
        case .hello(let token):
            actions.append(.checkHello(id, token: token))
            return
        case .ping:
            slots[index].answer = [.ok(["pong": .bool(true)])]
            return
        case .quit:
            slots[index].answer = [.ok(["bye": .bool(true)])]
            slots[index].closeAfter = true
            return
        case .unsubscribe:
            slots[index].answer = [.error(.badRequest, "not subscribed")]
            return
        default:
            break
        }
        guard let role else {
            slots[index].answer = [.error(.authRequired, "say HELLO <token> first; before it only HELLO, PING and QUIT are served")]
            return
        }
        if let refusal = Permissions.check(request, by: role) {
            slots[index].answer = [.error(refusal)]
            return
        }
        switch request {
        case .append(let json):
            actions.append(.submitAppend(id, json: json, role: role))
        case .replay(let from, let to):
            stream = .replay(Replay(id: id, next: from))
            actions.append(.openReplay(id, from: from, to: to))
        case .subscribe(let from):
            startSubscription(id, from: from, index: index)
        case .caseQuery, .budget, .budgets, .outcomes, .verify, .head, .cases, .people, .due, .status, .spending, .settings:
            actions.append(.runQuery(id, request, role: role))
        case .hello, .ping, .quit, .unsubscribe:
            preconditionFailure("answered above")
        }
    }

    private mutating func answer(_ id: RequestID, _ responses: [Response]) {
        guard let index = index(of: id) else { return }
        slots[index].answer = responses
    }

    /// Slots are in increasing id order (ids only grow), so a binary search.
    private func index(of id: RequestID) -> Int? {
        var low = 0
        var high = slots.count
        while low < high {
            let middle = (low + high) / 2
            if slots[middle].id < id { low = middle + 1 } else { high = middle }
        }
        return low < slots.count && slots[low].id == id ? low : nil
    }

    private mutating func helloChecked(_ id: RequestID, _ granted: (role: ClientRole, answer: Response)?) {
        guard let index = index(of: id) else { return }
        if let granted {
            if role == nil { actions.append(.cancel(.hello)) }
            if role != granted.role { actions.append(.authenticated(granted.role)) }
            role = granted.role
            slots[index].answer = [granted.answer]
            return
        }
        failedHellos += 1
        actions.append(.failedHello(count: failedHellos))
        if failedHellos >= limits.maxFailedHellos {
            slots[index].answer = [.error(.authRequired, "unknown token; \(failedHellos) failed HELLOs, closing")]
            slots[index].closeAfter = true
        } else {
            slots[index].answer = [.error(.authRequired, "unknown token")]
        }
    }

    /// Writes a last line after everything already answered and closes.
    private mutating func finalLine(_ response: Response) {
        nextID += 1
        slots.append(Slot(id: nextID, request: nil, answer: [response], closeAfter: true))
    }

    private mutating func close(flushFirst: Bool) {
        guard phase != .closed else { return }
        phase = .closed
        if writeTimerArmed {
            writeTimerArmed = false
            actions.append(.cancel(.write))
        }
        actions.append(.close(flushFirst: flushFirst))
    }

    private mutating func shutdown() {
        guard phase == .open else { return }
        phase = .draining
        if case .subscription(let subscription) = stream {
            endSubscription(
                with: .error(.unavailable, "the server is shutting down; resume with SUBSCRIBE \(subscription.lastSent + 1)"))
        }
    }

    /// Requests already handed over (an append at the writer) may still
    /// complete, so their outcome is unknown; those not started are refused.
    private mutating func revoked() {
        guard phase != .closed, role != nil else { return }
        let reason = "the token of this connection was revoked"
        endSubscription(with: .error(.authRequired, "\(reason); closing"))
        stream = nil
        phase = .draining
        for index in slots.indices where slots[index].answer == nil {
            slots[index].answer = [
                slots[index].running
                    ? .error(.unavailable, "\(reason) before this was answered; its outcome is unknown: retry it (appends are idempotent)")
                    : .error(.authRequired, reason)
            ]
        }
        finalLine(.error(.authRequired, "\(reason); closing"))
    }

    /// Closed to make room in the pool of connections waiting for `HELLO`.
    private mutating func evicted() {
        guard phase != .closed, role == nil else { return }
        actions.append(
            .write([.error(.unavailable, "too many connections waiting for HELLO (limit \(limits.maxUnauthenticated)); this, the oldest, is closed to make room")]))
        close(flushFirst: false)
    }

    private mutating func timerFired(_ timer: Timer) {
        guard phase != .closed else { return }
        switch timer {
        case .hello:
            guard role == nil else { return }
            slots.removeAll { $0.answer == nil && !$0.running }
            finalLine(.error(.timeout, "no HELLO within \(limits.helloTimeout) s; closing"))
        case .write:
            writeTimerArmed = false
            guard !writable else { return }
            // The client reads nothing: what is written now would wait behind
            // what it has not read, so the connection closes at once.
            let line: Response
            switch stream {
            case .subscription(let subscription):
                line = .error(.slowConsumer, "\(subscription.lastSent) nothing was read for \(limits.writeTimeout) s; resume with SUBSCRIBE \(subscription.lastSent + 1)")
                actions.append(.slowConsumer(last: subscription.lastSent))
            case .replay(let replay):
                line = .error(.slowConsumer, "\(replay.next - 1) nothing was read for \(limits.writeTimeout) s; resume with REPLAY \(replay.next)")
                actions.append(.slowConsumer(last: replay.next - 1))
            case nil:
                line = .error(.timeout, "answers were not read for \(limits.writeTimeout) s; closing")
            }
            endSubscriptionSilently()
            stream = nil
            actions.append(.write([line]))
            close(flushFirst: false)
        }
    }

    private mutating func writabilityChanged(_ isWritable: Bool) {
        writable = isWritable
        if !isWritable, !writeTimerArmed, phase != .closed {
            writeTimerArmed = true
            actions.append(.schedule(.write, seconds: limits.writeTimeout))
        } else if isWritable, writeTimerArmed {
            writeTimerArmed = false
            actions.append(.cancel(.write))
        }
        guard isWritable else { return }
        switch stream {
        case .replay: requestReplayPage()
        case .subscription(let subscription): subscription.live ? deliverHeld() : requestCatchUpPage()
        case nil: break
        }
    }

    /// Reading pauses for back-pressure only. While draining, what arrives is
    /// read and dropped: unread input would make the close a reset, and the
    /// client could lose the answers written before it.
    private mutating func updateReading() {
        let pause = phase == .open && (!writable || writerFull || slots.count >= limits.maxPending)
        guard pause != readingPaused, phase != .closed else { return }
        readingPaused = pause
        actions.append(pause ? .pauseReading : .resumeReading)
    }

    // MARK: REPLAY

    private mutating func replayOpened(_ id: RequestID, _ result: Result<ReplayWindow, ProtocolError>) {
        guard case .replay(var replay) = stream, replay.id == id else { return }
        switch result {
        case .failure(let error):
            stream = nil
            answer(id, [.error(error)])
        case .success(let window):
            replay.opened = true
            replay.pageInFlight = false
            replay.previousHash = window.previousHash
            replay.lastHash = window.previousHash
            replay.last = window.last
            stream = .replay(replay)
            requestReplayPage()
        }
    }

    private mutating func requestReplayPage() {
        guard case .replay(var replay) = stream, replay.opened, !replay.pageInFlight, phase != .closed else { return }
        if replay.next > replay.last {
            stream = nil
            answer(
                replay.id,
                [
                    .ok(
                        Reply.ReplaySummary(
                            count: replay.count, last: replay.next - 1, prevHash: Hex.encode(replay.previousHash), hash: Hex.encode(replay.lastHash)))
                ])
            return
        }
        guard writable else { return }
        replay.pageInFlight = true
        stream = .replay(replay)
        actions.append(.readPage(replay.id, from: replay.next, through: replay.last))
    }

    private mutating func pageRead(_ id: RequestID, _ result: Result<[StoredEvent], ProtocolError>) {
        switch stream {
        case .replay(var replay) where replay.id == id:
            replay.pageInFlight = false
            switch result {
            case .failure(let error):
                stream = nil
                answer(id, [.error(error)])
            case .success(let events):
                if let last = events.last {
                    actions.append(.write(events.map { .event($0.payload) }))
                    replay.count += Int64(events.count)
                    replay.next = last.position + 1
                    replay.lastHash = last.hash
                } else {
                    replay.next = replay.last + 1  // the table ends before `last`
                }
                stream = .replay(replay)
                requestReplayPage()
            }
        case .subscription(var subscription) where subscription.id == id:
            subscription.pageInFlight = false
            switch result {
            case .failure(let error):
                stream = .subscription(subscription)
                endSubscription(with: .error(error))
            case .success(let events):
                let fresh = events.drop { $0.position <= subscription.lastSent }
                if let first = fresh.first, first.position != subscription.lastSent + 1 {
                    stream = .subscription(subscription)
                    endSubscription(
                        with: .error(.internalError, "the log skips from \(subscription.lastSent) to \(first.position); resume with SUBSCRIBE \(subscription.lastSent + 1)"))
                    return
                }
                send(fresh, in: &subscription)
                stream = .subscription(subscription)
                if events.count < Self.pageSize {
                    tryGoLive()
                } else {
                    requestCatchUpPage()
                }
            }
        default:
            break
        }
    }

    // MARK: SUBSCRIBE

    private mutating func startSubscription(_ id: RequestID, from: Int64, index: Int) {
        stream = .subscription(Subscription(id: id, lastSent: from - 1))
        // Joined before the first page is read: whatever commits after that
        // read began arrives live, and whatever committed before is in the table.
        actions.append(.joinHub)
        requestCatchUpPage()
        // Requests read behind SUBSCRIBE are handled under subscription rules.
        let behind = slots[(index + 1)...]
        slots.removeSubrange((index + 1)...)
        for slot in behind {
            if let request = slot.request {
                whileSubscribed(.success(request))
            } else if let answer = slot.answer {
                actions.append(.write(answer))
            }
        }
    }

    private mutating func whileSubscribed(_ parsed: Result<Request, ProtocolError>) {
        switch parsed {
        case .failure(let error):
            actions.append(.write([.error(error)]))
        case .success(.ping):
            actions.append(.write([.ok(["pong": .bool(true)])]))
        case .success(.quit):
            endSubscriptionSilently()
            slots = []
            finalLine(.ok(["bye": .bool(true)]))
        case .success(.unsubscribe):
            guard case .subscription(let subscription) = stream else { return }
            endSubscription(
                with: .ok(Reply.Unsubscribed(count: subscription.sent, last: subscription.lastSent)))
        case .success:
            actions.append(.write([.error(.badRequest, "while subscribed only UNSUBSCRIBE, PING and QUIT are accepted")]))
        }
    }

    private mutating func requestCatchUpPage() {
        guard case .subscription(var subscription) = stream, !subscription.live, !subscription.pageInFlight, writable,
            phase != .closed
        else { return }
        subscription.pageInFlight = true
        stream = .subscription(subscription)
        actions.append(.readPage(subscription.id, from: subscription.lastSent + 1, through: nil))
    }

    /// Catch-up reached the table's head as it was when the page was read:
    /// go live if what came live meanwhile starts right after the last sent
    /// position (or nothing came); otherwise read the hole from the table.
    private mutating func tryGoLive() {
        guard case .subscription(var subscription) = stream else { return }
        subscription.held.removeAll { $0.position <= subscription.lastSent }
        let joins = subscription.held.first.map { $0.position == subscription.lastSent + 1 } ?? true
        if subscription.overflowed || !joins {
            subscription.overflowed = false
            subscription.held = []
            stream = .subscription(subscription)
            requestCatchUpPage()
            return
        }
        subscription.live = true
        stream = .subscription(subscription)
        deliverHeld()
    }

    private mutating func committed(_ events: [StoredEvent]) {
        guard case .subscription(var subscription) = stream, phase != .closed else { return }
        if !subscription.live {
            if !subscription.overflowed {
                subscription.held += events
                if subscription.held.count > limits.subscriberBuffer {
                    // Too much came live during catch-up: drop it and keep
                    // reading the table, which holds all of it.
                    subscription.held = []
                    subscription.overflowed = true
                }
            }
            stream = .subscription(subscription)
            return
        }
        let expected = (subscription.held.last?.position ?? subscription.lastSent) + 1
        let fresh = events.drop { $0.position < expected }
        guard let first = fresh.first else { return }
        if first.position != expected {
            // A hole between what was sent and what came: read it from the table.
            subscription.live = false
            subscription.held = Array(fresh)
            stream = .subscription(subscription)
            requestCatchUpPage()
            return
        }
        subscription.held += fresh
        stream = .subscription(subscription)
        deliverHeld()
        // What is still held waits for a client that does not read.
        guard case .subscription(let waiting) = stream, waiting.held.count > limits.subscriberBuffer else { return }
        do {
            let last = waiting.lastSent
            actions.append(.slowConsumer(last: last))
            endSubscription(
                with: .error(
                    .slowConsumer,
                    "\(last) more than \(limits.subscriberBuffer) events waited; resume with SUBSCRIBE \(last + 1)"))
            if let index = index(of: waiting.id) { slots[index].closeAfter = true }
        }
    }

    private mutating func deliverHeld() {
        guard case .subscription(var subscription) = stream, subscription.live, writable, !subscription.held.isEmpty else { return }
        let held = subscription.held
        subscription.held = []
        send(held[...], in: &subscription)
        stream = .subscription(subscription)
    }

    private mutating func send(_ events: ArraySlice<StoredEvent>, in subscription: inout Subscription) {
        guard let last = events.last else { return }
        actions.append(.write(events.map { .event($0.payload) }))
        subscription.lastSent = last.position
        subscription.sent += Int64(events.count)
    }

    /// Ends the subscription with its final line (the `SUBSCRIBE`'s answer).
    private mutating func endSubscription(with response: Response) {
        guard case .subscription(let subscription) = stream else { return }
        endSubscriptionSilently()
        answer(subscription.id, [response])
    }

    private mutating func endSubscriptionSilently() {
        guard isSubscribed else { return }
        stream = nil
        actions.append(.leaveHub)
    }
}

