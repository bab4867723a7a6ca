import Foundation
import HTTPTypes
import Hummingbird
import Logging
import OpenAPIRuntime
import RecoveryDomain
import RecoveryWire

/// Errors as RFC 9457 problem details, carrying the line protocol's code and
/// message (docs/HTTP.md, "Errors").
extension ProtocolError {
    /// The HTTP status of each code.
    var status: Int {
        switch code {
        case .badRequest: 400
        case .authRequired: 401
        case .forbidden: 403
        case .notFound, .unknownCommand: 404
        case .timeout: 408
        case .conflict, .budgetExceeded, .caseClosed, .chainBroken: 409
        case .tooLarge: 413
        case .invalid: 422
        case .slowConsumer: 429
        case .internalError: 500
        case .unavailable, .readOnly: 503
        }
    }

    var problem: Components.Schemas.Problem {
        Components.Schemas.Problem(
            _type: "urn:recoveryd:error:\(code.rawValue)", title: Self.titles[code] ?? code.rawValue, status: status,
            code: Components.Schemas.ErrorCode(rawValue: code.rawValue) ?? ._internal, detail: message)
    }

    /// The `default` answer of every operation.
    var response: Components.Responses.Problem { .init(body: .applicationProblemJson(problem)) }

    /// The same problem as a Hummingbird response, for errors met outside an operation.
    var httpResponse: Response {
        let body: [String: JSONValue] = [
            "type": .string("urn:recoveryd:error:\(code.rawValue)"), "title": .string(Self.titles[code] ?? code.rawValue),
            "status": .integer(Int64(status)), "code": .string(code.rawValue), "detail": .string(message),
        ]
        var headers: HTTPFields = [.contentType: "application/problem+json; charset=utf-8"]
        if code == .authRequired { headers[.wwwAuthenticate] = "Bearer" }
        return Response(
            status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: CanonicalJSON.encode(.object(body)))))
    }

    private static let titles: [ErrorCode: String] = [
        .badRequest: "Bad request", .unknownCommand: "No such operation", .authRequired: "Authentication required",
        .forbidden: "Forbidden", .invalid: "Invalid event", .notFound: "Not found", .conflict: "Conflict",
        .budgetExceeded: "Budget exceeded", .caseClosed: "Case closed", .tooLarge: "Too large", .unavailable: "Unavailable",
        .internalError: "Internal error", .chainBroken: "Chain broken", .slowConsumer: "Slow consumer", .timeout: "Timeout",
        .readOnly: "Read only",
    ]

    /// Any error as a protocol error: the server's own, the generated
    /// code's (a parameter or body that does not decode), Hummingbird's.
    static func from(_ error: any Error) -> ProtocolError {
        switch error {
        case let error as ProtocolError: return error
        case let error as ServerError:
            if let integer = notAnInteger(error) { return ProtocolError(.badRequest, "\(integer) must be an integer") }
            return from(error.underlyingError, context: error.causeDescription)
        case let error as HTTPError:
            switch error.status {
            case .notFound: return ProtocolError(.unknownCommand, "no such operation; see docs/openapi.yaml")
            case .methodNotAllowed: return ProtocolError(.unknownCommand, "this path does not take this method; see docs/openapi.yaml")
            case .contentTooLarge: return ProtocolError(.tooLarge, error.body ?? "the body is too large")
            default: return ProtocolError(error.status.code >= 500 ? .internalError : .badRequest, error.body ?? "\(error.status)")
            }
        default: return ProtocolError(.badRequest, "\(error)")
        }
    }

    private static func from(_ error: any Error, context: String) -> ProtocolError {
        if let error = error as? ProtocolError { return error }
        if let error = error as? DecodingError { return ProtocolError(.badRequest, describe(error)) }
        let detail = "\(error)"
        return ProtocolError(.badRequest, detail == context || context.isEmpty ? detail : "\(context): \(detail)")
    }

    /// The query parameter that should have been an integer, named (the
    /// generated code's error does not say which): `name=value`.
    private static func notAnInteger(_ error: ServerError) -> String? {
        guard error.underlyingError is DecodingError, let path = error.request.path,
            let query = URLComponents(string: path)?.queryItems
        else { return nil }
        let integers: Set<String> = error.operationID == "verifyChain" ? ["from", "to"] : ["at", "after", "limit"]
        return query.first { integers.contains($0.name) && Int64($0.value ?? "") == nil }.map { "\($0.name)=\($0.value ?? "")" }
    }

    /// A parameter or body the generated code could not read, named.
    private static func describe(_ error: DecodingError) -> String {
        func name(_ context: DecodingError.Context) -> String {
            let path = context.codingPath.map(\.stringValue).filter { !$0.isEmpty }.joined(separator: ".")
            return path.isEmpty ? "the request" : path
        }
        switch error {
        case .typeMismatch(let type, let context):
            let wanted = [Int64.self, Int.self].contains(where: { $0 == type }) ? "an integer" : type == String.self ? "text" : "\(type)"
            return "\(name(context)) must be \(wanted)"
        case .valueNotFound(_, let context), .keyNotFound(_, let context):
            return "\(name(context)) is required"
        case .dataCorrupted(let context):
            return "\(name(context)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}

/// Turns every error thrown below it into a problem response.
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = HTTPContext
    let logger: Logger

    func handle(_ request: Request, context: HTTPContext, next: (Request, HTTPContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let problem = ProtocolError.from(error)
            if problem.code == .internalError { logger.error("HTTP request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"]) }
            return problem.httpResponse
        }
    }
}
