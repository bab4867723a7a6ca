import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import OpenAPIHummingbird
import OpenAPIRuntime
import RecoveryServer
import RecoveryWire
import ServiceLifecycle

/// The HTTP API (docs/HTTP.md; its contract is docs/openapi.yaml): Hummingbird
/// on the line server's event loops, with its tokens, roles, limits and TLS.
/// Every operation calls the same server operations a line session calls
/// (``API``); this type only wires the listener. Started after the line
/// server and stopped before it: on SIGTERM it stops accepting, ends every
/// event stream with a resumable `unavailable`, and lets requests in flight
/// finish.
package struct HTTPFrontDoor: Service {
    let backend: any RequestBackend
    let listen: HTTPListen
    let streams = EventStreams()

    package init(backend: any RequestBackend, listen: HTTPListen) {
        self.backend = backend
        self.listen = listen
    }

    /// The largest body taken: a whole batch of the longest events.
    static func bodyLimit(_ limits: Limits) -> Int { limits.maxBatch * limits.maxLine }

    package func run() async throws {
        let configuration = backend.configuration
        let limits = configuration.limits
        let router = Router(context: HTTPContext.self)
        if !listen.corsOrigins.isEmpty { router.middlewares.add(CORSOrigins(origins: listen.corsOrigins)) }
        router.middlewares.add(ProblemMiddleware(logger: backend.logger))
        router.middlewares.add(AccessMiddleware(backend: backend, bodyLimit: Self.bodyLimit(limits)))
        let api = API(backend: backend, streams: streams)
        // Compact, sorted keys, slashes as written: the line protocol's JSON.
        try api.registerHandlers(on: router, configuration: Configuration(jsonEncodingOptions: [.sortedKeys, .withoutEscapingSlashes]))

        let backend = self.backend
        let http1 = HTTPServerBuilder.http1(
            configuration: .init(
                additionalChannelHandlers: [HTTPAdmission(backend: backend)],
                idleTimeout: TimeAmount.seconds(Int64(limits.idleTimeout))))
        let server = try configuration.tls.map { try HTTPServerBuilder.tls(http1, tlsConfiguration: $0.serverConfiguration()) } ?? http1
        let transport = configuration.tls == nil ? "http" : "https"
        let app = Application(
            router: router, server: server,
            configuration: ApplicationConfiguration(address: .hostname(listen.host, port: listen.port), serverName: "recoveryd/\(recoverydVersion)", backlog: 4_096),
            onServerRunning: { channel in
                backend.logger.info(
                    "recoveryd HTTP API listening",
                    metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")", "transport": "\(transport)"])
            },
            eventLoopGroupProvider: .singleton, logger: backend.logger)
        let streams = self.streams
        try await withGracefulShutdownHandler {
            try await app.run()
        } onGracefulShutdown: {
            streams.endAll(ProtocolError(.unavailable, "the server is shutting down"))
        }
    }
}
