import RecoveryDomain
import Synchronization

/// Fans committed events out to subscribers. The writer calls ``publish(_:)``
/// after every commit, in commit order; each subscriber's `deliver` hands the
/// batch to its connection's event loop, where the subscription's state lives
/// (``SessionStateMachine``). No subscriber state is kept or locked here.
final class SubscriptionHub: Sendable {
    private let subscribers = Mutex<[ObjectIdentifier: @Sendable ([StoredEvent]) -> Void]>([:])

    func join(_ subscriber: ObjectIdentifier, deliver: @escaping @Sendable ([StoredEvent]) -> Void) {
        subscribers.withLock { $0[subscriber] = deliver }
    }

    func leave(_ subscriber: ObjectIdentifier) {
        _ = subscribers.withLock { $0.removeValue(forKey: subscriber) }
    }

    /// Subscribers now.
    var count: Int { subscribers.withLock { $0.count } }

    func publish(_ events: [StoredEvent]) {
        guard !events.isEmpty else { return }
        let current = subscribers.withLock { Array($0.values) }
        for deliver in current { deliver(events) }
    }
}
