import Dispatch
import LedgerStore
import Synchronization

/// Where connections hand appends to the writer thread: a queue of at most
/// `max_queue` appends under a `Mutex`, a semaphore the thread sleeps on
/// while it is empty, and the connections waiting for room.
final class AppendQueue: Sendable {
    enum Offer { case queued, full, stopping }

    private struct State {
        var appends: [LedgerWriter.Pending] = []
        var roomWaiters: [@Sendable () -> Void] = []
        var stopping = false
        /// Id filters read in the background, waiting for the writer thread.
        var filters: (KnownIdentifiers, generation: Int)?
        /// The writer thread is asleep (or about to be) on `work`: the next
        /// offer wakes it. Only then is `work` signalled, so a busy writer
        /// never finds a pile of stale wake-ups to spin through.
        var sleeping = false
    }

    private let limit: Int
    private let state = Mutex(State())
    /// The writer thread's wake-up: signalled when it sleeps and something
    /// comes (an append, the filters, the stop).
    private let work = DispatchSemaphore(value: 0)

    init(limit: Int) { self.limit = limit }

    func offer(_ pending: LedgerWriter.Pending) -> Offer {
        let (offer, wake): (Offer, Bool) = state.withLock { state in
            if state.stopping { return (.stopping, false) }
            guard state.appends.count < limit else { return (.full, false) }
            state.appends.append(pending)
            defer { state.sleeping = false }
            return (.queued, state.sleeping)
        }
        if wake { work.signal() }
        return offer
    }

    var depth: Int { state.withLock { $0.appends.count } }

    /// Calls `room` once the queue has room: at once if it has now.
    func whenRoom(_ room: @escaping @Sendable () -> Void) {
        let now: Bool = state.withLock { state in
            guard state.appends.count >= limit, !state.stopping else { return true }
            state.roomWaiters.append(room)
            return false
        }
        if now { room() }
    }

    /// Up to `max` appends, oldest first, and whether the queue is stopping.
    /// Connections waiting for room are told when there is some.
    func take(max: Int) -> (batch: [LedgerWriter.Pending], stopping: Bool) {
        let (batch, stopping, waiters) = state.withLock { state in
            let batch = Array(state.appends.prefix(max))
            state.appends.removeFirst(batch.count)
            var waiters: [@Sendable () -> Void] = []
            if !batch.isEmpty && (state.appends.count < limit || state.stopping) { swap(&waiters, &state.roomWaiters) }
            return (batch, state.stopping, waiters)
        }
        waiters.forEach { $0() }
        return (batch, stopping)
    }

    /// Sleeps until an append is offered (or the queue stops), at most
    /// `timeout`; returns at once if there is something already.
    func waitForWork(timeout: Duration) {
        let sleep = state.withLock { state in
            guard state.appends.isEmpty, !state.stopping, state.filters == nil else { return false }
            state.sleeping = true
            return true
        }
        guard sleep else { return }
        _ = work.wait(timeout: .now() + timeout.dispatchInterval)
        state.withLock { $0.sleeping = false }
    }

    /// Wakes the writer thread if it sleeps.
    private func wake() {
        let sleeping = state.withLock { state in
            defer { state.sleeping = false }
            return state.sleeping
        }
        if sleeping { work.signal() }
    }

    /// No more appends are taken; what is queued is still handed out.
    func stop() {
        state.withLock { $0.stopping = true }
        wake()
    }

    /// Everything still queued (when the writer did not finish in time).
    func takeAll() -> [LedgerWriter.Pending] {
        state.withLock { state in
            defer { state.appends = [] }
            return state.appends
        }
    }

    /// Tells every connection still waiting for room (the writer has stopped).
    func releaseWaiters() {
        let waiters = state.withLock { state in
            defer { state.roomWaiters = [] }
            return state.roomWaiters
        }
        waiters.forEach { $0() }
    }

    /// Filters read for the connect `generation`; an older generation's,
    /// arriving late, never replaces a newer one's.
    func deliverFilters(_ known: KnownIdentifiers, generation: Int) {
        state.withLock { state in
            if let waiting = state.filters, waiting.generation > generation { return }
            state.filters = (known, generation)
        }
        wake()
    }

    func takeFilters() -> (KnownIdentifiers, generation: Int)? {
        state.withLock { state in
            defer { state.filters = nil }
            return state.filters
        }
    }
}
