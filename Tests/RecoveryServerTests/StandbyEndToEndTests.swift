import Foundation
import LedgerStore
import PostgresTestSupport
import RecoveryClient
import Testing

/// `recoveryd serve --standby` (issue 12): a second daemon on the same
/// database serves reads, refuses appends with the writer's address, and
/// takes over when the writer dies, with every acknowledged event kept.
@Suite("A standby daemon on the same database", .tags(.processes))
struct StandbyEndToEndTests {
    @Test func itServesReadsAndSendsAppendsToTheWriter() throws {
        let conninfo = try TestPostgres.database(migrated: false)
        let writer = try Daemon(conninfo: conninfo)
        let standby = try Daemon(conninfo: conninfo, arguments: ["--standby"])
        let front = try writer.client("frontline")
        #expect(okObject(try front.request("APPEND " + Events.complaint(1, caseID: "W-1"))) != nil)
        #expect(okObject(try front.request("APPEND " + Events.compensation(2, caseID: "W-1", amount: 2_500))) != nil)

        let reader = try standby.client()
        var hello: [String: Any] = [:]
        try waitFor("the standby to know the writer") {
            hello = okObject(try reader.request("HELLO front-token")) ?? [:]
            return hello["writer"] != nil
        }
        #expect(hello["mode"] as? String == "standby")
        #expect(hello["writer"] as? String == "127.0.0.1:\(writer.port)")
        #expect(okObject(try front.request("HELLO front-token"))?["mode"] as? String == "writer")
        let refused = try reader.request("APPEND " + Events.complaint(3, caseID: "W-3"))
        #expect(refused == "ERR read_only 127.0.0.1:\(writer.port) this daemon is a standby: append to the writer there", "\(refused)")
        #expect(okObject(try reader.request("CASE W-1"))?["compensation_net"] as? Int == 2_500)
        #expect(okObject(try reader.request("BUDGET A-7"))?["spent"] as? Int == 2_500)
        let head = try #require(okObject(try standby.client("auditor").request("HEAD")))
        #expect(head["position"] as? Int == 2)
        #expect(head["signature"] == nil, "only the writer signs heads")
        #expect(okObject(try standby.client("auditor").request("VERIFY"))?["verified"] as? Int == 2)

        // recoveryctl given the standby first still appends through the writer.
        let file = standby.folder.appending(path: "events.jsonl").path
        try [Events.complaint(10, caseID: "W-10"), Events.complaint(11, caseID: "W-11")].joined(separator: "\n")
            .write(toFile: file, atomically: true, encoding: .utf8)
        let tokenFile = standby.folder.appending(path: "front.token").path
        try "front-token".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let output = standby.folder.appending(path: "ctl.out").path
        let pid = try Daemon.spawn(
            RecoveryCtlTests.binary,
            ["append", file, "--server", "127.0.0.1:\(standby.port),127.0.0.1:\(writer.port)", "--token-file", tokenFile], output: output)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let printed = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        #expect(status == 0, "\(printed)")
        #expect(printed.contains("accepted 2, duplicate 0, refused 0"), "\(printed)")
        #expect(okObject(try front.request("CASE W-11")) != nil)

        // A subscriber on the standby gets the catch-up and then what the writer records.
        let subscriber = try standby.client("auditor")
        try subscriber.send("SUBSCRIBE 1\n")
        #expect(try subscriber.readLine()?.contains(#""position":1"#) == true)
        #expect(try subscriber.readLine()?.contains(#""position":2"#) == true)
        #expect(try subscriber.readLine()?.contains(#""position":3"#) == true)
        #expect(try subscriber.readLine()?.contains(#""position":4"#) == true)
        #expect(okObject(try front.request("APPEND " + Events.followUp(5, caseID: "W-1", satisfaction: 9))) != nil)
        #expect(try subscriber.readLine()?.contains(#""position":5"#) == true)
    }

