import Foundation
import LedgerStore
import LineProtocol
import RecoveryWire
import Logging
import NIOCore
import RecoveryDomain
import Synchronization

/// The answer to one `APPEND`.
package enum AppendAnswer: Sendable {
    case recorded(position: Int64, hash: [UInt8], duplicate: Bool, spending: Spending? = nil)
    case refused(ProtocolError)

    /// The protocol's answer for the writer's (docs/PROTOCOL.md, "Error codes").
    package init(_ answer: WriterAnswer) {
        switch answer {
        case .recorded(let position, let hash, let duplicate, let spending):
            self = .recorded(position: position, hash: hash, duplicate: duplicate, spending: spending)
        case .refused(let rejection): self = .refused(ProtocolError(rejection))
        case .unavailable(let message): self = .refused(ProtocolError(.unavailable, message))
        case .invalidValue(let message): self = .refused(ProtocolError(.invalid, message))
        case .internalError(let message): self = .refused(ProtocolError(.internalError, message))
        }
    }
}

/// The ledger's single writer in the daemon (docs/ARCHITECTURE.md, "The
/// writer"): the queue connections hand appends to, and one thread that
/// drives ``WriterStateMachine`` through a ``WriterDriver`` — it takes what
/// is queued (up to `max_batch`) as one batch, and between batches receives
/// COMMITs, reconnects and checks an idle connection, as the machine asks.
/// The driver is the thread's alone (the `Mutex` around it is never
/// contended: it only hands the driver from `start()` to the thread).
final class LedgerWriter: Sendable {
    /// One append waiting for its batch: a class, since it moves from the
    /// queue to a batch to the batch in flight, and a reference moves with
    /// one retain where the event's every field would take one each.
    final class Pending: Sendable {
        let event: Event
        /// The digest of the event's content, made on the connection's loop.
        let digest: [UInt8]
        /// Who records it: the rules of who may move whose money depend on it.
        let authority: Authority
        /// Where `complete` runs: its connection's loop (nil: the writer's thread).
        let loop: (any EventLoop)?
        let complete: @Sendable (AppendAnswer) -> Void

        init(
            event: Event, digest: [UInt8], authority: Authority, loop: (any EventLoop)?,
            complete: @escaping @Sendable (AppendAnswer) -> Void
        ) {
            self.event = event
            self.digest = digest
            self.authority = authority
            self.loop = loop
            self.complete = complete
        }

        var append: WriterStateMachine<Pending>.Append {
            .init(ticket: self, submission: Submission(event: event, contentDigest: digest, authority: authority))
        }
    }

    typealias Driver = WriterDriver<Pending>

    let configuration: ServerConfiguration
    let logger: Logger
    let hub: SubscriptionHub
    let metrics: ServerMetrics
    let view = WriterView()
    let queue: AppendQueue
    private let driver = Mutex<Driver?>(nil)
    /// Signalled when the writer thread has answered everything and stopped.
    private let finished = DispatchSemaphore(value: 0)
    private let running = Atomic<Bool>(false)

    init(configuration: ServerConfiguration, hub: SubscriptionHub, metrics: ServerMetrics = ServerMetrics(), logger: Logger) {
        self.configuration = configuration
        self.metrics = metrics
        self.hub = hub
        self.logger = logger
        queue = AppendQueue(limit: configuration.limits.maxQueue)
    }

    /// Connects, takes the writer's lock and loads the working state; records
    /// a new ledger's opening settings (or an earlier version's, on upgrade)
    /// and rebuilds projection rows an older fold wrote; then checks that no
    /// settings flag differs from the log, and starts the writer thread.
    /// Throws if any of that fails (a second writer, an unreachable database,
    /// a differing flag): nothing is then left running.
    func start() throws {
        try driver.withLock { slot in
            let made = makeDriver()
            try made.connect()
            try open(made)
            slot = made
        }
        running.store(true, ordering: .sequentiallyConsistent)
        let thread = Thread { [self] in
            driver.withLock { driver in
                guard let driver else { return }
                loop(driver)
            }
            finished.signal()
        }
        thread.name = "recoveryd-writer"
        thread.start()
    }

    /// Queues an append; `complete` is called once: on `loop` if given (with
    /// the other answers of its batch for that loop, as one task), else from
    /// the writer thread. When `max_queue` appends wait already, nothing is
    /// queued and the result is false (see ``whenRoom(_:)``).
    func submit(
        _ event: Event, authority: Authority, on loop: (any EventLoop)? = nil, complete: @escaping @Sendable (AppendAnswer) -> Void
    ) -> Bool {
        let pending = Pending(event: event, digest: HashChain.digest(event.content), authority: authority, loop: loop, complete: complete)
        switch queue.offer(pending) {
        case .queued: return true
        case .full: return false
        case .stopping:
            Self.answer([(pending, .refused(ProtocolError(.unavailable, "the server is shutting down")))])
            return true
        }
    }

    /// Calls each append's `complete` with its answer: the answers bound for
    /// one event loop go to it as one task (one wake-up of the loop per
    /// batch, not one per append), in the order given.
    static func answer(_ answers: [(Pending, AppendAnswer)]) {
        var byLoop: [ObjectIdentifier: (loop: any EventLoop, answers: [(Pending, AppendAnswer)])] = [:]
        for (pending, answer) in answers {
            guard let loop = pending.loop else {
                pending.complete(answer)
                continue
            }
            byLoop[ObjectIdentifier(loop), default: (loop, [])].answers.append((pending, answer))
        }
        for (loop, group) in byLoop.values {
            loop.execute { for (pending, answer) in group { pending.complete(answer) } }
        }
    }

