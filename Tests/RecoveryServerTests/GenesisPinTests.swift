import Crypto
import Foundation
import RecoveryClient
import Testing

/// A server that lies about the hash before position 1 (issue 11): its
/// chain is self-consistent from a made-up start, so only a verifier that
/// starts from the genesis hash itself notices.
@Suite("recoveryctl pins the genesis hash", .tags(.processes))
struct GenesisPinTests {
    /// Serves one connection: HELLO, then REPLAY with a chain that starts at `start`.
    final class LyingServer: @unchecked Sendable {
        let port: Int
        private let fd: Int32

        init(start: [UInt8]) throws {
            let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
            _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
            port = Int(UInt16(bigEndian: address.sin_port))
            fd = listener
            listen(listener, 4)
            Thread.detachNewThread {
                let client = accept(listener, nil, nil)
                guard client >= 0 else { return }
                defer { close(client) }
                let payload = #"{"agent_id":"A-1","case_id":"K-1","event_id":"00000000-0000-4000-8000-000000000001","position":1,"recorded_at":"2026-11-26T10:00:00.000000Z","type":"apology"}"#
                var hasher = SHA256()
                hasher.update(data: start)
                hasher.update(data: Array(payload.utf8))
                let hash = Array(hasher.finalize())
                var pending = ""
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let count = read(client, &buffer, buffer.count)
                    guard count > 0 else { return }
                    pending += String(decoding: buffer[0..<count], as: UTF8.self)
                    while let newline = pending.firstIndex(of: "\n") {
                        let line = String(pending[..<newline])
                        pending.removeSubrange(...newline)
                        var answer: String
                        if line.hasPrefix("HELLO") {
                            answer = #"OK {"server":"recoveryd","version":"0","protocol":1,"role":"auditor","position":1,"currency":"USD","time_zone":"UTC","max_line":65536}"#
                        } else if line.hasPrefix("REPLAY") {
                            answer = "EVENT \(payload)\n" + #"OK {"count":1,"last":1,"prev_hash":"\#(ChainVerifier.hex(start))","hash":"\#(ChainVerifier.hex(hash))"}"#
                        } else {
                            answer = "ERR unknown_command no"
                        }
                        answer += "\n"
                        _ = answer.utf8CString.withUnsafeBufferPointer { write(client, $0.baseAddress, $0.count - 1) }
                    }
                }
            }
        }

        deinit { close(fd) }
    }

    static func ctl(port: Int, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let folder = FileManager.default.temporaryDirectory.appending(path: "genesis-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try "any".write(to: folder.appending(path: "token"), atomically: true, encoding: .utf8)
        let output = folder.appending(path: "out").path
        let pid = try Daemon.spawn(
            "/usr/bin/env",
            ["RECOVERYD_KNOWN_KEYS=" + folder.appending(path: "known_keys").path, RecoveryCtlTests.binary]
                + arguments.map { $0.replacingOccurrences(of: "FOLDER", with: folder.path) }
                + ["--server", "127.0.0.1:\(port)", "--token-file", folder.appending(path: "token").path],
            output: output)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return ((status >> 8) & 0xff, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    @Test func replayFromOneRefusesAPrevHashOtherThanGenesis() throws {
        let server = try LyingServer(start: [UInt8](repeating: 0xab, count: 32))
        let result = try Self.ctl(port: server.port, ["replay", "--from", "1", "-o", "FOLDER/log.jsonl"])
        #expect(result.status == 1)
        #expect(result.output.contains("before position 1; the genesis hash is 64 zeros"), "\(result.output)")
    }

    @Test func verifyRefusesAPrevHashOtherThanGenesis() throws {
        let server = try LyingServer(start: [UInt8](repeating: 0xab, count: 32))
        let result = try Self.ctl(port: server.port, ["verify"])
        #expect(result.status == 1)
        #expect(result.output.contains("the genesis hash is 64 zeros"), "\(result.output)")
    }

    @Test func anHonestChainFromGenesisPasses() throws {
        let server = try LyingServer(start: ChainVerifier.genesis)
        let result = try Self.ctl(port: server.port, ["replay", "--from", "1", "-o", "FOLDER/log.jsonl"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("(chain verified)"))
    }
}
