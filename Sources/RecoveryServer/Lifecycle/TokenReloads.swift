import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// SIGHUP reads the token file again (docs/OPERATIONS.md, "Roles and tokens"):
/// the new tokens apply to every later `HELLO`, and the connections of tokens
/// no longer in it (or now with another role or person) are closed. A file
/// that cannot be read or is refused leaves the tokens as they were, and says
/// why. Until this service runs, the command line ignores SIGHUP.
final class TokenReloads: Service, Sendable {
    private let file: URL
    private let connections: ConnectionRegistry
    private let logger: Logger

    init(file: URL, connections: ConnectionRegistry, logger: Logger) {
        self.file = file
        self.connections = connections
        self.logger = logger
    }

    func run() async {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            reload()
        }
    }

    func reload() {
        do {
            let tokens = try TokenFile.load(from: file)
            let closed = connections.replaceTokens(tokens)
            logger.notice(
                "token file read again", metadata: ["path": "\(file.path)", "tokens": "\(tokens.entries.count)", "connections_closed": "\(closed)"])
        } catch {
            logger.error("token file not read again; the tokens in use are unchanged", metadata: ["error": "\(error)"])
        }
    }
}