    /// Appends waiting for the writer now.
    var queueDepth: Int { queue.depth }

    /// Calls `room` once there is room in the queue: at once if there is now.
    func whenRoom(_ room: @escaping @Sendable () -> Void) { queue.whenRoom(room) }

    /// Answers what is queued, then stops the thread and closes the connection.
    /// Waits at most `timeout`: appends still queued then are answered
    /// `ERR unavailable` (every wait of the batch in progress has a deadline
    /// of its own, so the thread ends soon after).
    func stop(timeout: Duration) async {
        queue.stop()
        guard running.load(ordering: .sequentiallyConsistent) else { return }
        let finished = self.finished
        let done = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            // The wait blocks a thread of its own, never the caller's executor.
            Thread.detachNewThread {
                continuation.resume(returning: finished.wait(timeout: .now() + timeout.dispatchInterval + .milliseconds(500)) == .success)
            }
        }
        if done { return }
        let left = queue.takeAll()
        guard !left.isEmpty else { return }
        logger.warning("the writer did not finish within the shutdown grace; answering the rest", metadata: ["appends": "\(left.count)"])
        let answer = AppendAnswer.refused(ProtocolError(.unavailable, "the server is shutting down; nothing was recorded, retry later"))
        Self.answer(left.map { ($0, answer) })
    }

    // MARK: The writer thread

    private func loop(_ driver: Driver) {
        var stopping = false
        while true {
            if let (known, generation) = queue.takeFilters() { driver.handle(.filtersLoaded(known, generation: generation)) }
            let taken = queue.take(max: configuration.limits.maxBatch)
            if taken.stopping && !stopping {
                stopping = true
                driver.handle(.stopping)
            }
            if !taken.batch.isEmpty {
                driver.handle(.submitted(taken.batch.map(\.append), now: Timestamp(Date()), clock: .now))
                continue
            }
            if driver.machine.inFlightCount > 0 {
                driver.handle(.queueEmpty)
                continue
            }
            if stopping { break }
            // Nothing to do: wait for an append, or until the machine has
            // something to do with time (a reconnect, the idle check).
            let now = ContinuousClock.now
            let next = min(driver.machine.nextTick(after: now), now + .seconds(1))
            if next > now { queue.waitForWork(timeout: next - now) }
            if queue.depth == 0 { driver.handle(.tick(clock: .now)) }
        }
        driver.close()
        queue.releaseWaiters()
    }

    /// A driver whose effects reach the daemon: answers to the connections,
    /// events to subscribers, changes to the view, lines to the log.
    private func makeDriver() -> Driver {
        let advertised = configuration.advertise ?? "\(configuration.host):\(configuration.port)"
        var effects = Driver.Effects { answers in
            LedgerWriter.answer(answers.map { ($0, AppendAnswer($1)) })
        }
        let (hub, view, metrics, logger, queue) = (self.hub, self.view, self.metrics, self.logger, self.queue)
        effects.publish = { hub.publish($0) }
        effects.view = { change in
            switch change {
            case .reset(let head, let today, let state): view.reset(head: head, today: today, state: state)
            case .committed(let delta, let head): view.commit(delta, head: head)
            case .disconnected: view.disconnected()
            case .evicted(let day): view.evict(before: day)
            }
        }
        effects.batchCommitted = { metrics.committed(appends: $0, took: $1) }
        effects.log = { logger.log(level: $0.level.logLevel, "\($0.message)", metadata: $0.metadata.mapValues { .string($0) }) }
        let connector = Driver.Connector(
            conninfo: configuration.conninfo, timeouts: configuration.timeouts, applicationName: "recoveryd@\(advertised)")
        // Read on a connection and thread of their own, so the writer serves
        // meanwhile (with look-ups, as if every id might be known).
        effects.loadFilters = { position, generation in
            let thread = Thread {
                let started = ContinuousClock.now
                do {
                    let connection = try PGConnection(connector.conninfo, timeouts: connector.timeouts)
                    let known = try KnownIdentifiers.load(connection: connection, through: position)
                    queue.deliverFilters(known, generation: generation)
                    logger.debug("id filters loaded", metadata: ["events": "\(position)", "took": "\(ContinuousClock.now - started)"])
                } catch {
                    logger.warning("could not load the id filters; every append is looked up", metadata: ["error": "\(error)"])
                }
            }
            thread.name = "recoveryd-filters"
            thread.start()
        }
        return Driver(
            connector: connector, effects: effects, logsBatches: logger.logLevel <= .debug,
            stateCacheBytes: configuration.limits.stateCacheMib << 20)
    }
}

extension WriterLog.Level {
    var logLevel: Logger.Level {
        switch self {
        case .debug: .debug
        case .info: .info
        case .notice: .notice
        case .warning: .warning
        case .error: .error
        }
    }
}

extension Duration {
    var dispatchInterval: DispatchTimeInterval {
        .nanoseconds(Int(clamping: components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000))
    }
}
