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

    init(conninfo: String, size: Int, timeouts: PGTimeouts) {
        self.conninfo = conninfo
        self.timeouts = timeouts
        threads = NIOThreadPool(numberOfThreads: max(1, size))
        threads.start()
    }

    /// Runs `body` with a connection on a pool thread; the future completes on `eventLoop`.
    func run<T: Sendable>(on eventLoop: EventLoop, _ body: @escaping @Sendable (PGConnection) throws -> T) -> EventLoopFuture<T> {
        threads.runIfActive(eventLoop: eventLoop) { [self] in
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
