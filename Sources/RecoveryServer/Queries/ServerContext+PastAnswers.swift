import Foundation
import LedgerStore
import LineProtocol
import RecoveryWire
import Logging
import NIOCore
import NIOPosix
import RecoveryDomain

/// Answers as of a past position (docs/PROTOCOL.md, "Answers as of a past position").
extension ServerContext {
    /// When an answer as of a position is for: the time that position was
    /// recorded (the epoch for position 0), and its business day.
    struct Then {
        var time: Timestamp
        var day: BusinessDay
    }

    /// An answer as the ledger stood right after position `at` (``PastState``),
    /// with `"at"` and `"at_hash"` added, all read in one snapshot. A day
    /// left out defaults to the day of that position, and deadlines are
    /// passed or not as of its time: the answer is the one given then.
    func past(
        _ at: Int64, on eventLoop: EventLoop, _ body: @escaping @Sendable (PastState, Then) throws -> [String: JSONValue]
    ) -> EventLoopFuture<[Response]> {
        let (zone, maxEvents) = (settings.timeZone, configuration.limits.maxAtEvents)
        return read(on: eventLoop) { connection in
            let past = PastState(connection: connection, maxEvents: maxEvents)
            return try past.snapshot(at: at) { head in
                let time = try EventReader(connection: connection).recordedAt(at) ?? Timestamp(microseconds: 0)
                var answer = try body(past, Then(time: time, day: BusinessDay(time, in: zone)))
                answer["at"] = .integer(head.position)
                answer["at_hash"] = .string(Hex.encode(head.hash))
                return [Response.ok(answer)]
            }
        }
    }
}
