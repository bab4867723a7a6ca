import LedgerStore
import RecoveryDomain
import Synchronization

/// One `REPLAY`'s reads of the log, across its pages: the first page opens one
/// streamed query over the whole window (``LogStream``) on a connection of its
/// own, and every later page is pulled from it, so PostgreSQL runs one query
/// per `REPLAY` and produces the next rows while the connection's loop writes
/// the last ones. The connection goes back to the pool when the stream reaches
/// the window's end, and is dropped if the `REPLAY` ends before (its
/// connection closed, a read failed). With every stream connection in use
/// (``ReadPool/streamLimit``), pages are read with a query each.
///
/// Made by the connection's handler for each `REPLAY`; its pages are read one
/// at a time, on the read pool's threads.
package final class ReplayReads: Sendable {
    private enum State {
        case notStarted
        case streaming(LogStream, ReadPool)
        /// Paged: no stream connection was free.
        case paging
        /// The stream reached the window's end, failed, or the `REPLAY` ended.
        case ended
    }

    // LogStream is used by one thread at a time: this lock's holder.
    private nonisolated(unsafe) var state = State.notStarted
    private let lock = Mutex<Void>(())

    package init() {}

    deinit { end() }

    /// The events from `from` (at most `limit`, none past `through`).
    func read(from: Int64, through: Int64, limit: Int, pool: ReadPool) throws -> [StoredEvent] {
        try lock.withLock { _ throws -> [StoredEvent] in
            switch state {
            case .notStarted:
                guard let connection = try pool.startStream() else {
                    state = .paging
                    return try Self.page(from: from, through: through, limit: limit, pool: pool)
                }
                do {
                    state = .streaming(try LogStream(connection: connection, from: from, through: through), pool)
                } catch {
                    pool.endStream(connection, reusable: false)
                    state = .ended
                    throw error
                }
                return try pull(from: from, through: through, limit: limit)
            case .streaming:
                return try pull(from: from, through: through, limit: limit)
            case .paging:
                return try Self.page(from: from, through: through, limit: limit, pool: pool)
            case .ended:
                return []  // the log ends before the window's end
            }
        }
    }

    /// Lets go of the stream's connection, if it still holds one (mid-`COPY`: dropped).
    package func end() {
        lock.withLock { _ in
            if case .streaming(let stream, let pool) = state { pool.endStream(stream.connection, reusable: stream.isFinished) }
            state = .ended
        }
    }

    /// The next page of the open stream; its connection goes back once the stream has ended.
    private func pull(from: Int64, through: Int64, limit: Int) throws -> [StoredEvent] {
        guard case .streaming(let stream, let pool) = state else { preconditionFailure("pulled without a stream") }
        guard stream.next == from else {
            // Not where the stream is: the machine asked for another page than
            // the next. Read it, and the rest, a page at a time.
            pool.endStream(stream.connection, reusable: false)
            state = .paging
            return try Self.page(from: from, through: through, limit: limit, pool: pool)
        }
        do {
            let page = try stream.read(limit: limit)
            if stream.isFinished {
                pool.endStream(stream.connection, reusable: true)
                state = .ended
            }
            return page
        } catch {
            pool.endStream(stream.connection, reusable: false)
            state = .ended
            throw error
        }
    }

    private static func page(from: Int64, through: Int64, limit: Int, pool: ReadPool) throws -> [StoredEvent] {
        try pool.withConnection { try EventReader(connection: $0).page(from: from, through: through, limit: limit) }
    }
}
