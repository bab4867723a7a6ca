import Foundation
import LedgerStore
import NIOCore

/// Fans committed events out to subscribers. The writer calls ``publish(_:)``
/// after every commit; each subscriber buffers while it catches up from the
/// table and writes straight to its socket once live.
final class SubscriptionHub: @unchecked Sendable {
    private let lock = NSLock()
    private var subscribers: [ObjectIdentifier: Subscriber] = [:]

    func add(_ subscriber: Subscriber) {
        lock.lock()
        subscribers[ObjectIdentifier(subscriber)] = subscriber
        lock.unlock()
    }

    func remove(_ subscriber: Subscriber) {
        lock.lock()
        subscribers[ObjectIdentifier(subscriber)] = nil
        lock.unlock()
    }

    func publish(_ events: [StoredEvent]) {
        guard !events.isEmpty else { return }
        lock.lock()
        let current = Array(subscribers.values)
        lock.unlock()
        for subscriber in current { subscriber.deliver(events) }
    }
}

/// One `SUBSCRIBE`: catch-up from the table, then live events, with no gap and
/// no duplicate between the two (live events that arrive during catch-up are
/// buffered and sent after it, skipping positions already sent). More than
/// `limit` events waiting — buffered, or written but not yet on the socket —
/// ends it with `ERR slow_consumer <last position sent>`.
final class Subscriber: @unchecked Sendable {
    enum Phase {
        case catchingUp
        case live
        case stopped
    }

    let channel: Channel
    let limit: Int
    /// Called on the channel's event loop when the subscriber overflowed.
    let onSlow: @Sendable (Int64) -> Void
    private let lock = NSLock()
    private var phase = Phase.catchingUp
    private var buffer: [StoredEvent] = []
    /// Last position handed to the socket, and last one the socket took.
    private var lastQueued: Int64
    private var lastWritten: Int64
    private var inFlight = 0
    private var sentCount: Int64 = 0

    /// Events the socket took so far.
    var sent: Int64 {
        lock.lock()
        defer { lock.unlock() }
        return sentCount
    }

    init(channel: Channel, from: Int64, limit: Int, onSlow: @escaping @Sendable (Int64) -> Void) {
        self.channel = channel
        self.limit = limit
        self.onSlow = onSlow
        lastQueued = from - 1
        lastWritten = from - 1
    }

    var lastSent: Int64 {
        lock.lock()
        defer { lock.unlock() }
        return lastWritten
    }

    var isStopped: Bool {
        lock.lock()
        defer { lock.unlock() }
        return phase == .stopped
    }

    /// Catch-up wrote `event` (from the table, in order).
    func caughtUp(through position: Int64, count: Int64) {
        lock.lock()
        lastQueued = max(lastQueued, position)
        lastWritten = max(lastWritten, position)
        sentCount += count
        lock.unlock()
    }

    /// Where catch-up must continue from, or nil once it has gone live: live
    /// when the buffer starts no later than the next position to send (or is
    /// empty after catch-up reached the table's head).
    func tryGoLive(reachedHead: Bool) -> Int64? {
        lock.lock()
        guard phase == .catchingUp else {
            lock.unlock()
            return nil
        }
        buffer.removeAll { $0.position <= lastQueued }
        if let first = buffer.first, first.position > lastQueued + 1 {
            let next = lastQueued + 1
            lock.unlock()
            return next  // a gap between what was read and what arrived live: read it
        }
        if buffer.isEmpty && !reachedHead {
            let next = lastQueued + 1
            lock.unlock()
            return next
        }
        phase = .live
        let pending = buffer
        buffer = []
        lock.unlock()
        write(pending)
        return nil
    }

    func deliver(_ events: [StoredEvent]) {
        lock.lock()
        switch phase {
        case .stopped:
            lock.unlock()
        case .catchingUp:
            buffer.append(contentsOf: events)
            let overflow = buffer.count > limit
            if overflow { phase = .stopped }
            let last = lastWritten
            lock.unlock()
            if overflow { channel.eventLoop.execute { self.onSlow(last) } }
        case .live:
            lock.unlock()
            write(events)
        }
    }

    func stop() {
        lock.lock()
        phase = .stopped
        buffer = []
        lock.unlock()
    }

    private func write(_ events: [StoredEvent]) {
        lock.lock()
        let fresh = events.filter { $0.position > lastQueued }
        guard phase == .live, !fresh.isEmpty else {
            lock.unlock()
            return
        }
        inFlight += fresh.count
        lastQueued = fresh.last!.position
        let overflow = inFlight > limit
        if overflow { phase = .stopped }
        let last = lastWritten
        lock.unlock()
        if overflow {
            channel.eventLoop.execute { self.onSlow(last) }
            return
        }
        var buffer = channel.allocator.buffer(capacity: fresh.reduce(0) { $0 + $1.payload.count + 7 })
        for event in fresh { buffer.writeEventLine(event.payload) }
        let lastPosition = fresh.last!.position
        let count = fresh.count
        let lines = buffer
        channel.eventLoop.execute {
            guard !self.isStopped else { return }
            self.channel.writeAndFlush(lines).whenComplete { result in
                self.lock.lock()
                self.inFlight -= count
                if case .success = result {
                    self.lastWritten = max(self.lastWritten, lastPosition)
                    self.sentCount += Int64(count)
                }
                self.lock.unlock()
            }
        }
    }
}
