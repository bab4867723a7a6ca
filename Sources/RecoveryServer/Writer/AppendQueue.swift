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
    }

    private let limit: Int
    private let state = Mutex(State())
    /// Signalled for every append offered and at stop: the writer thread's
    /// wake-up. Spare signals only wake it once more to find nothing.
    private let work = DispatchSemaphore(value: 0)

    init(limit: Int) { self.limit = limit }

    func offer(_ pending: LedgerWriter.Pending) -> Offer {
        let offer: Offer = state.withLock { state in
            if state.stopping { return .stopping }
            guard state.appends.count < limit else { return .full }
            state.appends.append(pending)
            return .queued
        }
        if case .queued = offer { work.signal() }
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

    /// Sleeps until an append is offered (or the queue stops), at most `timeout`.
    func waitForWork(timeout: Duration) {
        _ = work.wait(timeout: .now() + timeout.dispatchInterval)
    }

    /// No more appends are taken; what is queued is still handed out.
    func stop() {
        state.withLock { $0.stopping = true }
        work.signal()
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

    func deliverFilters(_ known: KnownIdentifiers, generation: Int) {
        state.withLock { $0.filters = (known, generation) }
        work.signal()
    }

    func takeFilters() -> (KnownIdentifiers, generation: Int)? {
        state.withLock { state in
            defer { state.filters = nil }
            return state.filters
        }
    }
}
