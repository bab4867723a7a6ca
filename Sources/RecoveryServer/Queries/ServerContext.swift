import Foundation
import LedgerStore
import LineProtocol
import RecoveryWire
import Logging
import NIOCore
import RecoveryDomain

/// What every connection shares: configuration, the writer, the read pool,
/// the subscription hub and the connection registry. It is the connections'
/// ``SessionBackend``; the query bodies are in `ServerContext+Queries.swift`.
final class ServerContext: RequestBackend {
    let configuration: ServerConfiguration
    let writer: LedgerWriter
    let reads: ReadPool
    let hub: SubscriptionHub
    let connections: ConnectionRegistry
    let logger: Logger
    let metrics: ServerMetrics
    let refusalLog = RefusalLog()
    /// Signs heads, keeps them, and writes the witness.
    let notary: HeadNotary
    /// When this daemon started serving (`STATUS`'s uptime).
    let started = Date()
    /// Set on a standby (until and after it takes over).
    let standby: Standby?
    /// Set on a standby or follower: follows the log for subscribers.
    let tailer: LogTailer?

    init(
        configuration: ServerConfiguration, writer: LedgerWriter, reads: ReadPool, hub: SubscriptionHub, standby: Standby? = nil,
        tailer: LogTailer? = nil, logger: Logger
    ) {
        self.configuration = configuration
        metrics = writer.metrics
        self.standby = standby
        self.tailer = tailer
        self.writer = writer
        self.reads = reads
        self.hub = hub
        self.logger = logger
        connections = ConnectionRegistry(limits: configuration.limits, tokens: configuration.tokens)
        notary = HeadNotary(signer: configuration.signer, witness: configuration.headWitness)
    }

    var limits: Limits { configuration.limits }

    /// `writer` once this daemon's writer holds the lock, else its configured mode.
    var mode: String { writer.view.isServing ? "writer" : configuration.mode.rawValue }
    /// The ledger's settings: the writer's (or, on a standby or follower,
    /// as last read from the tables). Never a flag's.
    var settings: SettingsHistory { writer.view.settings }

    /// Today, in the ledger's time zone.
    var today: BusinessDay { settings.businessDay(of: Timestamp(Date())) }

    // MARK: Admission and tokens

    func admit(_ connection: ObjectIdentifier, peer: String, end: @escaping @Sendable (ConnectionEnding) -> Void) -> ProtocolError? {
        connections.admit(connection, peer: peer, end: end)
    }

    func authenticated(_ connection: ObjectIdentifier) { connections.authenticated(connection) }

    func isAuthenticated(_ connection: ObjectIdentifier) -> Bool { connections.isAuthenticated(connection) }

    func release(_ connection: ObjectIdentifier) { connections.release(connection) }

    func hello(_ connection: ObjectIdentifier, token: String) -> (token: TokenFile.Entry, answer: Response)? {
        guard let entry = authenticate(connection, token: token) else { return nil }
        return (entry, .ok(helloAnswer(entry)))
    }

    func authenticate(_ connection: ObjectIdentifier, token: String) -> TokenFile.Entry? {
        connections.hello(connection, token: token)
    }

    func helloAnswer(_ entry: TokenFile.Entry) -> Reply.Hello {
        var hello = Answers.hello(
            role: entry.role, agent: entry.agent, position: writer.view.position, signingKey: configuration.signer.publicKeyHex,
            limits: limits, settings: settings.latest, mode: mode)
        if !writer.view.isServing { hello.writer = standby?.writerAddress }
        if configuration.mode == .follower {
            let lag = tailer?.lag
            hello.lag = Reply.Hello.Lag(positions: lag?.positions, seconds: lag?.seconds.map { String(format: "%.3f", $0) })
        }
        return hello
    }

    // MARK: Appends

