import Foundation
import LedgerStore
import LineProtocol
import RecoveryWire
import Logging
import NIOCore
import NIOPosix
import RecoveryDomain

extension ServerContext {
    /// `VERIFY`: the chain and every row's columns (``EventReader/verify``);
    /// through the head, also the head the writer holds in memory and the
    /// checkpoint, each against the recomputed hash at its position. Both are
    /// taken before the log is read, so they are within what is verified.
    func verify(from: Int64?, to: Int64?, on eventLoop: EventLoop) -> EventLoopFuture<[Response]> {
        let logger = self.logger
        let writer = self.writer
        let witness = configuration.headWitness
        return read(on: eventLoop) { connection in
            let started = Date()
            let serving = writer.view.isServing
            let memory = writer.view.chainHead
            let checkpoint = try Projections(connection: connection).checkpoint()
            let start = from ?? 1
            let records = to == nil
                ? [("the writer's head in memory", memory), ("the checkpoint", checkpoint)].filter { $0.1.position >= start && (serving || $0.0 == "the checkpoint") }
                : []
            var recomputed: [Int64: [UInt8]] = [:]
            var result = try EventReader(connection: connection).verify(
                from: start, through: to, witnesses: Set(records.map(\.1.position)), witnessed: { recomputed[$0] = $1 }
            ) { done in
                logger.info("VERIFY in progress", metadata: ["verified": "\(done)"])
            }
            if case .verified(_, let last, _) = result {
                for (name, head) in records where head.position > 0 {
                    guard let hash = recomputed[head.position] else {
                        result = .broken(position: last + 1, reason: "the log ends at \(last) but \(name) is at \(head.position)")
                        break
                    }
                    if hash != head.hash {
                        result = .broken(
                            position: head.position,
                            reason: "\(name) records hash \(Hex.encode(head.hash)) here but the log's chain gives \(Hex.encode(hash))")
                        break
                    }
                }
            }
            // And the daemon's own last signed heads: a rewrite with every hash
            // recomputed is consistent with itself, but not with them.
            if case .verified = result, to == nil, let problem = try HeadNotary.check(connection: connection, witness: witness) {
                result = .broken(position: problem.position, reason: problem.reason)
            }
            switch result {
            case .verified(let count, let last, let hash):
                logger.info("VERIFY done", metadata: ["verified": "\(count)", "seconds": "\(Int(Date().timeIntervalSince(started)))"])
                return [Response.ok(Reply.Verified(verified: count, last: last, hash: Hex.encode(hash)))]
            case .broken(let position, let reason):
                logger.error("VERIFY found a broken chain", metadata: ["position": "\(position)", "reason": "\(reason)"])
                return [Response.error(.chainBroken, "\(position) \(reason)")]
            }
        }
    }
}
