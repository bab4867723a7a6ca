import Foundation
import NIOCore
import NIOEmbedded
import RecoveryDomain
import RecoveryServer
import RecoveryWire

/// The daemon's connection core in this process, over NIO's `EmbeddedChannel`
/// and a store in memory (``InMemoryLedger``): each connection is the
/// daemon's own pipeline — ``LineFrameDecoder`` and the session handler with
/// its state machine — so session, permission, back-pressure and
/// answer-mapping tests run with no process, no socket and no PostgreSQL.
///
///     let server = InProcessServer()
///     let front = server.connect()
///     front.request("HELLO front-token")     // "OK {…,"role":"frontline",…}"
///     front.request("APPEND {…}")            // "OK {"duplicate":false,…}"
public final class InProcessServer {
    /// Tokens by role (the daemon's test harness uses the same), and one
    /// bound token per person: `a1-token`, `a2-token`, `s1-token` (S-1).
    public static let tokens: [String: ClientRole] = [
        "front-token": .frontline, "audit-token": .auditor, "finance-token": .finance, "admin-token": .admin,
    ]
    public static let boundTokens: [String: (role: ClientRole, agent: String)] = [
        "a1-token": (.frontline, "A-1"), "a2-token": (.frontline, "A-2"), "s1-token": (.frontline, "S-1"),
    ]

    let ledger: InMemoryLedger
    public let limits: Limits

    /// A ledger whose opening settings are `seed` (by default: one
    /// supervisor, S-1), at `clock`'s time (now, unless a test fixes it).
    public init(
        limits: Limits = Limits(), seed: LedgerSeed = LedgerSeed(supervisors: ["S-1"]),
        clock: @escaping @Sendable () -> Timestamp = { Timestamp(Date()) }
    ) {
        var entries = Self.tokens.map { TokenFile.Entry(role: $0.value, digest: TokenFile.digest(of: $0.key), name: "\($0.value)") }
        entries += Self.boundTokens.map { TokenFile.Entry(role: $0.value.role, digest: TokenFile.digest(of: $0.key), agent: $0.value.agent) }
        self.limits = limits
        ledger = InMemoryLedger(tokens: TokenFile(entries: entries), limits: limits, seed: seed, clock: clock)
    }

    /// A new connection from `peer`.
    public func connect(peer: String = "127.0.0.1") throws -> InProcessConnection {
        try InProcessConnection(ledger: ledger, peer: peer)
    }
}

/// One connection to an ``InProcessServer``: lines in, lines out, on the
/// calling thread (the embedded loop runs whenever an answer is awaited).
public final class InProcessConnection {
    private let channel: EmbeddedChannel
    private var pending: [UInt8] = []

    init(ledger: InMemoryLedger, peer: String) throws {
        channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder(maxLine: ledger.limits.maxLine)))
        try channel.pipeline.syncOperations.addHandler(SessionHandler(backend: ledger))
        channel.connect(to: try SocketAddress(ipAddress: peer, port: 40_000), promise: nil)
        channel.embeddedEventLoop.run()
    }

    /// Whether the server closed the connection.
    public var isClosed: Bool { !channel.isActive }

    /// Sends bytes as they are (several lines, or half of one).
    public func send(_ text: String) throws {
        guard channel.isActive else { return }
        try channel.writeInbound(channel.allocator.buffer(string: text))
        channel.embeddedEventLoop.run()
    }

    /// Every line the server has written so far and not yet read.
    public func lines() throws -> [String] {
        channel.embeddedEventLoop.run()
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { pending += buffer.readableBytesView }
        var lines: [String] = []
        while let newline = pending.firstIndex(of: 0x0A) {
            lines.append(String(decoding: pending[..<newline], as: UTF8.self))
            pending.removeFirst(newline + 1)
        }
        return lines
    }

    /// Sends one request line and returns the answers it produced (an
    /// `EVENT` stream and its final line, or one line).
    public func exchange(_ line: String) throws -> [String] {
        try send(line + "\n")
        return try lines()
    }

    /// Sends one request line and returns its final answer.
    public func request(_ line: String) throws -> String {
        guard let last = try exchange(line).last else { throw ClientError("no answer to \(line.prefix(40))") }
        return last
    }
}
