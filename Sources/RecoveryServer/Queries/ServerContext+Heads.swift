import Foundation
import LedgerStore
import LineProtocol
import RecoveryWire
import Logging
import NIOCore
import NIOPosix
import RecoveryDomain

/// Signed heads (docs/OPERATIONS.md, "The head-signing key").
extension ServerContext {
    /// The writer's head, signed and kept (``HeadNotary``) before it is
    /// answered: every head the daemon hands out is on its own record.
    func signHead(on eventLoop: EventLoop) -> EventLoopFuture<SignedHead> {
        let (notary, head, logger) = (self.notary, writer.view.chainHead, self.logger)
        return read(on: eventLoop) { connection in try notary.sign(head, on: connection, logger: logger) }
    }

    /// The last head of a run, signed and kept on a connection of its own
    /// with short deadlines, waited for at most 3 s: a shutdown is never held
    /// up by it.
    func signFinalHead() async {
        let (head, notary, conninfo, logger) = (writer.view.chainHead, self.notary, configuration.conninfo, logger)
        let signed = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                do {
                    try await NIOThreadPool.singleton.runIfActive {
                        let connection = try PGConnection(conninfo, timeouts: PGTimeouts(connect: .seconds(2), statement: .seconds(2), commit: .seconds(2)))
                        _ = try notary.sign(head, on: connection, logger: logger)
                    }
                } catch {
                    logger.warning("the last head was not kept", metadata: ["error": "\(error)"])
                }
                return true
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(3))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !signed { logger.warning("the last head was not kept within 3 s") }
    }
}
