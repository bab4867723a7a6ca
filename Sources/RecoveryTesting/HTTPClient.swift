import Foundation
import RecoveryDomain
import RecoveryWire

/// A blocking HTTP/1.1 client on ``LineClient``'s socket, for tests and load:
/// keep-alive requests with a body by `Content-Length`, answers by
/// `Content-Length` or chunked, and a Server-Sent Events reader. It speaks the
/// bytes itself, so what the tests check of the HTTP API does not depend on
/// any HTTP library. Plain TCP; one thread at a time.
public final class HTTPClient {
    public struct Answer: Sendable {
        public var status: Int
        /// Header names in lowercase.
        public var headers: [String: String]
        public var body: [UInt8]

        public var text: String { String(decoding: body, as: UTF8.self) }
        /// The body as a JSON object (nil when it is not one).
        public var object: [String: JSONValue]? {
            if case .object(let object)? = try? JSONParser.parse(body) { object } else { nil }
        }
    }

    /// One Server-Sent Event.
    public struct Event: Sendable, Equatable {
        public var id: String?
        public var event: String
        public var data: String
    }

    private let socket: LineClient
    private let host: String
    public var token: String?
    /// The rest of a chunked stream's text not yet parsed into events.
    private var streamText: [UInt8] = []
    private var streamEnded = false

    public init(host: String = "127.0.0.1", port: Int, token: String? = nil, timeoutSeconds: Int = 30, receiveBuffer: Int32? = nil) throws {
        socket = try LineClient(host: host, port: port, timeoutSeconds: timeoutSeconds, receiveBuffer: receiveBuffer)
        self.host = "\(host):\(port)"
        self.token = token
    }

    public func close() { socket.close() }

    /// Sends one request and reads its whole answer.
    @discardableResult
    public func request(_ method: String, _ path: String, body: [UInt8]? = nil, headers: [String: String] = [:]) throws -> Answer {
        try send(method, path, body: body, headers: headers)
        return try readAnswer(method: method)
    }

    public func get(_ path: String, headers: [String: String] = [:]) throws -> Answer { try request("GET", path, headers: headers) }

    public func post(_ path: String, json: String, headers: [String: String] = [:]) throws -> Answer {
        try request("POST", path, body: Array(json.utf8), headers: headers.merging(["Content-Type": "application/json"]) { $1 })
    }

    /// Sends a request without waiting for its answer (pipelining, or a stream).
    public func send(_ method: String, _ path: String, body: [UInt8]? = nil, headers: [String: String] = [:]) throws {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        try socket.send(Array(head.utf8) + (body ?? []))
    }

    /// Reads one answer's status line and headers.
    public func readHead() throws -> (status: Int, headers: [String: String]) {
        guard let statusLine = try socket.readLine() else { throw ClientError("the server closed the connection") }
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw ClientError("not an HTTP status line: \(statusLine.prefix(80))")
        }
        var headers: [String: String] = [:]
        while let line = try socket.readLine() {
            let text = line.hasSuffix("\r") ? String(line.dropLast()) : line
            if text.isEmpty { return (status, headers) }
            guard let colon = text.firstIndex(of: ":") else { throw ClientError("not a header: \(text.prefix(80))") }
            headers[text[..<colon].lowercased()] = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        throw ClientError("the server closed the connection in the headers")
    }

    /// Reads one whole answer.
    public func readAnswer(method: String = "GET") throws -> Answer {
        let (status, headers) = try readHead()
        var body: [UInt8] = []
        if method == "HEAD" || status == 204 || status == 304 {
        } else if headers["transfer-encoding"]?.lowercased() == "chunked" {
            while let chunk = try readChunk() { body += chunk }
        } else if let length = headers["content-length"].flatMap({ Int($0) }) {
            guard let bytes = try socket.readBytes(length) else { throw ClientError("the server closed the connection in the body") }
            body = bytes
        }
        return Answer(status: status, headers: headers, body: body)
    }

    /// One chunk of a chunked body; nil after the last.
    private func readChunk() throws -> [UInt8]? {
        guard let sizeLine = try socket.readLine() else { throw ClientError("the server closed the connection in a chunked body") }
        let digits = sizeLine.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
        guard let size = Int(digits, radix: 16) else { throw ClientError("not a chunk size: \(sizeLine.prefix(40))") }
        if size == 0 {
            // Trailers, then the blank line.
            while let line = try socket.readLine(), !(line.isEmpty || line == "\r") {}
            return nil
        }
        guard let data = try socket.readBytes(size), try socket.readLine() != nil else {
            throw ClientError("the server closed the connection in a chunk")
        }
        return data
    }

    /// Opens an event stream; the answer's head (a problem's body is read too).
    public func openStream(_ path: String, headers: [String: String] = [:]) throws -> Answer {
        try send("GET", path, headers: headers.merging(["Accept": "text/event-stream"]) { $1 })
        let (status, headers) = try readHead()
        streamText = []
        streamEnded = false
        if status != 200 {
            let length = headers["content-length"].flatMap { Int($0) } ?? 0
            return Answer(status: status, headers: headers, body: try socket.readBytes(length) ?? [])
        }
        return Answer(status: status, headers: headers, body: [])
    }

    /// The stream's next event (comments skipped); nil when the stream ended.
    /// Throws when the connection closes mid-stream.
    public func nextEvent() throws -> Event? {
        while true {
            if let end = Self.blankLine(in: streamText) {
                let block = String(decoding: streamText[..<end.start], as: UTF8.self)
                streamText.removeFirst(end.end)
                var event = Event(id: nil, event: "message", data: "")
                var data: [String] = []
                for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                    if line.hasPrefix(":") { continue }
                    let field = line.split(separator: ":", maxSplits: 1).map(String.init)
                    let value = field.count == 2 ? (field[1].hasPrefix(" ") ? String(field[1].dropFirst()) : field[1]) : ""
                    switch field.first {
                    case "id": event.id = value
                    case "event": event.event = value
                    case "data": data.append(value)
                    default: break
                    }
                }
                if data.isEmpty && event.id == nil { continue }
                event.data = data.joined(separator: "\n")
                return event
            }
            if streamEnded { return nil }
            guard let chunk = try readChunk() else {
                streamEnded = true
                continue
            }
            streamText += chunk
        }
    }

    private static func blankLine(in text: [UInt8]) -> (start: Int, end: Int)? {
        guard text.count >= 2 else { return nil }
        for index in 0..<(text.count - 1) where text[index] == 0x0A && text[index + 1] == 0x0A {
            return (index, index + 2)
        }
        return nil
    }
}
