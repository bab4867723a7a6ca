import Foundation
import LedgerStore
import PostgresTestSupport
import Testing

/// The embedded cluster is private to the daemon's OS user (issue 11).
/// Running a program as another user needs root, which the test run has in CI.
@Suite("A private PostgreSQL cluster", .enabled(if: getuid() == 0, "needs root to act as another local user"), .tags(.postgres))
struct LocalClusterSecurityTests {
    private static func mode(_ url: URL) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int) ?? -1
    }

    private static func psqlAsNobody(_ cluster: LocalCluster) -> (failed: Bool, output: String) { cluster.psql(asOSUser: "nobody") }

    @Test func anotherLocalUserCannotConnect() throws {
        let dedicated = try TestPostgres.dedicated()
        let cluster = dedicated.cluster
        #expect(try Self.mode(cluster.directory) == 0o700)
        #expect(try Self.mode(cluster.dataDirectory) == 0o700)
        let socket = cluster.directory.appending(path: ".s.PGSQL.5432")
        #expect(try Self.mode(socket) & 0o777 == 0o700)
        let hba = try String(contentsOf: cluster.dataDirectory.appending(path: "pg_hba.conf"), encoding: .utf8)
        #expect(!hba.contains("trust"))
        #expect(hba.contains("local all all peer map=recoveryd"))

        let nobody = Self.psqlAsNobody(cluster)
        #expect(nobody.failed)
        #expect(nobody.output.contains("Permission denied"), "\(nobody.output)")
        // The daemon's own user still gets in.
        #expect(try PGConnection(cluster.conninfo()).query("SELECT 1").int64(0, 0) == 1)
    }

    /// Root runs the cluster as `postgres`, an OS user shared with the
    /// distribution's own server and every other such cluster: it owns the
    /// files, but the map does not let it log in.
    @Test func theOSUserTheClusterRunsAsCannotLogIn() throws {
        let dedicated = try TestPostgres.dedicated()
        let cluster = dedicated.cluster
        let ident = try String(contentsOf: cluster.dataDirectory.appending(path: "pg_ident.conf"), encoding: .utf8)
        #expect(!ident.split(separator: "\n").contains { $0.hasPrefix("recoveryd \(cluster.user) ") }, "\(ident)")
        for role in ["postgres", "recoveryd"] {
            let attempt = cluster.psql(asOSUser: cluster.user, role: role)
            #expect(attempt.failed, "\(attempt.output)")
            #expect(attempt.output.contains("Peer authentication failed"), "\(attempt.output)")
        }
        // Logical replication connections run SQL too: they are held to the databases' map.
        let logical = cluster.psql(asOSUser: cluster.user, database: "replication=database dbname=postgres")
        #expect(logical.failed && logical.output.contains("Peer authentication failed"), "\(logical.output)")
        #expect(try PGConnection(cluster.conninfo()).query("SELECT 1").int64(0, 0) == 1)
    }

    @Test func peerAuthenticationRefusesAnUnmappedUserEvenPastTheFolder() throws {
        let dedicated = try TestPostgres.dedicated()
        let cluster = dedicated.cluster
        // Open the folder and the socket as a careless operator might: the
        // authentication still refuses, because `nobody` is not in the map.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: cluster.directory.path)
        let socket = cluster.directory.appending(path: ".s.PGSQL.5432")
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: socket.path)
        let nobody = Self.psqlAsNobody(cluster)
        #expect(nobody.failed)
        #expect(nobody.output.contains("Peer authentication failed"), "\(nobody.output)")
    }

    @Test func aClusterMadeWithTrustIsLockedDownInPlaceOnStart() throws {
        let dedicated = try TestPostgres.dedicated()
        let cluster = dedicated.cluster
        try cluster.stop()
        // What older versions left behind.
        try "local all all trust\n".write(to: cluster.dataDirectory.appending(path: "pg_hba.conf"), atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: cluster.directory.path)
        try cluster.start()
        #expect(try Self.mode(cluster.directory) == 0o700)
        let hba = try String(contentsOf: cluster.dataDirectory.appending(path: "pg_hba.conf"), encoding: .utf8)
        #expect(!hba.contains("trust"))
        let nobody = Self.psqlAsNobody(cluster)
        #expect(nobody.failed)
        #expect(try PGConnection(cluster.conninfo()).query("SELECT 1").int64(0, 0) == 1)
    }
}
