import Foundation
import LedgerStore
import LineProtocol
import Logging
import NIOCore
import RecoveryDomain

/// One client connection: frames lines, parses requests, checks roles, and
/// answers every request exactly once and in order, however the work behind
/// each is done (the writer, the read pool, a stream). All of its state lives
/// on its channel's event loop.
final class Session: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// One request in flight; its answer is written when every earlier one has been.
    final class Slot: @unchecked Sendable {
        let request: Request?
        var responses: [Response]?
        var started = false
        var closeAfter = false

        init(request: Request?, responses: [Response]? = nil) {
            self.request = request
            self.responses = responses
        }
    }

    private let server: ServerContext
    private var framer: LineFramer
    private var role: ClientRole?
    private var slots: [Slot] = []
    private var subscription: Subscriber?
    private var subscribeSlot: Slot?
    private var context: ChannelHandlerContext?
    private var readingPaused = false
    /// `pump` is not re-entered: work that completes synchronously while it
    /// runs (a budget answered from memory) asks for one more round instead.
    private var pumping = false
    private var pumpAgain = false
    private var draining = false
    private var closed = false

    init(server: ServerContext) {
        self.server = server
        framer = LineFramer(maxLine: server.configuration.limits.maxLine)
    }

    private var limits: Limits { server.configuration.limits }
    private var ledger: LedgerConfiguration { server.configuration.ledger }

    // MARK: Channel events

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        guard server.admit(self) else {
            server.logger.warning("connection refused: limit reached", metadata: ["limit": "\(limits.maxConnections)"])
            let line = Response.error(.unavailable, "too many connections (limit \(limits.maxConnections)); try again later")
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(buffer(for: [line], allocator: channel.allocator)))
                .whenComplete { _ in channel.close(promise: nil) }
            closed = true
            return
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        endSubscriptionSilently()
        server.release(self)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closed, !draining else { return }
        let bytes = unwrapInboundIn(data)
        let frames = bytes.withUnsafeReadableBytes { framer.feed($0) }
        for frame in frames { accept(frame) }
        pump()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            guard slots.isEmpty, subscription == nil else { return }
            server.logger.info("closing idle connection", metadata: ["idle_timeout_s": "\(limits.idleTimeout)"])
            slots.append(closing(.error(.timeout, "idle for \(limits.idleTimeout) s; closing")))
            pump()
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        server.logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    /// Shutdown: read nothing more, answer what is in flight, then close.
    func drain() {
        guard let context else { return }
        context.eventLoop.execute { [self] in
            draining = true
            if let slot = subscribeSlot {
                endSubscription(slot, with: .error(.unavailable, "the server is shutting down; resume with SUBSCRIBE \((subscription?.lastSent ?? 0) + 1)"))
            }
            pump()
        }
    }

    // MARK: Requests

    private func closing(_ response: Response) -> Slot {
        let slot = Slot(request: nil, responses: [response])
        slot.closeAfter = true
        return slot
    }

    private func accept(_ frame: LineFramer.Frame) {
        switch frame {
        case .tooLong:
            let response = Response.error(.tooLarge, "request line longer than \(limits.maxLine) bytes; it was discarded")
            if subscription != nil { writeNow([response]) } else { slots.append(Slot(request: nil, responses: [response])) }
        case .line(let line):
            switch Request.parse(line) {
            case .failure(let error):
                if subscription != nil { writeNow([.error(error)]) } else { slots.append(Slot(request: nil, responses: [.error(error)])) }
            case .success(let request):
                if subscription != nil { whileSubscribed(request) } else { slots.append(Slot(request: request)) }
            }
        }
    }

    /// Writes the answers that are ready, in order, starts the work of the
    /// request at the head (and of leading APPENDs, which the writer keeps in
    /// order), and pauses reading while `maxPending` requests wait.
    private func pump() {
        guard !pumping else {
            pumpAgain = true
            return
        }
        pumping = true
        defer { pumping = false }
        repeat {
            pumpAgain = false
            pumpOnce()
        } while pumpAgain && !closed
    }

    private func pumpOnce() {
        guard let context, !closed else { return }
        var out = context.channel.allocator.buffer(capacity: 256)
        var close = false
        while let head = slots.first {
            if let responses = head.responses {
                for response in responses { out.writeBytes(response.encoded()) }
                slots.removeFirst()
                if head.closeAfter {
                    close = true
                    break
                }
                continue
            }
            if !head.started {
                start(head)
                if head.responses != nil { continue }
            }
            break
        }
        if !close {
            for slot in slots {
                guard case .append = slot.request else { break }
                if !slot.started { start(slot) }
            }
        }
        if out.readableBytes > 0 {
            let written = context.writeAndFlush(wrapOutboundOut(out))
            let channel = context.channel
            if close { written.whenComplete { _ in channel.close(promise: nil) } }
        } else if close {
            context.close(promise: nil)
        }
        if close {
            closed = true
            endSubscriptionSilently()
            return
        }
        if draining && slots.isEmpty && subscription == nil {
            closed = true
            context.close(promise: nil)
            return
        }
        let full = slots.count >= limits.maxPending
        if full != readingPaused && !draining {
            readingPaused = full
            let channel = context.channel
            channel.setOption(ChannelOptions.autoRead, value: !full).whenSuccess {
                if !full { channel.read() }
            }
        }
    }

    private func finish(_ slot: Slot, _ responses: [Response]) {
        slot.responses = responses
        pump()
    }

    private static let permissions: [String: Set<ClientRole>] = [
        "APPEND": [.frontline, .admin],
        "CASE": [.frontline, .auditor, .finance, .admin],
        "BUDGET": [.frontline, .finance, .admin],
        "BUDGETS": [.finance, .admin],
        "OUTCOMES": [.auditor, .finance, .admin],
        "REPLAY": [.auditor, .admin],
        "SUBSCRIBE": [.auditor, .admin],
        "VERIFY": [.auditor, .admin],
    ]

    private func start(_ slot: Slot) {
        slot.started = true
        guard let request = slot.request, let context else { return }
        switch request {
        case .hello(let token):
            guard let granted = server.configuration.tokens.role(for: token) else {
                slot.responses = [.error(.authRequired, "unknown token")]
                return
            }
            role = granted
            slot.responses = [.ok(Answers.hello(role: granted, position: server.writer.view.head.position, limits: limits, ledger: ledger))]
            return
        case .ping:
            slot.responses = [.ok(["pong": .bool(true)])]
            return
        case .quit:
            slot.responses = [.ok(["bye": .bool(true)])]
            slot.closeAfter = true
            return
        case .unsubscribe:
            slot.responses = [.error(.badRequest, "not subscribed")]
            return
        default:
            break
        }
        guard let role else {
            slot.responses = [.error(.authRequired, "say HELLO <token> first; before it only HELLO, PING and QUIT are served")]
            return
        }
        if let allowed = Self.permissions[request.verb], !allowed.contains(role) {
            slot.responses = [.error(.forbidden, "the \(role.rawValue) role may not \(request.verb)")]
            return
        }
        let eventLoop = context.eventLoop
        switch request {
        case .append(let json):
            switch EventCodec.decode(json: json, currency: ledger.currency) {
            case .failure(let rejection):
                slot.responses = [.error(ProtocolError(rejection))]
            case .success(let event):
                server.writer.submit(event, role: role) { answer in
                    eventLoop.execute {
                        switch answer {
                        case .recorded(let position, let hash, let duplicate):
                            self.finish(slot, [.ok(Answers.appended(position: position, hash: hash, duplicate: duplicate))])
                        case .refused(let error):
                            self.finish(slot, [.error(error)])
                        }
                    }
                }
            }
        case .caseQuery(let caseID):
            let currency = ledger.currency
            answer(slot, server.reads.run(on: eventLoop) { connection in
                guard let state = try Projections(connection: connection).cases([caseID])[caseID] else {
                    throw ProtocolError(.notFound, "no case \(caseID)")
                }
                let events = try EventReader(connection: connection).events(ofCase: caseID)
                return [Response.ok(try Answers.caseState(state, events: events, currency: currency))]
            })
        case .budget(let agentID, let day):
            let day = day ?? ledger.businessDay(of: Timestamp(Date()))
            let currency = ledger.currency
            answer(slot, server.budget(agentID: agentID, day: day, on: eventLoop).map {
                [Response.ok(Answers.budget(agentID: agentID, day: day, row: $0, currency: currency))]
            })
        case .budgets(let day):
            let currency = ledger.currency
            answer(slot, server.budgets(on: day, on: eventLoop).map {
                [Response.ok(Answers.budgets(day: day, rows: $0, currency: currency))]
            })
        case .outcomes(let by, let from, let to):
            let currency = ledger.currency
            answer(slot, server.reads.run(on: eventLoop) { connection in
                let cases = try Projections(connection: connection).cases(openedFrom: from, to: to)
                let report = OutcomeReport(cases: cases, by: by, from: from, to: to)
                return [Response.ok(Answers.outcomes(report, from: from, to: to, currency: currency))]
            })
        case .verify(let from, let to):
            let logger = server.logger
            answer(slot, server.reads.run(on: eventLoop) { connection in
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
            })
        case .replay(let from, let to):
            replay(slot, from: from, to: to, channel: context.channel)
        case .subscribe(let from):
            subscribe(slot, from: from, channel: context.channel)
        case .hello, .ping, .quit, .unsubscribe:
            preconditionFailure("answered above")
        }
    }

    private func answer(_ slot: Slot, _ future: EventLoopFuture<[Response]>) {
        future.whenComplete { result in
            switch result {
            case .success(let responses): self.finish(slot, responses)
            case .failure(let error): self.finish(slot, [Self.response(for: error)])
            }
        }
    }

    static func response(for error: Error) -> Response {
        switch error {
        case let error as ProtocolError: return .error(error)
        case let error as StoreError where error.code == .connection:
            return .error(.unavailable, "the database is unavailable: \(error.message)")
        default: return .error(.internalError, "\(error)")
        }
    }

    // MARK: Streams

    private static let pageSize = 1_000

    private func replay(_ slot: Slot, from: Int64, to: Int64?, channel: NIOCore.Channel) {
        answer(slot, server.reads.run(on: channel.eventLoop) { connection in
            let reader = EventReader(connection: connection)
            let head = try reader.head()
            guard let previous = try reader.hash(at: from - 1) else {
                throw ProtocolError(.notFound, "position \(from - 1) is past the last position \(head.position)")
            }
            let end = min(to ?? head.position, head.position)
            var next = from
            var count: Int64 = 0
            var lastHash = previous
            // One page is written while the next is read: at most two pages in memory.
            var writing: EventLoopFuture<Void>?
            while next <= end {
                let page = try reader.page(from: next, through: end, limit: Self.pageSize)
                guard let last = page.last else { break }
                var buffer = channel.allocator.buffer(capacity: page.reduce(0) { $0 + $1.payload.count + 7 })
                for event in page { buffer.writeEventLine(event.payload) }
                try writing?.wait()
                writing = channel.writeAndFlush(buffer)
                count += Int64(page.count)
                lastHash = last.hash
                next = last.position + 1
            }
            try writing?.wait()
            return [
                Response.ok([
                    "count": .integer(count), "last": .integer(next - 1), "prev_hash": .string(Hex.encode(previous)),
                    "hash": .string(Hex.encode(lastHash)),
                ])
            ]
        })
    }

    private func subscribe(_ slot: Slot, from: Int64, channel: NIOCore.Channel) {
        let subscriber = Subscriber(channel: channel, from: from, limit: limits.subscriberBuffer) { [weak self] last in
            guard let self, let slot = self.subscribeSlot else { return }
            self.server.logger.warning("slow subscriber closed", metadata: ["last": "\(last)"])
            slot.closeAfter = true
            self.endSubscription(
                slot,
                with: .error(.slowConsumer, "\(last) more than \(self.limits.subscriberBuffer) events waited; resume with SUBSCRIBE \(last + 1)"))
        }
        server.hub.add(subscriber)
        subscription = subscriber
        subscribeSlot = slot
        // Requests pipelined behind SUBSCRIBE are read under subscription rules.
        let behind = slots.dropFirst().compactMap { $0 }
        slots = [slot]
        for waiting in behind {
            if let request = waiting.request { whileSubscribed(request) } else if let responses = waiting.responses { writeNow(responses) }
        }
        let eventLoop = channel.eventLoop
        server.reads.run(on: eventLoop) { connection in
            let reader = EventReader(connection: connection)
            var next = from
            while !subscriber.isStopped {
                let page = try reader.page(from: next, limit: Self.pageSize)
                if let last = page.last {
                    var buffer = channel.allocator.buffer(capacity: page.reduce(0) { $0 + $1.payload.count + 7 })
                    for event in page { buffer.writeEventLine(event.payload) }
                    // Written from the event loop, and only while still subscribed,
                    // so nothing can follow the final answer.
                    let lines = buffer
                    try eventLoop.flatSubmit {
                        subscriber.isStopped ? eventLoop.makeSucceededVoidFuture() : channel.writeAndFlush(lines)
                    }.wait()
                    subscriber.caughtUp(through: last.position, count: Int64(page.count))
                    next = last.position + 1
                }
                guard let resume = subscriber.tryGoLive(reachedHead: page.count < Self.pageSize) else { return }
                next = resume
            }
        }.whenFailure { error in
            guard self.subscribeSlot === slot else { return }
            self.endSubscription(slot, with: Self.response(for: error))
        }
    }

    private func whileSubscribed(_ request: Request) {
        switch request {
        case .ping:
            writeNow([.ok(["pong": .bool(true)])])
        case .quit:
            endSubscriptionSilently()
            slots = [closing(.ok(["bye": .bool(true)]))]
            pump()
        case .unsubscribe:
            if let slot = subscribeSlot, let subscriber = subscription {
                endSubscription(
                    slot,
                    with: .ok(["unsubscribed": .bool(true), "count": .integer(subscriber.sent), "last": .integer(subscriber.lastSent)]))
            }
        default:
            writeNow([.error(.badRequest, "while subscribed only UNSUBSCRIBE, PING and QUIT are accepted")])
        }
    }

    private func endSubscription(_ slot: Slot, with response: Response) {
        endSubscriptionSilently()
        finish(slot, [response])
    }

    private func endSubscriptionSilently() {
        if let subscriber = subscription {
            subscriber.stop()
            server.hub.remove(subscriber)
        }
        subscription = nil
        subscribeSlot = nil
    }

    private func writeNow(_ responses: [Response]) {
        guard let context, !closed else { return }
        context.writeAndFlush(wrapOutboundOut(buffer(for: responses, allocator: context.channel.allocator)), promise: nil)
    }

    private func buffer(for responses: [Response], allocator: ByteBufferAllocator) -> ByteBuffer {
        var out = allocator.buffer(capacity: 64)
        for response in responses { out.writeBytes(response.encoded()) }
        return out
    }
}

extension ByteBuffer {
    /// `EVENT <payload>` and LF, the payload byte for byte.
    mutating func writeEventLine(_ payload: [UInt8]) {
        writeStaticString("EVENT ")
        writeBytes(payload)
        writeInteger(UInt8(0x0A))
    }
}
