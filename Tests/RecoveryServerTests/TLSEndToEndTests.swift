import Foundation
import RecoveryWire
import LedgerStore
import PostgresTestSupport
import RecoveryClient
import Testing

/// TLS on the listener (issue 11), with a throwaway CA made inside the test
/// by the `openssl` command (deploy/install-deps.sh installs it).
@Suite("TLS and mutual TLS", .tags(.processes))
struct TLSEndToEndTests {
    /// A CA, a server certificate for 127.0.0.1, a client certificate, and a
    /// second CA that signed none of them.
    final class Certificates {
        let folder: URL
        init() throws {
            folder = FileManager.default.temporaryDirectory.appending(path: "recoveryd-tls-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(to: path("server.ext"), atomically: true, encoding: .utf8)
            try "extendedKeyUsage=clientAuth\n".write(to: path("client.ext"), atomically: true, encoding: .utf8)
            for ca in ["ca", "other-ca"] {
                try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", file("\(ca).key"),
                    "-out", file("\(ca).pem"), "-days", "2", "-subj", "/CN=recoveryd test \(ca)"])
            }
            for (name, subject) in [("server", "/CN=localhost"), ("client", "/CN=auditor-laptop")] {
                try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", file("\(name).key"),
                    "-out", file("\(name).csr"), "-subj", subject])
                try openssl(["x509", "-req", "-in", file("\(name).csr"), "-CA", file("ca.pem"), "-CAkey", file("ca.key"), "-CAcreateserial",
                    "-out", file("\(name).pem"), "-days", "2", "-extfile", file("\(name).ext")])
            }
        }
        deinit { try? FileManager.default.removeItem(at: folder) }

        func path(_ name: String) -> URL { folder.appending(path: name) }
        func file(_ name: String) -> String { path(name).path }

        private func openssl(_ arguments: [String]) throws {
            _ = try ChildProcess.run("/usr/bin/env", ["openssl"] + arguments, currentDirectory: folder)
        }
    }

    /// True when a connection with `tls` gets no answer to PING: the
    /// handshake fails, or the server ends the connection right after it.
    static func refused(_ daemon: Daemon, _ tls: ClientTLS?) async -> Bool {
        do {
            let connection = try await LineConnection(port: daemon.port, timeoutSeconds: 10, tls: tls)
            return !(try await connection.request("PING")).hasPrefix("OK")
        } catch {
            return true
        }
    }

    @Test func theListenerSpeaksTLSOnlyAndTheClientChecksTheServer() async throws {
        try await onOwnThread {
            let certificates = try Certificates()
            let daemon = try Daemon(arguments: ["--tls-cert", certificates.file("server.pem"), "--tls-key", certificates.file("server.key")])
            let trusted = ClientTLS(caFile: certificates.file("ca.pem"))
            let client = try await LineConnection(port: daemon.port, tls: trusted)
            #expect(okObject(try await client.request("HELLO front-token"))?["role"] as? String == "frontline")
            #expect(okObject(try await client.request("APPEND " + Events.complaint(1, caseID: "S-1"))) != nil)

            // Plain TCP: the server takes the request line for a broken handshake and closes.
            #expect(await Self.refused(daemon, nil))
            // A client that does not trust the server's CA ends the handshake itself.
            let wrongCA = await #expect(throws: ClientError.self) { try await LineConnection(port: daemon.port, tls: ClientTLS(caFile: certificates.file("other-ca.pem"))) }
            #expect(wrongCA?.description.contains("TLS handshake") == true, "\(wrongCA?.description ?? "")")
            #expect(daemon.log.contains("TLS handshake or record failed"), "\(daemon.log)")

            // recoveryctl, and the docs' Python verifier, over TLS.
            let head = try RecoveryCtlTests.ctl(daemon, "auditor", ["head", "--tls-ca", certificates.file("ca.pem")])
            #expect(head.status == 0, "\(head.output)")
            #expect(try HeadCheck.read(head.output).first?.position == 1)
            let plain = try RecoveryCtlTests.ctl(daemon, "auditor", ["head"])
            #expect(plain.status != 0)
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appending(path: "../../docs/verify_replay.py").standardizedFileURL.path
            let output = certificates.file("python.out")
            let pid = try Daemon.spawn(
                "/usr/bin/env", ["RECOVERYD_TLS_CA=\(certificates.file("ca.pem"))", "python3", script, "127.0.0.1", "\(daemon.port)", "audit-token"],
                output: output)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            let python = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            #expect(python.contains("chain verified 1 events, last 1"), "\(python)")
        }
    }

    @Test func mutualTLSRequiresAClientCertificateFromTheGivenCA() async throws {
        try await onOwnThread {
            let certificates = try Certificates()
            let daemon = try Daemon(arguments: [
                "--tls-cert", certificates.file("server.pem"), "--tls-key", certificates.file("server.key"),
                "--tls-client-ca", certificates.file("ca.pem"),
            ])
            let withCertificate = ClientTLS(
                caFile: certificates.file("ca.pem"), certificateFile: certificates.file("client.pem"), keyFile: certificates.file("client.key"))
            let client = try await LineConnection(port: daemon.port, tls: withCertificate)
            #expect(okObject(try await client.request("HELLO audit-token")) != nil)
            #expect(okObject(try await client.request("VERIFY")) != nil)

            #expect(await Self.refused(daemon, ClientTLS(caFile: certificates.file("ca.pem"))))
            // A certificate from another CA is no better.
            let foreign = certificates.folder.appending(path: "foreign")
            try FileManager.default.createDirectory(at: foreign, withIntermediateDirectories: true)
            _ = try ChildProcess.run(
                "/usr/bin/env",
                ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "self.key", "-out", "self.pem",
                    "-days", "2", "-subj", "/CN=intruder"], currentDirectory: foreign)
            #expect(await Self.refused(daemon, ClientTLS(
                caFile: certificates.file("ca.pem"), certificateFile: foreign.appending(path: "self.pem").path,
                keyFile: foreign.appending(path: "self.key").path)))
        }
    }

    @Test func badTLSFilesStopTheStartWithTheirNames() async throws {
        try await onOwnThread {
            let conninfo = try TestPostgres.database(migrated: false)
            let folder = FileManager.default.temporaryDirectory.appending(path: "recoveryd-tls-bad-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            try "admin \(TokenFileDigest.of("x"))\n".write(to: folder.appending(path: "tokens"), atomically: true, encoding: .utf8)
            try "not a certificate".write(to: folder.appending(path: "cert.pem"), atomically: true, encoding: .utf8)
            let run = try Daemon.run([
                "serve", "--listen", "127.0.0.1:0", "--database", conninfo, "--token-file", folder.appending(path: "tokens").path,
                "--data-dir", folder.path, "--tls-cert", folder.appending(path: "cert.pem").path, "--tls-key", folder.appending(path: "key.pem").path,
            ])
            #expect(run.status != 0)
            #expect(run.output.contains("cannot use \(folder.appending(path: "cert.pem").path) as the TLS certificate"), "\(run.output)")
            let half = try Daemon.run(["serve", "--tls-cert", "x.pem"])
            #expect(half.output.contains("--tls-cert and --tls-key go together"), "\(half.output)")
        }
    }
}
