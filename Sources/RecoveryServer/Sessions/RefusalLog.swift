import Synchronization

/// At most one log line per peer every ``interval`` for refused connections:
/// a peer that opens thousands of connections gets a line saying so (with how
/// many were refused since the last one), not thousands of lines.
package final class RefusalLog: Sendable {
    private struct Peer {
        var last: ContinuousClock.Instant
        var suppressed: Int
    }

    private let interval: Duration
    private let peers = Mutex<[String: Peer]>([:])
    /// Peers remembered at most; past it the oldest half is forgotten.
    private static let capacity = 10_000

    package init(interval: Duration = .seconds(10)) { self.interval = interval }

    /// Nil when this refusal is not to be logged; else how many were not logged since the last line.
    package func shouldLog(peer: String) -> Int? {
        let now = ContinuousClock.now
        return peers.withLock { peers in
            if var known = peers[peer], now - known.last < interval {
                known.suppressed += 1
                peers[peer] = known
                return nil
            }
            let suppressed = peers[peer]?.suppressed ?? 0
            if peers.count >= Self.capacity {
                for key in peers.sorted(by: { $0.value.last < $1.value.last }).prefix(Self.capacity / 2).map(\.key) { peers[key] = nil }
            }
            peers[peer] = Peer(last: now, suppressed: 0)
            return suppressed
        }
    }
}
