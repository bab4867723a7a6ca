import Foundation
@testable import LedgerStore
import PostgresTestSupport
import RecoveryDomain
import Testing

/// Every wait on PostgreSQL has a deadline (issue 15), against real servers:
/// a COMMIT that waits for a synchronous standby that never comes, a cancelled
/// wait that PostgreSQL reports as success with a warning, a slow statement,
/// and a server that accepts a connection and never answers.
@Suite("Deadlines on every wait for PostgreSQL", .tags(.postgres))
struct DeadlineTests {
    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = (ContinuousClock.now - start).components
        return Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
    }

    @Test func aCommitPastItsDeadlineIsAnUnknownOutcomeNeverASuccess() throws {
        let dedicated = try TestPostgres.dedicated()
        let db = try dedicated.database()
        let log = try Fixtures.appender(db, timeouts: PGTimeouts(commit: .seconds(1)))
        try dedicated.waitForAGhostStandby(true)
        let started = ContinuousClock.now
        let answer = log.append([Fixtures.complaint(1)])
        guard case .unavailable(let message) = answer[0] else {
            Issue.record("not an unknown outcome: \(answer)")
            return
        }
        #expect(message.contains("the outcome of the commit is unknown"), "\(message)")
        #expect(Self.seconds(since: started) < 5, "the COMMIT was not abandoned at its deadline")
        #expect(log.log == nil && !log.driver.machine.isConnected, "the connection is dropped, not reused")
        // Released, the abandoned COMMIT completes on the server: the outcome
        // really was unknown to the client, and it did commit.
        try dedicated.waitForAGhostStandby(false)
        #expect(try Fixtures.count(db) == 1)
    }

    @Test func aCancelledWaitForTheStandbyIsAnUnknownOutcomeThoughPostgresSaysSuccess() throws {
        let dedicated = try TestPostgres.dedicated()
        let db = try dedicated.database()
        let connection = try PGConnection(db, timeouts: PGTimeouts(commit: .seconds(30)))
        let pid = connection.backendPID
        try dedicated.waitForAGhostStandby(true)
        let canceller = Thread {
            usleep(1_000_000)
            _ = try? PGConnection(db).query("SELECT pg_cancel_backend($1)", [.int(pid)])
        }
        canceller.start()
        #expect {
            try connection.transaction { try connection.execute("CREATE TABLE cancelled (x int)") }
        } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.code == .commitUnknown && error.message.contains("warning")
        }
        try dedicated.waitForAGhostStandby(false)
    }

    @Test func aStatementPastItsDeadlineThrowsAndDropsTheConnection() throws {
        let db = try TestPostgres.database()
        let connection = try PGConnection(db, timeouts: PGTimeouts(statement: .seconds(1)))
        let started = ContinuousClock.now
        #expect {
            try connection.query("SELECT pg_sleep(20)")
        } throws: { error in
            (error as? StoreError)?.code == .timeout
        }
        #expect(Self.seconds(since: started) < 5)
        #expect(!connection.isConnected)
        #expect(throws: StoreError.self) { try connection.query("SELECT 1") }
    }

    @Test func aServerThatNeverAnswersIsGivenUpAtTheConnectDeadline() throws {
        // A TCP listener that accepts connections and never says anything.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(listener, 8)
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        let port = UInt16(bigEndian: bound.sin_port)
        let started = ContinuousClock.now
        #expect {
            try PGConnection("host=127.0.0.1 port=\(port) user=x dbname=x sslmode=disable connect_timeout=60", timeouts: PGTimeouts(connect: .seconds(1)))
        } throws: { error in
            (error as? StoreError)?.code == .timeout
        }
        #expect(Self.seconds(since: started) < 5)
    }

    @Test func theHostWhoseCommitTimedOutIsTriedLast() {
        let parameters: [(key: String, value: String)] = [("host", "a,b,c"), ("port", "1,2,3"), ("dbname", "ledger")]
        let moved = HostOrder.moving("a:1", toTheEndOf: parameters)
        #expect(moved.map { "\($0.key)=\($0.value)" } == ["host=b,c,a", "port=2,3,1", "dbname=ledger"])
        #expect(HostOrder.moving("c:3", toTheEndOf: parameters).map(\.value) == ["a,b,c", "1,2,3", "ledger"], "already last")
        let onePort: [(key: String, value: String)] = [("host", "a,b"), ("port", "5432")]
        #expect(HostOrder.moving("a:5432", toTheEndOf: onePort).map(\.value) == ["b,a", "5432"])
        #expect(HostOrder.moving("z:1", toTheEndOf: parameters).map(\.value) == ["a,b,c", "1,2,3", "ledger"], "unknown host: unchanged")
    }

    @Test func aConninfoMaySetItsOwnSocketSettingsOverTheDefaults() throws {
        let db = try TestPostgres.database()
        let connection = try PGConnection(db + " keepalives_idle=77")
        #expect(try connection.query("SELECT 1").int64(0, 0) == 1)
        let keys = try PGConnection.parameters(db + " keepalives_idle=77", timeouts: PGTimeouts(), avoiding: nil)
        #expect(keys.last { $0.key == "keepalives_idle" }?.value == "77", "the conninfo comes after the defaults")
        #expect(keys.contains { $0.key == "tcp_user_timeout" })
    }
}
