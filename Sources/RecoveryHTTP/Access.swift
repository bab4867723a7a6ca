import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import RecoveryServer
import RecoveryWire

/// Every request says its token (`Authorization: Bearer <token>`), looked up
/// in the token file as the line protocol's `HELLO` is, and remembered as the
/// connection's: a token revoked by SIGHUP closes its connections (an event
/// stream among them). A body larger than a whole batch (`max_batch` ×
/// `max_line`) is refused before it is read.
struct AccessMiddleware: RouterMiddleware {
    typealias Context = HTTPContext
    let backend: any RequestBackend
    let bodyLimit: Int

    func handle(_ request: Request, context: HTTPContext, next: (Request, HTTPContext) async throws -> Response) async throws -> Response {
        let connection = Caller.connection(context.channel)
        guard let authorization = request.headers[.authorization],
            authorization.count > 7, authorization.prefix(7).lowercased() == "bearer "
        else {
            throw ProtocolError(.authRequired, "send the token as Authorization: Bearer <token>")
        }
        let token = String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        guard let entry = backend.authenticate(connection, token: token) else {
            let peer = context.channel.remoteAddress?.ipAddress ?? "unknown"
            if let suppressed = backend.refusalLog.shouldLog(peer: peer) {
                var metadata: Logger.Metadata = ["peer": "\(peer)", "transport": "http"]
                if suppressed > 0 { metadata["refused_since_last_line"] = "\(suppressed)" }
                backend.logger.warning("unknown token", metadata: metadata)
            }
            throw ProtocolError(.authRequired, "unknown token")
        }
        backend.authenticated(connection)
        var request = request
        // A problem is an acceptable answer to every request (an EventSource
        // asks for text/event-stream alone, and must still be told why not).
        if let accept = request.headers[.accept], !accept.contains("application/problem+json"), !accept.contains("*/*") {
            var head = request.head
            head.headerFields[.accept] = accept + ", application/problem+json"
            request = Request(head: head, body: request.body)
        }
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > bodyLimit {
            throw ProtocolError(.tooLarge, "the body is \(length) bytes; at most \(bodyLimit) (max_batch × max_line)")
        }
        if request.method == .post || request.method == .put {
            // Every body the API takes is JSON (the appends' is read as bytes,
            // so their type is checked here).
            let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
            guard type == "application/json" else {
                throw ProtocolError(.badRequest, "send the body as Content-Type: application/json (got \(type ?? "none"))")
            }
            do {
                _ = try await request.collectBody(upTo: bodyLimit)
            } catch let error as HTTPError where error.status == .contentTooLarge {
                throw ProtocolError(.tooLarge, "the body is larger than \(bodyLimit) bytes (max_batch × max_line)")
            }
        }
        let caller = Caller(token: entry, channel: context.channel)
        var response = try await Caller.$current.withValue(caller) { try await next(request, context) }
        // Answers are a ledger's state for one token: never kept by a cache.
        response.headers[.cacheControl] = "no-store"
        return response
    }
}

/// CORS for the origins of `--http-cors-origin`: a page from one of them may
/// call the API with its token; any other origin gets no CORS headers (the
/// browser then refuses). Preflights are answered here, before the token is
/// asked for (a browser sends none with them).
struct CORSOrigins: RouterMiddleware {
    typealias Context = HTTPContext
    let origins: Set<String>

    init(origins: [String]) { self.origins = Set(origins) }

    func handle(_ request: Request, context: HTTPContext, next: (Request, HTTPContext) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], origins.contains(origin) else {
            return try await next(request, context)
        }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            var headers = HTTPFields()
            headers[.accessControlAllowOrigin] = origin
            headers[.accessControlAllowMethods] = "GET, POST, OPTIONS"
            headers[.accessControlAllowHeaders] = "Authorization, Content-Type, Last-Event-ID"
            headers[.accessControlMaxAge] = "600"
            headers[.vary] = "Origin"
            return Response(status: .noContent, headers: headers)
        }
        var response = try await next(request, context)
        response.headers[.accessControlAllowOrigin] = origin
        response.headers[.accessControlExposeHeaders] = "Content-Type"
        response.headers[.vary] = "Origin"
        return response
    }
}

/// Admits an HTTP connection under the line port's connection limits (all
/// connections, per peer, those without a good token yet: the registry
/// counts both listeners together), closes one that has not sent a known
/// token within `hello_timeout`, and closes it when the registry ends it (a
/// revoked token, eviction from a full pool, the end of the shutdown grace).
final class HTTPAdmission: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let backend: any RequestBackend
    private var registered = false
    private var helloDeadline: Scheduled<Void>?

    init(backend: any RequestBackend) { self.backend = backend }

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        let peer = channel.remoteAddress?.ipAddress ?? "unknown"
        let refusal = backend.admit(Caller.connection(channel), peer: peer) { ending in
            switch ending {
            case .drain: break  // the HTTP server's own shutdown lets requests finish
            case .now, .revoked, .evicted: channel.close(promise: nil)
            }
        }
        if let refusal {
            if let suppressed = backend.refusalLog.shouldLog(peer: peer) {
                var metadata: Logger.Metadata = ["peer": "\(peer)", "reason": "\(refusal.message)", "transport": "http"]
                if suppressed > 0 { metadata["refused_since_last_line"] = "\(suppressed)" }
                backend.logger.warning("connection refused", metadata: metadata)
            }
            context.close(promise: nil)
            return
        }
        registered = true
        let backend = self.backend
        helloDeadline = context.eventLoop.scheduleTask(in: .seconds(Int64(backend.limits.helloTimeout))) {
            if !backend.isAuthenticated(Caller.connection(channel)) { channel.close(promise: nil) }
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        helloDeadline?.cancel()
        if registered { backend.release(Caller.connection(context.channel)) }
        registered = false
        context.fireChannelInactive()
    }
}
