import Foundation
import LedgerStore
import LineProtocol
import RecoveryWire
import Logging
import NIOCore
import NIOPosix
import RecoveryDomain

extension ServerContext {
    /// `STATUS`: what an operator checks first. The database is probed with a
    /// read (its failure is the answer's `"database":"down"`, not an error).
    func status(on eventLoop: EventLoop) -> EventLoopFuture<[Response]> {
        var status = Reply.Status(
            version: recoverydVersion, mode: mode, position: writer.view.position, database: "", writerConnected: writer.view.isServing && writer.view.isConnected,
            writer: writer.view.isServing ? nil : standby?.writerAddress, connections: connections.count,
            unauthenticated: connections.unauthenticated, connectionsByRole: connections.countsByRole, subscribers: hub.count,
            queueDepth: writer.queueDepth, uptimeSeconds: Int64(Date().timeIntervalSince(started)), startedAt: Timestamp(started).description,
            ledger: configuration.signer.ledger,
            // Why appends are refused when the log no longer extends a signed head.
            appendsRefused: writer.view.brokenHistory.map { "\($0.code.rawValue) \($0.message)" })
        if let lag = tailer?.lag, configuration.mode == .follower {
            status.lag = Reply.Hello.Lag(positions: lag.positions, seconds: lag.seconds.map { String(format: "%.3f", $0) })
        }
        let reached = reads.run(on: eventLoop) { connection in _ = try connection.query("SELECT 1") }
        return reached.map { "up" }.recover { _ in "down" }.map { [status] (database: String) in
            var status = status
            status.database = database
            return [Response.ok(status)]
        }
    }
}
