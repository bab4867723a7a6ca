import Hummingbird
import NIOCore
import RecoveryDomain
import RecoveryServer
import RecoveryWire

/// A request's context: Hummingbird's, plus the connection it came on (its
/// event loop runs the request's reads, as a line session's does).
struct HTTPContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any NIOCore.Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Who is asking: set by ``AccessMiddleware`` for the request's task once
/// its bearer token is known, read by ``API``'s operations.
struct Caller: Sendable {
    var token: TokenFile.Entry
    var channel: any NIOCore.Channel
    var role: ClientRole { token.role }
    /// The person a bound token stands for.
    var agent: String? { token.agent }

    @TaskLocal static var current: Caller?

    /// The connection's identity in the server's connection registry.
    static func connection(_ channel: any NIOCore.Channel) -> ObjectIdentifier { ObjectIdentifier(channel as AnyObject) }
}
