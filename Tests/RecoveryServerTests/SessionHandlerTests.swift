import Foundation
import LineProtocol
import RecoveryWire
import Logging
import NIOCore
import NIOEmbedded
import RecoveryDomain
@testable import RecoveryServer
import Testing

/// A backend whose answers the test controls: HELLO accepts the token "good",
/// appends wait until the test answers them, queries answer at once.
final class ScriptedBackend: SessionBackend, @unchecked Sendable {
    let limits: Limits
    let logger = Logger(label: "session-handler-tests")
    let refusalLog = RefusalLog()
    let registry: ConnectionRegistry
    var appendAnswers: [@Sendable (AppendAnswer) -> Void] = []
    var writerFull = false
    /// Appends refused for lack of room before the writer takes one again.
    var refusals = 0
    var roomCallbacks: [@Sendable () -> Void] = []
    var log: [StoredEvent] = []
    var pagesRead = 0
    /// When set, pages are answered only when the test completes these promises.
    var holdPages = false
    var heldPages: [(promise: EventLoopPromise<[StoredEvent]>, page: [StoredEvent])] = []
    var subscriber: (@Sendable ([StoredEvent]) -> Void)?

    init(limits: Limits = Limits()) {
        self.limits = limits
        registry = ConnectionRegistry(limits: limits, tokens: TokenFile(entries: [.init(role: .admin, digest: TokenFile.digest(of: "good"))]))
    }

    func admit(_ connection: ObjectIdentifier, peer: String, end: @escaping @Sendable (ConnectionEnding) -> Void) -> ProtocolError? {
        registry.admit(connection, peer: peer, end: end)
    }
    func authenticated(_ connection: ObjectIdentifier) { registry.authenticated(connection) }
    func release(_ connection: ObjectIdentifier) { registry.release(connection) }

    func hello(_ connection: ObjectIdentifier, token: String) -> (token: TokenFile.Entry, answer: Response)? {
        guard let entry = registry.hello(connection, token: token) else { return nil }
        return (entry, .ok(["role": .string(entry.role.rawValue)]))
    }

    func submitAppend(
        json: [UInt8], role: ClientRole, agent: String?, on loop: (any EventLoop)?, answer: @escaping @Sendable (AppendAnswer) -> Void
    ) -> Bool {
        if writerFull { return false }
        if refusals > 0 {
            refusals -= 1
            return false
        }
        appendAnswers.append { result in
            if let loop { loop.execute { answer(result) } } else { answer(result) }
        }
        return true
    }

    func whenWriterHasRoom(_ room: @escaping @Sendable () -> Void) {
        roomCallbacks.append(room)
    }

    func query(_ request: Request, role: ClientRole, on eventLoop: EventLoop) -> EventLoopFuture<[Response]> {
        eventLoop.makeSucceededFuture([.ok(["verb": .string(request.verb)])])
    }

    func openReplay(from: Int64, to: Int64?, on eventLoop: EventLoop) -> EventLoopFuture<SessionStateMachine.ReplayWindow> {
        eventLoop.makeSucceededFuture(.init(previousHash: [UInt8](repeating: 0, count: 32), last: min(to ?? Int64(log.count), Int64(log.count))))
    }

    func readPage(from: Int64, through: Int64?, limit: Int, on eventLoop: EventLoop) -> EventLoopFuture<[StoredEvent]> {
        pagesRead += 1
        let end = min(Int(through ?? Int64(log.count)), log.count, Int(from) + limit - 1)
        let page = from <= end ? Array(log[Int(from - 1)..<end]) : []
        guard holdPages else { return eventLoop.makeSucceededFuture(page) }
        let promise = eventLoop.makePromise(of: [StoredEvent].self)
        heldPages.append((promise, page))
        return promise.futureResult
    }

    func join(_ subscriber: ObjectIdentifier, deliver: @escaping @Sendable ([StoredEvent]) -> Void) { self.subscriber = deliver }
    func leave(_ subscriber: ObjectIdentifier) { self.subscriber = nil }
}

/// Counts the `read` calls that pass on toward the socket.
final class ReadCounter: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = ByteBuffer
    var reads = 0
    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }
}

/// One connection in an `EmbeddedChannel`: the real decoder and handler.
struct EmbeddedSession {
    let channel = EmbeddedChannel()
    let backend: ScriptedBackend
    let reads = ReadCounter()

