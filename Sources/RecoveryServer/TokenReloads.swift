import Dispatch
import Foundation
import Logging

/// SIGHUP reads the token file again (DESIGN.md §5): the new tokens apply to
/// every later `HELLO`, and the connections of tokens no longer in it (or now
/// with another role or person) are closed. A file that cannot be read or is
/// refused leaves the tokens as they were, and says why.
final class TokenReloads: @unchecked Sendable {
    private let source: DispatchSourceSignal

    init(file: URL, connections: ConnectionRegistry, logger: Logger) {
        signal(SIGHUP, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: DispatchQueue(label: "recoveryd.sighup"))
        source.setEventHandler {
            do {
                let tokens = try TokenFile.load(from: file)
                let closed = connections.replaceTokens(tokens)
                logger.notice(
                    "token file read again",
                    metadata: ["path": "\(file.path)", "tokens": "\(tokens.entries.count)", "connections_closed": "\(closed)"])
            } catch {
                logger.error("token file not read again; the tokens in use are unchanged", metadata: ["error": "\(error)"])
            }
        }
        source.resume()
    }

    func cancel() { source.cancel() }
}