    @Test func itTakesOverWhenTheWriterIsKilledUnderLoadAndKeepsEveryAcknowledgedEvent() async throws {
        let conninfo = try TestPostgres.database(migrated: false)
        let writer = try Daemon(conninfo: conninfo)
        let standby = try Daemon(conninfo: conninfo, arguments: ["--standby"])
        let servers = try ServerList("127.0.0.1:\(writer.port),127.0.0.1:\(standby.port)")

        // One client appends steadily through the list, moving on when a server
        // goes away or refuses, and retrying the same event (idempotent).
        let total = 600
        let acknowledged = NSLockedBox<[Int: (position: Int, hash: String)]>([:])
        let killedAt = NSLockedBox<Date?>(nil)
        let firstOKAfterKill = NSLockedBox<Date?>(nil)
        let standbyPort = standby.port
        let writerPID = writer.pid
        // Its tasks on a thread of their own: a busy test pool must not stall
        // the appender. It kills the writer itself a third of the way through.
        let appender = Task(executorPreference: DedicatedExecutor.shared) {
            var session: ServerList.Session?
            var n = 1
            let deadline = Date().addingTimeInterval(120)
            while n <= total && Date() < deadline {
                do {
                    if session == nil { session = try await servers.connect(token: "front-token", tls: nil, timeoutSeconds: 10, writer: true) }
                    let event = n % 3 == 0 ? Events.compensation(n, caseID: "L-\(n - 2)", amount: 100) : Events.complaint(n, caseID: "L-\(n)")
                    let answer = try await session!.connection.request("APPEND " + event)
                    if let ok = okObject(answer) {
                        acknowledged.mutate { $0[n] = (ok["position"] as! Int, ok["hash"] as! String) }
                        // The standby's first OK: answers the writer sent just before it died do not count.
                        if session!.address.port == standbyPort, killedAt.value != nil, firstOKAfterKill.value == nil {
                            firstOKAfterKill.mutate { $0 = Date() }
                        }
                        n += 1
                        if n == total / 3 {
                            killedAt.mutate { $0 = Date() }
                            kill(writerPID, SIGKILL)
                        }
                    } else {
                        session = nil
                        try? await Task.sleep(for: .milliseconds(100))
                    }
                } catch {
                    session = nil
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
        }
        // The appender gives up after 120 s of trying.
        await appender.value
        writer.stop(signal: SIGKILL)  // reaps the writer the appender killed
        #expect(acknowledged.value.count == total)
        let takeover = try #require(firstOKAfterKill.value).timeIntervalSince(try #require(killedAt.value))
        print("standby takeover: \(String(format: "%.2f", takeover)) s from SIGKILL of the writer to the first OK")
        #expect(takeover < 15)
        #expect(standby.log.contains("took over as the writer"))

        // Every acknowledged event is in the log at its position with its hash.
        let auditor = try standby.client("auditor")
        let (events, final) = try auditor.stream("REPLAY 1")
        var hashes: [Int: String] = [:]
        var chain = ChainVerifier()
        for payload in events {
            let (position, hash) = try chain.add(Array(payload.utf8))
            hashes[Int(position)] = ChainVerifier.hex(hash)
        }
        #expect(okObject(final)?["last"] as? Int == events.count)
        for (n, receipt) in acknowledged.value {
            #expect(hashes[receipt.position] == receipt.hash, "event \(n)")
        }
        #expect(okObject(try auditor.request("VERIFY"))?["verified"] as? Int == events.count)
        #expect(okObject(try auditor.request("HELLO audit-token"))?["mode"] as? String == "writer")
        // The budgets the new writer serves are the log's.
        standby.stop()
        let rebuild = try Daemon.run(["rebuild", "--check", "--database", conninfo])
        #expect(rebuild.status == 0, "\(rebuild.output)")
        #expect(rebuild.output.contains("the projection tables match the log"))
    }
}

/// A value shared between a test and the thread it starts.
final class NSLockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }
    func mutate(_ body: (inout Value) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        body(&stored)
    }
}
