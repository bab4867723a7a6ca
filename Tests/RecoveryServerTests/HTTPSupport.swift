import Foundation
import RecoveryDomain
import Testing

/// A daemon serving the HTTP API beside the line port.
final class HTTPDaemon {
    let daemon: Daemon
    let httpPort: Int

    /// `frozenAt`: the daemon's wall clock stands still at this time (libfaketime,
    /// as `DaemonClock` moves it), so two ledgers fed the same events record
    /// the same times and their chains can be compared hash for hash.
    init(arguments: [String] = [], frozenAt: String? = nil) throws {
        httpPort = try Daemon.freePort()
        var environment: [String: String] = [:]
        var clockFolder: URL?
        if let frozenAt {
            let folder = FileManager.default.temporaryDirectory.appending(path: "recoveryd-clock-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let clock = try DaemonClock(folder: folder)
            // An absolute time without `@` or a sign: libfaketime stops the clock there.
            try "\(frozenAt)\n".write(to: clock.file, atomically: true, encoding: .utf8)
            environment = clock.environment
            clockFolder = folder
        }
        daemon = try Daemon(arguments: ["--http-listen", "127.0.0.1:\(httpPort)"] + arguments, environment: environment)
        _ = clockFolder
        try waitFor("the HTTP API to listen") { (try? HTTPClient(port: httpPort)) != nil }
    }

    var port: Int { daemon.port }
    var log: String { daemon.log }

    /// An HTTP client with the token of `role` (or of a person-bound one, or none).
    func http(_ role: String? = "frontline", token: String? = nil, receiveBuffer: Int32? = nil, timeoutSeconds: Int = 30) throws -> HTTPClient {
        try HTTPClient(
            port: httpPort, token: token ?? role.flatMap { Daemon.tokens[$0] }, timeoutSeconds: timeoutSeconds, receiveBuffer: receiveBuffer)
    }
}

/// One answer, from either protocol, in a form both give alike: the `OK`
/// object (numbers compared by value: `0.500` and `0.5` are one number), or
/// the error's code and message.
enum Outcome: Equatable, CustomStringConvertible {
    case ok(JSONValue)
    case error(code: String, message: String)

    init(line: String) {
        if line.hasPrefix("OK "), let value = try? JSONParser.parse(Array(line.dropFirst(3).utf8)) {
            self = .ok(Self.normalized(value))
        } else if line == "OK" {
            self = .ok(.object([:]))
        } else if line.hasPrefix("ERR ") {
            let parts = line.split(separator: " ", maxSplits: 2).map(String.init)
            self = .error(code: parts.count > 1 ? parts[1] : "", message: parts.count > 2 ? parts[2] : "")
        } else {
            self = .error(code: "not an answer", message: line)
        }
    }

    init(http answer: HTTPClient.Answer) {
        guard let object = answer.object else {
            self = .error(code: "not JSON (\(answer.status))", message: answer.text)
            return
        }
        if answer.status == 200 {
            self = .ok(Self.normalized(.object(object)))
        } else if case .string(let code)? = object["code"], case .string(let detail)? = object["detail"],
            answer.headers["content-type"]?.hasPrefix("application/problem+json") == true
        {
            self = .error(code: code, message: detail)
        } else {
            self = .error(code: "not a problem (\(answer.status))", message: answer.text)
        }
    }

    var object: [String: JSONValue]? { if case .ok(.object(let object)) = self { object } else { nil } }

    /// Keeps only `keys` of an `OK` object (answers that differ by design
    /// between two daemons: a signature, an uptime).
    func keeping(_ keys: Set<String>) -> Outcome {
        guard let object else { return self }
        return .ok(.object(object.filter { keys.contains($0.key) }))
    }

    func dropping(_ keys: Set<String>) -> Outcome {
        guard let object else { return self }
        return .ok(.object(object.filter { !keys.contains($0.key) }))
    }

    static func normalized(_ value: JSONValue) -> JSONValue {
        switch value {
        case .integer(let number): .fraction(Decimal(number).description)
        case .fraction(let text): .fraction((Decimal(string: text) ?? 0).description)
        case .array(let items): .array(items.map(normalized))
        case .object(let members): .object(members.mapValues(normalized))
        default: value
        }
    }

    var description: String {
        switch self {
        case .ok(let value): "OK \(CanonicalJSON.encodeString(value))"
        case .error(let code, let message): "ERR \(code) \(message)"
        }
    }
}

/// The operation ids of docs/openapi.yaml.
func specOperations() throws -> Set<String> {
    let text = try String(contentsOf: repositoryFile("docs/openapi.yaml"), encoding: .utf8)
    return Set(text.split(separator: "\n").compactMap { line -> String? in
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("operationId:") else { return nil }
        return trimmed.dropFirst("operationId:".count).trimmingCharacters(in: .whitespaces)
    })
}

func repositoryFile(_ path: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appending(path: "../../\(path)").standardizedFileURL
}