    init(limits: Limits = Limits()) throws {
        backend = ScriptedBackend(limits: limits)
        try channel.pipeline.syncOperations.addHandler(reads)
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder(maxLine: limits.maxLine)))
        try channel.pipeline.syncOperations.addHandler(SessionHandler(backend: backend))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 7411)).wait()
    }

    func send(_ text: String) throws { try channel.writeInbound(ByteBuffer(string: text)) }

    /// Every line written so far.
    func lines() throws -> [String] {
        channel.embeddedEventLoop.run()  // answers are flushed by a task queued behind them
        var text = ""
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) { text += buffer.readString(length: buffer.readableBytes) ?? "" }
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }
}

@Suite("Framing stage", .tags(.fast))
struct LineFrameDecoderTests {
    func frames(_ chunks: [String], maxLine: Int) throws -> [LineFrame] {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(LineFrameDecoder(maxLine: maxLine)))
        for chunk in chunks { try channel.writeInbound(ByteBuffer(string: chunk)) }
        var out: [LineFrame] = []
        while let frame = try channel.readInbound(as: LineFrame.self) { out.append(frame) }
        return out
    }

    @Test func linesSplitOnLFAndCRLFEvenOneByteAtATime() throws {
        let bytes = "PING\r\nHELLO abc\nQUIT\n".map(String.init)
        #expect(try frames(bytes, maxLine: 64) == [.line(Array("PING".utf8)), .line(Array("HELLO abc".utf8)), .line(Array("QUIT".utf8))])
    }

    @Test func aLineAtTheLimitPassesAndOneByteMoreIsTooLarge() throws {
        #expect(try frames(["12345678\n"], maxLine: 8) == [.line(Array("12345678".utf8))])
        #expect(try frames(["12345678\r\n"], maxLine: 8) == [.line(Array("12345678".utf8))])
        #expect(try frames(["123456789\n"], maxLine: 8) == [.tooLong])
        #expect(try frames(["123456789\r\nPING\n"], maxLine: 8) == [.tooLong, .line(Array("PING".utf8))])
    }

    @Test func anOverlongLineIsNeverHeldWhole() throws {
        var decoder = LineFrameDecoder(maxLine: 1_000)
        var buffer = ByteBuffer()
        var frames: [LineFrame] = []
        for _ in 0..<1_000 {  // 4 MB without a newline
            buffer.writeRepeatingByte(UInt8(ascii: "x"), count: 4_096)
            while let frame = decoder.nextFrame(&buffer) { frames.append(frame) }
            #expect(buffer.readableBytes <= 1_001)
        }
        buffer.writeString("\nPING\n")
        while let frame = decoder.nextFrame(&buffer) { frames.append(frame) }
        #expect(frames == [.tooLong, .line(Array("PING".utf8))])
    }
}

@Suite("Session handler in an EmbeddedChannel", .tags(.fast))
struct SessionHandlerTests {
    @Test func pipelinedRequestsAreAnsweredInOrderByteByByte() throws {
        let session = try EmbeddedSession()
        for byte in "PING\nHELLO good\nCASE K-1\nQUIT\n" { try session.send(String(byte)) }
        #expect(try session.lines() == [#"OK {"pong":true}"#, #"OK {"role":"admin"}"#, #"OK {"verb":"CASE"}"#, #"OK {"bye":true}"#])
        #expect(!session.channel.isActive)
    }

