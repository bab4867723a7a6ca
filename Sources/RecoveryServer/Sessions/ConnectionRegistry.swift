import LineProtocol
import RecoveryWire
import Synchronization

/// How the server asks a connection to end.
package enum ConnectionEnding: Sendable {
    /// Shutdown: read nothing more, answer what was read.
    case drain
    /// The shutdown grace is over: answer the rest `unavailable` and close.
    case now
    /// Its token was revoked.
    case revoked
    /// It was the oldest connection waiting for `HELLO` when the pool was full.
    case evicted
}

/// Admission under the connection limits (docs/PROTOCOL.md, Limits): all
/// connections, those from one peer address, and those that have not said a
/// good `HELLO` yet — in all, and from one peer. When the pool of connections
/// waiting for `HELLO` is full, the oldest of them is evicted to admit the
/// newcomer, so no one without a token can lock others out; an authenticated
/// connection is never evicted. It also holds the tokens and which one each connection
/// said `HELLO` with, so that reading the token file again closes exactly the
/// connections of the tokens it no longer has (or has with another role or
/// person) — a look-up and a reload never interleave. It keeps each
/// connection's way to end it. The one piece of connection state shared
/// across event loops.
package final class ConnectionRegistry: Sendable {
    private struct Entry {
        var peer: String
        /// Admission order (the oldest waiting for `HELLO` is evicted first).
        var sequence: UInt64
        var authenticated = false
        /// Evicted and closing: no longer counted as waiting for `HELLO`.
        var evicted = false
        /// The token of its last good `HELLO`.
        var token: TokenFile.Entry?
        var end: @Sendable (ConnectionEnding) -> Void
    }

    private struct Counts {
        var tokens: TokenFile
        var entries: [ObjectIdentifier: Entry] = [:]
        var perPeer: [String: Int] = [:]
        var unauthenticated = 0
        var perPeerUnauthenticated: [String: Int] = [:]
        var nextSequence: UInt64 = 0
        var emptied: [@Sendable () -> Void] = []
    }

    private let limits: Limits
    private let counts: Mutex<Counts>

    package init(limits: Limits, tokens: TokenFile = TokenFile(entries: [])) {
        self.limits = limits
        counts = Mutex(Counts(tokens: tokens))
    }

    package func admit(_ connection: ObjectIdentifier, peer: String, end: @escaping @Sendable (ConnectionEnding) -> Void) -> ProtocolError? {
        var evicted: (@Sendable (ConnectionEnding) -> Void)?
        let refusal: ProtocolError? = counts.withLock { counts in
            if counts.entries.count >= limits.maxConnections {
                return ProtocolError(.unavailable, "too many connections (limit \(limits.maxConnections)); try again later")
            }
            if counts.perPeer[peer, default: 0] >= limits.maxConnectionsPerPeer {
                return ProtocolError(
                    .unavailable, "too many connections from \(peer) (limit \(limits.maxConnectionsPerPeer)); try again later")
            }
            if counts.perPeerUnauthenticated[peer, default: 0] >= limits.maxUnauthenticatedPerPeer {
                return ProtocolError(
                    .unavailable,
                    "too many connections from \(peer) waiting for HELLO (limit \(limits.maxUnauthenticatedPerPeer)); say HELLO on those first")
            }
            if counts.unauthenticated >= limits.maxUnauthenticated,
                let oldest = counts.entries.filter({ !$0.value.authenticated && !$0.value.evicted }).min(by: { $0.value.sequence < $1.value.sequence })
            {
                counts.entries[oldest.key]?.evicted = true
                Self.stopWaiting(oldest.value.peer, &counts)
                evicted = oldest.value.end
            }
            counts.nextSequence += 1
            counts.entries[connection] = Entry(peer: peer, sequence: counts.nextSequence, end: end)
            counts.perPeer[peer, default: 0] += 1
            counts.unauthenticated += 1
            counts.perPeerUnauthenticated[peer, default: 0] += 1
            return nil
        }
        evicted?(.evicted)
        return refusal
    }

    /// One connection of `peer` no longer waits for `HELLO`.
    private static func stopWaiting(_ peer: String, _ counts: inout Counts) {
        counts.unauthenticated -= 1
        counts.perPeerUnauthenticated[peer, default: 1] -= 1
        if counts.perPeerUnauthenticated[peer] == 0 { counts.perPeerUnauthenticated[peer] = nil }
    }

    package func authenticated(_ connection: ObjectIdentifier) {
        counts.withLock { counts in
            guard let entry = counts.entries[connection], !entry.authenticated, !entry.evicted else { return }
            counts.entries[connection]?.authenticated = true
            Self.stopWaiting(entry.peer, &counts)
        }
    }

    /// Whether `connection` has said a good `HELLO` (or sent a known token).
    package func isAuthenticated(_ connection: ObjectIdentifier) -> Bool {
        counts.withLock { $0.entries[connection]?.authenticated ?? false }
    }

    /// The token file's entry for `token`, remembered as `connection`'s when found.
    package func hello(_ connection: ObjectIdentifier, token: String) -> TokenFile.Entry? {
        counts.withLock { counts in
            guard let entry = counts.tokens.entry(for: token) else { return nil }
            counts.entries[connection]?.token = entry
            return entry
        }
    }

    /// Replaces the tokens and ends every connection whose token is gone or
    /// now stands for another role or person. Returns how many were ended.
    @discardableResult
    package func replaceTokens(_ tokens: TokenFile) -> Int {
        let revoked: [@Sendable (ConnectionEnding) -> Void] = counts.withLock { counts in
            counts.tokens = tokens
            var revoked: [@Sendable (ConnectionEnding) -> Void] = []
            for (connection, entry) in counts.entries {
                guard let held = entry.token, tokens.entry(digest: held.digest).map({ $0.role != held.role || $0.agent != held.agent }) ?? true
                else { continue }
                counts.entries[connection]?.token = nil
                revoked.append(entry.end)
            }
            return revoked
        }
        revoked.forEach { $0(.revoked) }
        return revoked.count
    }

    package func release(_ connection: ObjectIdentifier) {
        let emptied: [@Sendable () -> Void] = counts.withLock { counts in
            guard let entry = counts.entries.removeValue(forKey: connection) else { return [] }
            counts.perPeer[entry.peer, default: 1] -= 1
            if counts.perPeer[entry.peer] == 0 { counts.perPeer[entry.peer] = nil }
            if !entry.authenticated && !entry.evicted { Self.stopWaiting(entry.peer, &counts) }
            guard counts.entries.isEmpty else { return [] }
            defer { counts.emptied = [] }
            return counts.emptied
        }
        emptied.forEach { $0() }
    }

    package var count: Int { counts.withLock { $0.entries.count } }
    package var unauthenticated: Int { counts.withLock { $0.unauthenticated } }
    /// Connections that said a good `HELLO`, by their token's role.
    package var countsByRole: [String: Int] {
        counts.withLock { counts in
            var byRole: [String: Int] = [:]
            for entry in counts.entries.values where entry.authenticated {
                if let role = entry.token?.role.rawValue { byRole[role, default: 0] += 1 }
            }
            return byRole
        }
    }

    /// Asks every connection to drain, and returns when all have closed or
    /// `grace` has passed; then those still open answer the rest
    /// `ERR unavailable` and close (waited for one more second). True if all
    /// had closed within the grace.
    package func drainAll(grace: Duration) async -> Bool {
        for end in counts.withLock({ $0.entries.values.map(\.end) }) { end(.drain) }
        if await waitUntilEmpty(timeout: grace) { return true }
        for end in counts.withLock({ $0.entries.values.map(\.end) }) { end(.now) }
        _ = await waitUntilEmpty(timeout: .seconds(1))
        return false
    }

    private func waitUntilEmpty(timeout: Duration) async -> Bool {
        let once = Mutex(false)
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let finish: @Sendable (Bool) -> Void = { closed in
                let first = once.withLock { done in
                    defer { done = true }
                    return !done
                }
                if first { continuation.resume(returning: closed) }
            }
            let empty = counts.withLock { counts in
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
