import Foundation
import RecoveryClient
import Testing

/// Issue 24: no one without a token can lock others out. A peer's silent
/// connections (no HELLO, no TLS handshake) are capped per peer, the pool of
/// them evicts its oldest, and a connection that never said HELLO is closed
/// at once when its time is up.
@Suite("Connections before HELLO: fair to every peer", .serialized, .tags(.processes))
struct PreAuthFairnessEndToEndTests {
    /// Opens `count` TCP connections from `source` (a loopback address) to
    /// `port` that never send a byte; the caller closes them.
    static func silentConnections(_ count: Int, from source: String, to port: Int) -> [Int32] {
        var descriptors: [Int32] = []
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { break }
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            inet_pton(AF_INET, source, &local.sin_addr)
            var remote = sockaddr_in()
            remote.sin_family = sa_family_t(AF_INET)
            remote.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            let bound = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard bound == 0 else {
                close(fd)
                continue
            }
            _ = withUnsafePointer(to: &remote) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            descriptors.append(fd)
        }
        return descriptors
    }

    /// The daemon's resident memory, in KiB.
    static func rss(_ pid: pid_t) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }

    /// How long a valid client from 127.0.0.1 takes to connect (with TLS,
    /// its handshake included) and then to have its HELLO answered OK.
    static func hello(_ daemon: Daemon, tls: ClientTLS?) async throws -> (connect: Duration, hello: Duration) {
        // On a thread of its own: a busy test pool must not count as the daemon's latency.
        try await withTaskExecutorPreference(DedicatedExecutor.shared) {
            let started = ContinuousClock.now
            let client = try await LineConnection(port: daemon.port, timeoutSeconds: 5, tls: tls)
            let connected = ContinuousClock.now
            let answer = try await client.request("HELLO front-token")
            let answered = ContinuousClock.now
            guard answer.hasPrefix("OK ") else { throw DaemonError("HELLO was answered \(answer)") }
            client.close()
            return (connected - started, answered - connected)
        }
    }

    @Test(arguments: [false, true])
    func twoThousandSilentConnectionsFromOnePeerNeverKeepAnotherPeersHelloWaiting(tls: Bool) async throws {
        try await onOwnThread {
            let certificates = tls ? try TLSEndToEndTests.Certificates() : nil
            let arguments = certificates.map { ["--tls-cert", $0.file("server.pem"), "--tls-key", $0.file("server.key")] } ?? []
            let daemon = try Daemon(arguments: arguments + ["--hello-timeout", "2"])
            let clientTLS = certificates.map { ClientTLS(caFile: $0.file("ca.pem")) }
            let before = Self.rss(daemon.pid)
            let silent = Self.silentConnections(2_000, from: "127.0.0.2", to: daemon.port)
            defer { silent.forEach { close($0) } }
            #expect(silent.count == 2_000)
            // While they are held, and again after the hello timeout has passed for them.
            for round in 0..<4 {
                let took = try await Self.hello(daemon, tls: clientTLS)
                #expect(took.hello < .seconds(1), "round \(round): HELLO took \(took.hello)")
                // Connecting (and the TLS handshake) is never held up by them either.
                #expect(took.connect < .seconds(2), "round \(round): connecting took \(took.connect)")
                try await Task.sleep(for: .milliseconds(round == 1 ? 2_500 : 200))
            }
            let auditor = try await LineConnection(port: daemon.port, timeoutSeconds: 5, tls: clientTLS)
            _ = try await auditor.request("HELLO audit-token")
            let status = try #require(okObject(try await auditor.request("STATUS")))
            #expect((status["unauthenticated"] as? Int ?? 99) <= 8, "one peer holds at most 8 places before HELLO")
            #expect(Self.rss(daemon.pid) - before < 64 * 1024, "RSS grew by \(Self.rss(daemon.pid) - before) KiB")
            #expect(daemon.log.contains("waiting for HELLO (limit 8)"), "refusals are logged with the limit")
        }
    }

    @Test func aFullPoolClosesItsOldestToAdmitTheNewcomer() async throws {
        try await onOwnThread {
            let daemon = try Daemon(arguments: ["--max-unauthenticated", "16", "--max-unauthenticated-per-peer", "8"])
            let auditor = try daemon.client("auditor")
            // Four peers, eight silent connections each: twice the pool.
            var silent: [Int32] = []
            defer { silent.forEach { close($0) } }
            for peer in 2...5 {
                silent += Self.silentConnections(8, from: "127.0.0.\(peer)", to: daemon.port)
                try await Task.sleep(for: .milliseconds(100))
            }
            try await eventually("the pool to fill") { (okObject(try auditor.request("STATUS"))?["unauthenticated"] as? Int) == 16 }
            // A newcomer with a token gets in at once, by evicting the oldest.
            #expect(try await Self.hello(daemon, tls: nil).hello < .seconds(1))
            // The evicted ones were told why (the first peer's, the oldest, on their sockets).
            var buffer = [UInt8](repeating: 0, count: 256)
            let got = silent.prefix(8).map { fd -> String in
                let n = read(fd, &buffer, buffer.count)
                return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : ""
            }
            #expect(got.contains { $0.hasPrefix("ERR unavailable too many connections waiting for HELLO (limit 16); this, the oldest, is closed") }, "\(got)")
            // An authenticated connection is never evicted.
            let kept = try daemon.client("frontline")
            silent += Self.silentConnections(8, from: "127.0.0.6", to: daemon.port)
            silent += Self.silentConnections(8, from: "127.0.0.7", to: daemon.port)
            #expect(try kept.request("PING") == #"OK {"pong":true}"#)
            // HELLO advertises both limits.
            let hello = try #require(okObject(try LineClient(port: daemon.port).request("HELLO audit-token")))
            #expect(hello["max_unauthenticated"] as? Int == 16 && hello["max_unauthenticated_per_peer"] as? Int == 8)
        }
    }
}
