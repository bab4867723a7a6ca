import Foundation

/// A blocking TCP client of the line protocol, for tests: one request line out,
/// lines back, with a read timeout so a missing answer fails instead of hanging.
final class LineClient: @unchecked Sendable {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private(set) var isClosed = false

    init(port: Int, timeoutSeconds: Int = 30, receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DaemonError("socket failed") }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(fd)
            throw DaemonError("connect to port \(port) failed")
        }
    }

    deinit { close() }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        Glibc.close(fd)
    }

    func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { throw DaemonError("send failed: errno \(errno)") }
            offset += sent
        }
    }

    /// The next line without its LF; nil when the server closed the connection.
    func readLine() throws -> String? {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { return nil }
            guard count > 0 else { throw DaemonError("no answer within the timeout (errno \(errno))") }
            buffer += chunk[..<count]
        }
    }

    /// Sends one request and returns its final line.
    func request(_ line: String) throws -> String {
        try send(line + "\n")
        guard let answer = try readLine() else { throw DaemonError("connection closed before answering \(line.prefix(40))") }
        return answer
    }

    /// Sends a streaming request; returns the EVENT payloads and the final line.
    func stream(_ line: String) throws -> (events: [String], final: String) {
        try send(line + "\n")
        var events: [String] = []
        while let answer = try readLine() {
            if answer.hasPrefix("EVENT ") {
                events.append(String(answer.dropFirst(6)))
            } else {
                return (events, answer)
            }
        }
        throw DaemonError("connection closed during \(line)")
    }
}

/// Reads the JSON object of an `OK {…}` line.
func okObject(_ line: String) -> [String: Any]? {
    guard line.hasPrefix("OK {") else { return nil }
    return (try? JSONSerialization.jsonObject(with: Data(line.dropFirst(3).utf8))) as? [String: Any]
}

func errorCode(_ line: String) -> String? {
    guard line.hasPrefix("ERR ") else { return nil }
    return line.split(separator: " ").dropFirst().first.map(String.init)
}

/// Event JSON for tests.
enum Events {
    static func id(_ n: Int, salt: Int = 0) -> String { String(format: "%08x-0000-4000-8000-%012x", salt, n) }

    static func complaint(_ n: Int, caseID: String, agent: String = "A-7", baseline: Int = 6, salt: Int = 0) -> String {
        #"{"event_id":"\#(id(n, salt: salt))","type":"complaint","agent_id":"\#(agent)","case_id":"\#(caseID)","customer_id":"C-\#(n)","channel":"phone","category":"late","severity":3,"baseline":\#(baseline)}"#
    }

    static func compensation(_ n: Int, caseID: String, amount: Int, agent: String = "A-7", approvedBy: String? = nil, salt: Int = 0) -> String {
        let approval = approvedBy.map { #","approved_by":"\#($0)""# } ?? ""
        return #"{"event_id":"\#(id(n, salt: salt))","type":"compensation","agent_id":"\#(agent)","case_id":"\#(caseID)","amount":\#(amount),"currency":"USD","kind":"refund"\#(approval)}"#
    }

    static func followUp(_ n: Int, caseID: String, satisfaction: Int, salt: Int = 0) -> String {
        #"{"event_id":"\#(id(n, salt: salt))","type":"follow_up","agent_id":"A-7","case_id":"\#(caseID)","satisfaction":\#(satisfaction)}"#
    }
}