    func submitAppend(
        json: [UInt8], role: ClientRole, agent: String?, on loop: (any EventLoop)?, answer reply: @escaping @Sendable (AppendAnswer) -> Void
    ) -> Bool {
        // An answer given here, before the writer, still reaches the loop as a task of its own.
        let answerNow: @Sendable (AppendAnswer) -> Void = { result in
            if let loop { loop.execute { reply(result) } } else { reply(result) }
        }
        if let broken = writer.view.brokenHistory {
            answerNow(.refused(broken))
            return true
        }
        guard writer.view.isServing else {
            let message = configuration.mode == .follower
                ? "this daemon is a follower on a read-only replica: append to the writer"
                : standby?.writerAddress.map { "\($0) this daemon is a standby: append to the writer there" }
                    ?? "this daemon is a standby; the writer's address is not known yet"
            answerNow(.refused(ProtocolError(.readOnly, message)))
            return true
        }
        let metrics = self.metrics
        let started = DispatchTime.now().uptimeNanoseconds
        let answer: @Sendable (AppendAnswer) -> Void = { result in
            metrics.answered(result, since: started)
            reply(result)
        }
        switch AppendAdmission.admit(json: json, role: role, agent: agent, currency: settings.currency) {
        case .failure(let refusal):
            metrics.answered(.refused(refusal), since: started)
            answerNow(.refused(refusal))
            return true
        case .success(let (event, authority)):
            return writer.submit(event, authority: authority, on: loop, complete: answer)
        }
    }

    func whenWriterHasRoom(_ room: @escaping @Sendable () -> Void) { writer.whenRoom(room) }

    // MARK: Streams

    func openReplay(from: Int64, to: Int64?, on eventLoop: EventLoop) -> EventLoopFuture<SessionStateMachine.ReplayWindow> {
        read(on: eventLoop) { connection in
            let reader = EventReader(connection: connection)
            let head = try reader.head()
            guard let previous = try reader.hash(at: from - 1) else {
                throw ProtocolError(.notFound, "position \(from - 1) is past the last position \(head.position)")
            }
            return SessionStateMachine.ReplayWindow(previousHash: previous, last: min(to ?? head.position, head.position))
        }
    }

    func readPage(from: Int64, through: Int64?, limit: Int, on eventLoop: EventLoop) -> EventLoopFuture<[StoredEvent]> {
        // A bounded page is a REPLAY's; an open-ended one a subscription's catch-up.
        let counter = through == nil ? metrics.catchUpEvents : metrics.replayEvents
        return read(on: eventLoop) { connection in
            let page = try EventReader(connection: connection).page(from: from, through: through, limit: limit)
            counter.increment(by: page.count)
            return page
        }
    }

    func readReplayPage(_ replay: ReplayReads, from: Int64, through: Int64, limit: Int, on eventLoop: EventLoop)
        -> EventLoopFuture<[StoredEvent]>
    {
        let (counter, reads) = (metrics.replayEvents, self.reads)
        return reads.runOnThread(on: eventLoop) {
            let page = try replay.read(from: from, through: through, limit: limit, pool: reads)
            counter.increment(by: page.count)
            return page
        }.flatMapErrorThrowing { throw Self.protocolError(for: $0) }
    }

    func slowConsumerClosed() { metrics.slowConsumers.increment() }

    func join(_ subscriber: ObjectIdentifier, deliver: @escaping @Sendable ([StoredEvent]) -> Void) {
        hub.join(subscriber, deliver: deliver)
    }

    func leave(_ subscriber: ObjectIdentifier) { hub.leave(subscriber) }

    // MARK: Reads

    /// Runs `body` on the read pool; its errors become protocol errors.
    func read<T: Sendable>(on eventLoop: EventLoop, _ body: @escaping @Sendable (PGConnection) throws -> T) -> EventLoopFuture<T> {
        reads.run(on: eventLoop, body).flatMapErrorThrowing { throw Self.protocolError(for: $0) }
    }

    static func protocolError(for error: Error) -> ProtocolError {
        switch error {
        case let error as ProtocolError: error
        case let error as PastState.PastTheHead: ProtocolError(.notFound, error.description)
        case let error as PastState.TooFar: ProtocolError(.tooLarge, error.description)
        case let error as StoreError where error.code == .connection:
            ProtocolError(.unavailable, "the database is unavailable: \(error.message)")
        default: ProtocolError(.internalError, "\(error)")
        }
    }
}