    @Test func appendsAnsweredOutOfOrderAreWrittenInOrder() throws {
        let session = try EmbeddedSession()
        try session.send("HELLO good\nAPPEND {\"a\":1}\nAPPEND {\"a\":2}\nPING\n")
        #expect(try session.lines() == [#"OK {"role":"admin"}"#])
        #expect(session.backend.appendAnswers.count == 2)
        session.backend.appendAnswers[1](.recorded(position: 2, hash: [0xAB], duplicate: false))
        session.channel.embeddedEventLoop.run()
        #expect(try session.lines().isEmpty)
        session.backend.appendAnswers[0](.recorded(position: 1, hash: [0xCD], duplicate: false))
        session.channel.embeddedEventLoop.run()
        #expect(
            try session.lines() == [
                #"OK {"duplicate":false,"hash":"cd","position":1}"#, #"OK {"duplicate":false,"hash":"ab","position":2}"#, #"OK {"pong":true}"#,
            ])
    }

    @Test func readingPausesWhileNotWritableAndResumesOnWritabilityChanged() throws {
        let session = try EmbeddedSession()
        try session.send("HELLO good\n")
        _ = try session.lines()
        session.channel.isWritable = false
        session.channel.pipeline.fireChannelWritabilityChanged()
        let before = session.reads.reads
        session.channel.read()
        #expect(session.reads.reads == before, "the read is held")
        try session.send("PING\n")
        #expect(try session.lines().isEmpty, "nothing new starts while the client does not read")
        session.channel.isWritable = true
        session.channel.pipeline.fireChannelWritabilityChanged()
        #expect(session.reads.reads == before + 1, "the held read goes on")
        #expect(try session.lines() == [#"OK {"pong":true}"#])
    }

    @Test func aConnectionWithoutHelloIsClosedAtTheHelloTimeout() throws {
        var limits = Limits()
        limits.helloTimeout = 10
        let session = try EmbeddedSession(limits: limits)
        try session.send("PING\n")
        session.channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(session.channel.isActive)
        session.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(try session.lines() == [#"OK {"pong":true}"#, "ERR timeout no HELLO within 10 s; closing"])
        #expect(!session.channel.isActive)
        #expect(session.backend.registry.count == 0)
    }

    @Test func aReplayTheClientStopsReadingEndsAfterTheWriteTimeout() throws {
        var limits = Limits()
        limits.writeTimeout = 30
        let session = try EmbeddedSession(limits: limits)
        session.backend.log = (1...2_500).map { StoredEvent(position: $0, payload: Array("{}".utf8), hash: []) }
        try session.send("HELLO good\n")
        _ = try session.lines()
        session.channel.isWritable = false
        session.channel.pipeline.fireChannelWritabilityChanged()
        try session.send("REPLAY 1\n")
        #expect(session.backend.pagesRead == 0, "no page is read for a client that does not read")
        session.channel.isWritable = true
        session.channel.pipeline.fireChannelWritabilityChanged()
        #expect(session.backend.pagesRead == 3)
        #expect(try session.lines().count == 2_501)
        // Again, and this time the client stops reading after the first page.
        session.backend.holdPages = true
        try session.send("REPLAY 1\n")
        let first = try #require(session.backend.heldPages.first)
        session.channel.isWritable = false
        session.channel.pipeline.fireChannelWritabilityChanged()
        first.promise.succeed(first.page)
        #expect(session.backend.heldPages.count == 1, "no second page for a client that does not read")
        session.channel.embeddedEventLoop.advanceTime(by: .seconds(29))
        #expect(session.channel.isActive)
        session.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(try session.lines().last == "ERR slow_consumer 1000 nothing was read for 30 s; resume with REPLAY 1001")
        #expect(!session.channel.isActive)
    }

    @Test func aFullWriterQueuePausesReadingUntilThereIsRoom() throws {
        let session = try EmbeddedSession()
        try session.send("HELLO good\n")
        _ = try session.lines()
        session.backend.writerFull = true
        try session.send("APPEND {}\n")
        let before = session.reads.reads
        session.channel.read()
        #expect(session.reads.reads == before)
        session.backend.writerFull = false
        session.backend.roomCallbacks.forEach { $0() }
        session.channel.embeddedEventLoop.run()
        #expect(session.backend.appendAnswers.count == 1, "the append was offered again")
        #expect(session.reads.reads == before + 1)
    }

    @Test func afterTheWriterRefusesAnAppendNoLaterOneOvertakesIt() throws {
        let session = try EmbeddedSession()
        try session.send("HELLO good\n")
        _ = try session.lines()
        // The writer is full for the first append and (having drained) would
        // take the second: the second must wait, or the two swap positions.
        session.backend.refusals = 1
        try session.send("APPEND {\"n\":1}\nAPPEND {\"n\":2}\n")
        #expect(session.backend.appendAnswers.isEmpty)
        session.backend.roomCallbacks.forEach { $0() }
        session.channel.embeddedEventLoop.run()
        #expect(session.backend.appendAnswers.count == 2)
        session.backend.appendAnswers[0](.recorded(position: 1, hash: [1], duplicate: false))
        session.backend.appendAnswers[1](.recorded(position: 2, hash: [2], duplicate: false))
        session.channel.embeddedEventLoop.run()
        #expect(try session.lines().map { okObject($0)?["position"] as? Int } == [1, 2])
    }

    @Test func aSubscriberGetsCatchUpThenLiveEventsFromItsLoop() throws {
        let session = try EmbeddedSession()
        session.backend.log = (1...3).map { StoredEvent(position: $0, payload: Array("{\"p\":\($0)}".utf8), hash: []) }
        try session.send("HELLO good\nSUBSCRIBE 2\n")
        let deliver = try #require(session.backend.subscriber)
        deliver([StoredEvent(position: 4, payload: Array("{\"p\":4}".utf8), hash: [])])
        session.channel.embeddedEventLoop.run()
        try session.send("UNSUBSCRIBE\n")
        #expect(
            try session.lines() == [
                #"OK {"role":"admin"}"#, #"EVENT {"p":2}"#, #"EVENT {"p":3}"#, #"EVENT {"p":4}"#, #"OK {"count":3,"last":4,"unsubscribed":true}"#,
            ])
        #expect(session.backend.subscriber == nil)
    }

    @Test func theConnectionLimitsRefuseWithTheirReason() throws {
        // Identifiers of objects kept alive for the whole test: they never repeat.
        let objects = (0..<6).map { _ in NSObject() }
        let ids = objects.map(ObjectIdentifier.init)
        var limits = Limits()
        limits.maxConnectionsPerPeer = 1
        let registry = ConnectionRegistry(limits: limits)
        #expect(registry.admit(ids[0], peer: "10.0.0.1", end: { _ in }) == nil)
        #expect(registry.admit(ids[1], peer: "10.0.0.1", end: { _ in })?.message.hasPrefix("too many connections from 10.0.0.1") == true)
        #expect(registry.admit(ids[1], peer: "10.0.0.2", end: { _ in }) == nil)
        // One peer holds at most max_unauthenticated_per_peer places before HELLO.
        limits.maxConnectionsPerPeer = 10
        limits.maxUnauthenticatedPerPeer = 2
        let perPeer = ConnectionRegistry(limits: limits)
        #expect(perPeer.admit(ids[0], peer: "p", end: { _ in }) == nil && perPeer.admit(ids[1], peer: "p", end: { _ in }) == nil)
        #expect(perPeer.admit(ids[2], peer: "p", end: { _ in })?.message.hasPrefix("too many connections from p waiting for HELLO (limit 2)") == true)
        #expect(perPeer.admit(ids[2], peer: "q", end: { _ in }) == nil)
        perPeer.authenticated(ids[0])
        #expect(perPeer.admit(ids[3], peer: "p", end: { _ in }) == nil, "a HELLO frees the peer's place")
    }

    @Test func aFullPoolEvictsItsOldestWaitingConnectionAndNeverAnAuthenticatedOne() throws {
        let objects = (0..<5).map { _ in NSObject() }
        let ids = objects.map(ObjectIdentifier.init)
        var limits = Limits()
        limits.maxUnauthenticated = 2
        let registry = ConnectionRegistry(limits: limits)
        let ended = NSLockedBox<[Int]>([])
        func end(_ n: Int) -> @Sendable (ConnectionEnding) -> Void { { ending in if case .evicted = ending { ended.mutate { $0.append(n) } } } }
        #expect(registry.admit(ids[0], peer: "a", end: end(0)) == nil)
        #expect(registry.admit(ids[1], peer: "b", end: end(1)) == nil)
        registry.authenticated(ids[0])
        #expect(registry.admit(ids[2], peer: "c", end: end(2)) == nil)
        #expect(ended.value.isEmpty && registry.unauthenticated == 2)
        // Full: the oldest waiting (1) makes room for the newcomer; 0 said HELLO and stays.
        #expect(registry.admit(ids[3], peer: "d", end: end(3)) == nil)
        #expect(ended.value == [1] && registry.unauthenticated == 2)
        #expect(registry.admit(ids[4], peer: "e", end: end(4)) == nil)
        #expect(ended.value == [1, 2])
        // An evicted connection that says HELLO before it closes changes no count.
        registry.authenticated(ids[1])
        for id in ids { registry.release(id) }
        #expect(registry.count == 0 && registry.unauthenticated == 0)
    }
}
