import Foundation
import RecoveryWire

/// A blocking line client on a plain socket, for tests and load generation:
/// it speaks raw lines (bytes in, bytes out) to a real daemon, so what it
/// checks does not depend on `RecoveryClient`, and a load generator's threads
/// pay no more per request than a `send` and a `recv`. Plain TCP only (the
/// TLS tests use `RecoveryClient`). One thread at a time; a read timeout
/// turns a missing answer into an error instead of a hang.
/// Sendable with no lock: it is used by one thread at a time, and handed to
/// a thread (a load generator's) only when that thread starts.
public final class LineClient: @unchecked Sendable {
    private var fd: Int32 = -1
    private let timeoutSeconds: Int
    private var buffer: [UInt8] = []
    private var start = 0
    public private(set) var isClosed = false

    /// Connects to `host:port` (a name or an address; IPv4 or IPv6).
    /// `sendTimeoutSeconds` bounds a send the server does not take (it then
    /// throws); `receiveBuffer` sets `SO_RCVBUF` (a slow reader's window).
    public init(host: String = "127.0.0.1", port: Int, timeoutSeconds: Int = 30, receiveBuffer: Int32? = nil, sendTimeoutSeconds: Int? = nil) throws {
        self.timeoutSeconds = timeoutSeconds
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var results: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &results)
        guard status == 0, let first = results else {
            throw ClientError("cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(results) }
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        var connected: Int32 = -1
        var lastError: Int32 = 0
        while let info = candidate {
            let socketFD = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
            if socketFD >= 0 {
                if var size = receiveBuffer {
                    setsockopt(socketFD, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
                }
                if connect(socketFD, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 {
                    connected = socketFD
                    break
                }
                lastError = errno
                Glibc.close(socketFD)
            }
            candidate = info.pointee.ai_next
        }
        guard connected >= 0 else {
            throw ClientError("cannot connect to \(host):\(port): \(String(cString: strerror(lastError)))")
        }
        fd = connected
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if let sendTimeoutSeconds {
            var sendTimeout = timeval(tv_sec: sendTimeoutSeconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &sendTimeout, socklen_t(MemoryLayout<timeval>.size))
        }
        var noDelay: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close() }

    public func close() {
        guard !isClosed else { return }
        isClosed = true
        Glibc.close(fd)
    }

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else {
                throw ClientError(errno == EAGAIN ? "the server took nothing within the send timeout" : "send failed: \(String(cString: strerror(errno)))")
            }
            offset += sent
        }
    }

    /// The next line's bytes without its LF; nil when the server closed.
    public func readLineBytes() throws -> [UInt8]? {
        while true {
            if let newline = buffer[start...].firstIndex(of: 0x0A) {
                let line = Array(buffer[start..<newline])
                start = newline + 1
                if start > 65_536 {
                    buffer.removeFirst(start)
                    start = 0
                }
                return line
            }
            guard try receive() else { return nil }
        }
    }

    /// Appends what the socket has to the buffer; false when the server closed.
    private func receive() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count == 0 { return false }
        guard count > 0 else {
            throw ClientError(errno == EAGAIN ? "no answer within the timeout" : "receive failed: \(String(cString: strerror(errno)))")
        }
        buffer += chunk[..<count]
        return true
    }

    /// The next `count` bytes (a body after its headers); nil when the server
    /// closed before sending them all.
    public func readBytes(_ count: Int) throws -> [UInt8]? {
        while buffer.count - start < count {
            guard try receive() else { return nil }
        }
        let bytes = Array(buffer[start..<start + count])
        start += count
        if start > 65_536 {
            buffer.removeFirst(start)
            start = 0
        }
        return bytes
    }

    /// The next line as text; nil when the server closed.
    public func readLine() throws -> String? { try readLineBytes().map { String(decoding: $0, as: UTF8.self) } }

    /// Sends one request and returns its final line.
    public func request(_ line: String) throws -> String {
        try send(line + "\n")
        guard let answer = try readLine() else { throw ClientError("the server closed the connection before answering") }
        return answer
    }

    /// Sends a streaming request (REPLAY); returns the EVENT payloads and the final line.
    public func stream(_ line: String) throws -> (events: [String], final: String) {
        try send(line + "\n")
        var events: [String] = []
        while let answer = try readLine() {
            if answer.hasPrefix("EVENT ") {
                events.append(String(answer.dropFirst(6)))
            } else {
                return (events, answer)
            }
        }
        throw ClientError("the server closed the connection during \(line.prefix(40))")
    }
}

extension LineClient {
    /// Sends one request and reads its `OK` answer as `T`.
    public func call<T: WireReply>(_ request: String, as type: T.Type) throws -> T {
        try Answer(self.request(request)).decode(type)
    }
}
