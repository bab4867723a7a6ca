import Foundation
import Testing

/// Tokens in clear on a network, and a TLS key others may read, are said
/// out loud (issue 24). None of these runs serve: each stops before binding.
@Suite("Warnings about tokens in clear and readable keys", .tags(.processes))
struct ExposureWarningsTests {
    private static func folder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appending(path: "recoveryd-exposure-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// `recoveryctl status` against `server` with a throwaway token.
    private static func status(_ server: String, in folder: URL) throws -> String {
        let output = folder.appending(path: "ctl-\(UUID().uuidString.prefix(6)).out").path
        let pid = try Daemon.spawn(
            "/usr/bin/env",
            ["RECOVERYD_TOKEN=not-a-real-token", "RECOVERYD_KNOWN_KEYS=" + folder.appending(path: "known_keys").path, RecoveryCtlTests.binary,
                "status", "--server", server], output: output)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect((status >> 8) & 0xff != 0, "nothing listens there")
        return try String(contentsOfFile: output, encoding: .utf8)
    }

    @Test func recoveryctlWarnsBeforeSendingATokenInClearToANonLoopbackHost() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let port = try Daemon.freePort()
        // 0.0.0.0 is no loopback address (connecting to it reaches this host, where nothing listens).
        let remote = try Self.status("0.0.0.0:\(port)", in: folder)
        #expect(remote.contains("warning: the token goes to 0.0.0.0:\(port) in clear"), "\(remote)")
        #expect(remote.components(separatedBy: "in clear").count == 2, "said once")
        for loopback in ["127.0.0.1:\(port)", "localhost:\(port)", "[::1]:\(port)"] {
            let local = try Self.status(loopback, in: folder)
            #expect(!local.contains("in clear"), "\(loopback): \(local)")
        }
    }

    @Test func serveWarnsOfAWildcardListenerWithoutTLSAndOfAReadableTLSKey() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let key = folder.appending(path: "key.pem")
        try "not read: the start stops at the database first\n".write(to: key, atomically: true, encoding: .utf8)
        chmod(key.path, 0o644)
        // A database that cannot be reached ends the start before anything binds.
        let unreachable = "host=\(folder.appending(path: "no-socket-here").path) dbname=ledger connect_timeout=2"
        let plain = try Daemon.run([
            "serve", "--listen", "0.0.0.0:\(try Daemon.freePort())", "--database", unreachable, "--data-dir", folder.appending(path: "a").path,
        ])
        #expect(plain.status != 0)
        #expect(plain.output.contains("listening on a network address without TLS"), "\(plain.output)")

        let local = try Daemon.run([
            "serve", "--listen", "127.0.0.1:\(try Daemon.freePort())", "--database", unreachable, "--data-dir", folder.appending(path: "b").path,
            "--tls-cert", key.path, "--tls-key", key.path,
        ])
        #expect(local.status != 0)
        #expect(!local.output.contains("without TLS"), "\(local.output)")
        #expect(local.output.contains("the TLS private key may be read by others (mode 644); run `chmod 600 \(key.path)`"), "\(local.output)")
    }
}
