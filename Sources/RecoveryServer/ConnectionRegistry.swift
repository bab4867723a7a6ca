import LineProtocol
import NIOConcurrencyHelpers

/// Admission under the connection limits (docs/PROTOCOL.md, Limits): all
/// connections, those from one peer address, and those that have not said a
/// good `HELLO` yet. It also keeps each connection's way to drain it at
/// shutdown. The one piece of connection state shared across event loops.
final class ConnectionRegistry: Sendable {
    private struct Entry {
        var peer: String
        var authenticated = false
        /// Asks the connection to drain; `true`: at once, answering the rest `unavailable`.
        var drain: @Sendable (_ now: Bool) -> Void
    }

    private struct Counts {
        var entries: [ObjectIdentifier: Entry] = [:]
        var perPeer: [String: Int] = [:]
        var unauthenticated = 0
        var emptied: [@Sendable () -> Void] = []
    }

    private let limits: Limits
    private let counts = NIOLockedValueBox(Counts())

    init(limits: Limits) {
        self.limits = limits
    }

    func admit(_ connection: ObjectIdentifier, peer: String, drain: @escaping @Sendable (_ now: Bool) -> Void) -> ProtocolError? {
        counts.withLockedValue { counts in
            if counts.entries.count >= limits.maxConnections {
                return ProtocolError(.unavailable, "too many connections (limit \(limits.maxConnections)); try again later")
            }
            if counts.perPeer[peer, default: 0] >= limits.maxConnectionsPerPeer {
                return ProtocolError(
                    .unavailable, "too many connections from \(peer) (limit \(limits.maxConnectionsPerPeer)); try again later")
            }
            if counts.unauthenticated >= limits.maxUnauthenticated {
                return ProtocolError(
                    .unavailable, "too many connections waiting for HELLO (limit \(limits.maxUnauthenticated)); try again later")
            }
            counts.entries[connection] = Entry(peer: peer, drain: drain)
            counts.perPeer[peer, default: 0] += 1
            counts.unauthenticated += 1
            return nil
        }
    }

    func authenticated(_ connection: ObjectIdentifier) {
        counts.withLockedValue { counts in
            guard let entry = counts.entries[connection], !entry.authenticated else { return }
            counts.entries[connection]?.authenticated = true
            counts.unauthenticated -= 1
        }
    }

    func release(_ connection: ObjectIdentifier) {
        let emptied: [@Sendable () -> Void] = counts.withLockedValue { counts in
            guard let entry = counts.entries.removeValue(forKey: connection) else { return [] }
            counts.perPeer[entry.peer, default: 1] -= 1
            if counts.perPeer[entry.peer] == 0 { counts.perPeer[entry.peer] = nil }
            if !entry.authenticated { counts.unauthenticated -= 1 }
            guard counts.entries.isEmpty else { return [] }
            defer { counts.emptied = [] }
            return counts.emptied
        }
        emptied.forEach { $0() }
    }

    var count: Int { counts.withLockedValue { $0.entries.count } }
    var unauthenticated: Int { counts.withLockedValue { $0.unauthenticated } }

    /// Asks every connection to drain, and returns when all have closed or
    /// `grace` has passed; then those still open answer the rest
    /// `ERR unavailable` and close (waited for one more second). True if all
    /// had closed within the grace.
    func drainAll(grace: Duration) async -> Bool {
        for drain in counts.withLockedValue({ $0.entries.values.map(\.drain) }) { drain(false) }
        if await waitUntilEmpty(timeout: grace) { return true }
        for drain in counts.withLockedValue({ $0.entries.values.map(\.drain) }) { drain(true) }
        _ = await waitUntilEmpty(timeout: .seconds(1))
        return false
    }

    private func waitUntilEmpty(timeout: Duration) async -> Bool {
        let once = NIOLockedValueBox(false)
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let finish: @Sendable (Bool) -> Void = { closed in
                let first = once.withLockedValue { done in
                    defer { done = true }
                    return !done
                }
                if first { continuation.resume(returning: closed) }
            }
            let empty = counts.withLockedValue { counts in
                if counts.entries.isEmpty { return true }
                counts.emptied.append { finish(true) }
                return false
            }
            if empty {
                finish(true)
                return
            }
            Task {
                try? await Task.sleep(for: timeout)
                finish(false)
            }
        }
    }
}
