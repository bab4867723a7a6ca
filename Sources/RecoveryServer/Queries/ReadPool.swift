import Foundation
import LedgerStore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Runs blocking libpq reads off the event loops: a thread pool and a few
/// PostgreSQL connections, each used by one thread at a time. A connection that
/// failed is dropped and a new one made on the next use. A service: the
/// last part of the daemon to stop.
final class ReadPool: Service, Sendable {
    private let conninfo: String
    private let timeouts: PGTimeouts
    private let threads: NIOThreadPool
    /// Connections not in use; each is used by one pool thread at a time.
    private let idle = Mutex<[PGConnection]>([])
    /// Connections a `REPLAY` may hold for its streamed query, beyond the
    /// threads' own: as many as there are threads. A `REPLAY` that finds none
    /// free reads its pages with a query each, as before streams.
    let streamLimit: Int
    private let streaming = Atomic<Int>(0)

    init(conninfo: String, size: Int, timeouts: PGTimeouts) {
        self.conninfo = conninfo
        self.timeouts = timeouts
        streamLimit = max(1, size)
        threads = NIOThreadPool(numberOfThreads: max(1, size))
        threads.start()
    }

    /// Runs `body` on a pool thread, with no connection of its own (it holds one, or takes one).
    func runOnThread<T: Sendable>(on eventLoop: EventLoop, _ body: @escaping @Sendable () throws -> T) -> EventLoopFuture<T> {
        threads.runIfActive(eventLoop: eventLoop, body)
    }

    /// Runs `body` with a connection, on the calling thread (a pool thread).
    func withConnection<T>(_ body: (PGConnection) throws -> T) throws -> T {
        let connection = try checkOut()
        do {
            let value = try body(connection)
            checkIn(connection)
            return value
        } catch {
            if connection.isConnected { checkIn(connection) }
            throw error
        }
    }

    /// A connection for one streamed read, or nil when ``streamLimit`` are
    /// out; give it back with ``endStream(_:reusable:)``.
    func startStream() throws -> PGConnection? {
        guard streaming.add(1, ordering: .relaxed).newValue <= streamLimit else {
            streaming.subtract(1, ordering: .relaxed)
            return nil
        }
        do {
            return try checkOut()
        } catch {
            streaming.subtract(1, ordering: .relaxed)
            throw error
        }
    }

    /// Takes back a stream's connection: into the pool when its query ran to
    /// the end, dropped when it was cut off mid-`COPY`.
    func endStream(_ connection: PGConnection, reusable: Bool) {
        if reusable && connection.isConnected { checkIn(connection) } else { connection.abandon() }
        streaming.subtract(1, ordering: .relaxed)
    }

    /// Runs `body` with a connection on a pool thread; the future completes on `eventLoop`.
    func run<T: Sendable>(on eventLoop: EventLoop, _ body: @escaping @Sendable (PGConnection) throws -> T) -> EventLoopFuture<T> {
        threads.runIfActive(eventLoop: eventLoop) { [self] in try withConnection(body) }
    }

    private func checkOut() throws -> PGConnection {
        if let reused = idle.withLock({ $0.popLast() }) { return reused }
        return try PGConnection(conninfo, timeouts: timeouts)
    }

    private func checkIn(_ connection: PGConnection) {
        idle.withLock { $0.append(connection) }
    }

    func run() async {
        try? await gracefulShutdown()
        try? await threads.shutdownGracefully()
        idle.withLock { $0.removeAll() }
    }
}
