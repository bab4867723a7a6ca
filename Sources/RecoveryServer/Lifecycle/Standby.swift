import Foundation
import LedgerStore
import Logging
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A warning logged once per distinct error, not once per round.
struct OnceEach {
    private var last = ""
    mutating func log(_ message: Logger.Message, _ error: Error, to logger: Logger) {
        guard "\(error)" != last else { return }
        last = "\(error)"
        logger.warning(message, metadata: ["error": "\(error)"])
    }
    mutating func reset() { last = "" }
}

/// `recoveryd serve --standby` (docs/OPERATIONS.md, "High availability"): a second daemon on the same
/// database. It serves reads from the tables while another daemon holds the
/// writer's lock, tails the log for its subscribers, and tries to become the
/// writer every `interval`; when the writer's session ends (its process
/// died, or stopped), the lock is free and this daemon's writer takes it,
/// loads the state and serves appends. Until then `APPEND` is
/// `ERR read_only <writer>`. Its attempts block on libpq, so they run on
/// NIO's thread pool, never on the caller's executor.
final class Standby: Service, Sendable {
    private let writer: LedgerWriter
    private let tailer: LogTailer
    private let logger: Logger
    private let interval: Duration
    /// The writer daemon's address as it advertises it, and the connection
    /// that looks it up (used by one attempt at a time).
    private let holder = Mutex<(name: String?, probe: PGConnection?)>((nil, nil))

    init(writer: LedgerWriter, tailer: LogTailer, logger: Logger, interval: Duration = .milliseconds(500)) {
        self.writer = writer
        self.tailer = tailer
        self.logger = logger
        self.interval = interval
    }

    /// The writer daemon's address as it advertises it, if known.
    var writerAddress: String? { holder.withLock { $0.name } }

    func run() async {
        logger.notice("standby: serving reads; waiting for the writer's lock to take over")
        var problems = OnceEach()
        let waiting = ContinuousClock.now
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await NIOThreadPool.singleton.runIfActive { [writer] in try writer.start() }
                tailer.stop()
                logger.notice(
                    "took over as the writer", metadata: ["position": "\(writer.view.position)", "waited_s": "\(ContinuousClock.now - waiting)"])
                break
            } catch let error as StoreError where error.code == .writerLocked {
                try? await NIOThreadPool.singleton.runIfActive { [self] in noteHolder() }
            } catch {
                problems.log("standby: cannot take over yet", error, to: logger)
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
            } catch {
                break
            }
        }
        try? await gracefulShutdown()
    }

    /// Who holds the lock: the `application_name` the writer set (`recoveryd@<address>`).
    private func noteHolder() {
        let conninfo = writer.configuration.conninfo
        holder.withLock { holder in
            if !(holder.probe?.isConnected ?? false) { holder.probe = try? PGConnection(conninfo, timeouts: .maintenance) }
            guard let probe = holder.probe, let found = try? EventLog.lockHolder(probe) else { return }
            holder.name = found.application.hasPrefix("recoveryd@") ? String(found.application.dropFirst("recoveryd@".count)) : nil
        }
    }
}
