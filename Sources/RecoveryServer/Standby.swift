import Foundation
import LedgerStore
import Logging
import RecoveryDomain

/// `recoveryd serve --standby` (DESIGN.md §8): a second daemon on the same
/// database. It serves reads from the tables while another daemon holds the
/// writer's lock, tails the log for its subscribers, and tries to become the
/// writer every `interval`; when the writer's session ends (its process
/// died, or stopped), the lock is free and this daemon's writer takes it,
/// loads the state and serves appends. Until then `APPEND` is
/// `ERR read_only <writer>`.
final class Standby: @unchecked Sendable {
    private let writer: LedgerWriter
    private let tailer: LogTailer
    private let logger: Logger
    private let interval: TimeInterval
    private let lock = NSLock()
    private var writerName: String?
    private var stopping = false
    private var thread: Thread?
    /// The standby thread's own connection for looking up the lock's holder.
    private var probe: PGConnection?
    private let conninfo: String

    init(writer: LedgerWriter, tailer: LogTailer, logger: Logger, interval: TimeInterval = 0.5) {
        self.writer = writer
        conninfo = writer.configuration.conninfo
        self.tailer = tailer
        self.logger = logger
        self.interval = interval
    }

    /// The writer daemon's address as it advertises it, if known.
    var writerAddress: String? {
        lock.lock()
        defer { lock.unlock() }
        return writerName
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "recoveryd-standby"
        self.thread = thread
        thread.start()
    }

    func stop() {
        lock.lock()
        stopping = true
        lock.unlock()
    }

    private var isStopping: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopping
    }

    private func run() {
        var lastError = ""
        let waiting = ContinuousClock.now
        while !isStopping {
            do {
                try writer.start()
                tailer.stop()
                logger.notice(
                    "took over as the writer", metadata: ["position": "\(writer.view.position)", "waited_s": "\(ContinuousClock.now - waiting)"])
                return
            } catch let error as StoreError where error.code == .writerLocked {
                noteHolder()
            } catch {
                if "\(error)" != lastError {
                    lastError = "\(error)"
                    logger.warning("standby: cannot take over yet", metadata: ["error": "\(error)"])
                }
            }
            Thread.sleep(forTimeInterval: interval)
        }
    }

    /// Who holds the lock: the `application_name` the writer set (`recoveryd@<address>`).
    private func noteHolder() {
        if !(probe?.isConnected ?? false) { probe = try? PGConnection(conninfo, timeouts: .maintenance) }
        guard let probe, let holder = try? EventLog.lockHolder(probe) else { return }
        let name = holder.application.hasPrefix("recoveryd@") ? String(holder.application.dropFirst("recoveryd@".count)) : nil
        lock.lock()
        writerName = name
        lock.unlock()
    }
}

/// Follows the log in the database for subscribers when this daemon does not
/// write it (a standby, a follower): every `interval` it reads the events
/// past the last it published and publishes them in order. A position it
/// could not read yet is read on the next round, never skipped.
final class LogTailer: @unchecked Sendable {
    private let conninfo: String
    private let timeouts: PGTimeouts
    private let hub: SubscriptionHub
    private let view: WriterView
    private let logger: Logger
    private let interval: TimeInterval
    private let lock = NSLock()
    private var stopping = false
    private var connected: PGConnection?

    init(conninfo: String, timeouts: PGTimeouts, hub: SubscriptionHub, view: WriterView, logger: Logger, interval: TimeInterval = 0.2) {
        self.conninfo = conninfo
        self.timeouts = timeouts
        self.hub = hub
        self.view = view
        self.logger = logger
        self.interval = interval
    }

    /// The tailer's connection, for the standby's look-ups (nil while it has none).
    var connection: PGConnection? {
        lock.lock()
        defer { lock.unlock() }
        return connected
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "recoveryd-tailer"
        thread.start()
    }

    func stop() {
        lock.lock()
        stopping = true
        lock.unlock()
    }

    private var isStopping: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopping
    }

    private func run() {
        var published: Int64?
        var lastError = ""
        while !isStopping {
            do {
                let connection: PGConnection
                if let existing = self.connection, existing.isConnected {
                    connection = existing
                } else {
                    connection = try PGConnection(conninfo, timeouts: timeouts)
                    lock.lock()
                    connected = connection
                    lock.unlock()
                }
                let reader = EventReader(connection: connection)
                let head = try reader.head()
                view.observe(head: head)
                var next = (published ?? head.position) + 1
                while next <= head.position, !isStopping {
                    let page = try reader.page(from: next, through: head.position, limit: EventReader.defaultPageSize)
                    guard let last = page.last else { break }
                    hub.publish(page)
                    next = last.position + 1
                }
                published = next - 1
                lastError = ""
            } catch {
                if "\(error)" != lastError {
                    lastError = "\(error)"
                    logger.warning("cannot follow the log", metadata: ["error": "\(error)"])
                }
            }
            Thread.sleep(forTimeInterval: interval)
        }
    }
}
