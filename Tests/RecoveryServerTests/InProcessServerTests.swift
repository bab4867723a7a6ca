import Foundation
import RecoveryClient
import RecoveryDomain
import RecoveryTesting
import RecoveryWire
import Testing

/// The daemon's connection core, permissions, writer state machine and
/// answers, in process over an `EmbeddedChannel` and a store in memory
/// (RecoveryTesting): no process, no socket, no PostgreSQL.
@Suite("The server in process", .tags(.fast))
struct InProcessServerTests {
    static let monday = Timestamp(rfc3339: "2026-11-23T09:00:00Z")!

    /// A server whose clock reads Monday 09:00 UTC.
    static func server(limits: Limits = Limits()) -> InProcessServer { InProcessServer(limits: limits, clock: { monday }) }

    static func signedIn(_ server: InProcessServer, _ token: String) throws -> InProcessConnection {
        let connection = try server.connect()
        let hello = try connection.request("HELLO \(token)")
        #expect(hello.hasPrefix("OK {"), "\(hello)")
        return connection
    }

    @Test func anAppendIsAnsweredWithItsReceiptAndItsCaseReadsBack() throws {
        let server = Self.server()
        let front = try Self.signedIn(server, "front-token")
        let receipt = try Answer(try front.request("APPEND " + Events.complaint(1, caseID: "K-1"))).decode(Reply.Receipt.self)
        #expect(receipt.duplicate == false)
        // The opening settings took the first positions; the complaint follows them.
        #expect(receipt.position > 1)
        let paid = try Answer(try front.request("APPEND " + Events.compensation(2, caseID: "K-1", amount: 15_000))).decode(Reply.Receipt.self)
        #expect(paid.position == receipt.position + 1)
        #expect(paid.remaining == 185_000 && paid.warning == false)
        // A retry is a duplicate with the original receipt.
        let again = try Answer(try front.request("APPEND " + Events.complaint(1, caseID: "K-1"))).decode(Reply.Receipt.self)
        #expect(again == Reply.Receipt(position: receipt.position, hash: receipt.hash, duplicate: true))
        let shown = try Answer(try front.request("CASE K-1")).decode(Reply.Case.self)
        #expect(shown.compensationNet == 15_000 && shown.events.map(\.type) == ["complaint", "compensation"])
        let budget = try Answer(try front.request("BUDGET A-7")).decode(Reply.Budget.self)
        #expect(budget.spent == 15_000 && budget.day == "2026-11-23")
    }

    @Test func everyRoleMayUseExactlyTheVerbsTheProtocolGivesIt() throws {
        let server = Self.server()
        // Verb → roles allowed (docs/PROTOCOL.md, the roles table).
        let table: [(verb: String, allowed: Set<String>)] = [
            ("BUDGET A-7", ["frontline", "finance", "admin"]), ("BUDGETS", ["finance", "admin"]),
            ("OUTCOMES", ["auditor", "finance", "admin"]), ("PEOPLE", ["finance", "admin"]), ("SETTINGS", ["frontline", "auditor", "finance", "admin"]),
            ("VERIFY", ["auditor", "admin"]), ("SPENDING from=2026-11-01 to=2026-11-30", ["finance", "admin"]),
        ]
        for (token, role) in InProcessServer.tokens {
            let connection = try Self.signedIn(server, token)
            for (verb, allowed) in table {
                let answer = try connection.request(verb)
                if allowed.contains(role.rawValue) {
                    #expect(!answer.hasPrefix("ERR forbidden"), "\(role) \(verb): \(answer)")
                } else {
                    #expect(answer.hasPrefix("ERR forbidden"), "\(role) \(verb): \(answer)")
                }
            }
            let append = try connection.request("APPEND " + Events.complaint(100 + role.hashValue % 1000, caseID: "P-\(role.rawValue)"))
            #expect(append.hasPrefix("ERR forbidden") == !["frontline", "admin"].contains(role.rawValue), "\(role): \(append)")
        }
    }

    @Test func refusalsMapToTheirCodesAndChangeNothing() throws {
        let server = Self.server()
        let front = try Self.signedIn(server, "front-token")
        #expect(try front.request("APPEND " + Events.complaint(1, caseID: "K-1")).hasPrefix("OK "))
        let over = try front.request("APPEND " + Events.compensation(2, caseID: "K-1", amount: 250_000))
        #expect(over == "ERR budget_exceeded A-7 has 2000.00 USD left on 2026-11-23, 2500.00 USD asked; ask a supervisor to approve", "\(over)")
        #expect(try front.request("APPEND " + Events.compensation(3, caseID: "NOPE", amount: 100)) == "ERR not_found no case NOPE; a case is opened by a complaint")
        #expect(try front.request("APPEND {not json").hasPrefix("ERR bad_request"))
        #expect(try front.request("APPEND " + Events.compensation(4, caseID: "K-1", amount: 100).replacingOccurrences(of: "USD", with: "EUR")).hasPrefix("ERR invalid"))
        #expect(try Answer(try front.request("BUDGET A-7")).decode(Reply.Budget.self).spent == 0)
    }

    @Test func aBoundTokenRecordsOnlyAsItsPerson() throws {
        let server = Self.server()
        let a1 = try Self.signedIn(server, "a1-token")
        #expect(try a1.request("APPEND " + Events.complaint(1, caseID: "K-1", agent: "A-1")).hasPrefix("OK "))
        let asSomeoneElse = try a1.request("APPEND " + Events.complaint(2, caseID: "K-2", agent: "A-2"))
        #expect(asSomeoneElse.hasPrefix("ERR forbidden"), "\(asSomeoneElse)")
        // A-2's token may pay from its own allowance, but not close A-1's case.
        let a2 = try Self.signedIn(server, "a2-token")
        #expect(try a2.request("APPEND " + Events.compensation(3, caseID: "K-1", amount: 100, agent: "A-2")).hasPrefix("OK "))
        let followUp = Events.followUp(4, caseID: "K-1", satisfaction: 9).replacingOccurrences(of: "\"A-7\"", with: "\"A-2\"")
        let closed = try a2.request("APPEND " + followUp)
        #expect(closed == "ERR forbidden case K-1 is owned by A-1; A-2 may follow up only on cases it owns: ask A-1 or a supervisor", "\(closed)")
    }

    @Test func unknownTokensAndVerbsBeforeHelloAreRefusedAndTheThirdFailureCloses() throws {
        var limits = Limits()
        limits.maxFailedHellos = 3
        let server = Self.server(limits: limits)
        let stranger = try server.connect()
        #expect(try stranger.request("CASE K-1").hasPrefix("ERR auth_required"))
        #expect(try stranger.request("HELLO nope") == "ERR auth_required unknown token")
        #expect(try stranger.request("HELLO nope") == "ERR auth_required unknown token")
        #expect(try stranger.request("HELLO nope") == "ERR auth_required unknown token; 3 failed HELLOs, closing")
        #expect(stranger.isClosed)
    }

    @Test func aReplayStreamsTheLogWithTheHashesOfTheChain() throws {
        let server = Self.server()
        let front = try Self.signedIn(server, "front-token")
        for n in 1...5 { #expect(try front.request("APPEND " + Events.complaint(n, caseID: "R-\(n)")).hasPrefix("OK ")) }
        let auditor = try Self.signedIn(server, "audit-token")
        let lines = try auditor.exchange("REPLAY 1")
        let summary = try Answer(try #require(lines.last)).decode(Reply.ReplaySummary.self)
        #expect(lines.dropLast().allSatisfy { $0.hasPrefix("EVENT ") })
        #expect(Int64(lines.count - 1) == summary.count && summary.last == summary.count)
        var chain = ChainVerifier()
        var last: [UInt8] = []
        for line in lines.dropLast() { last = try chain.add(Array(line.dropFirst(6).utf8)).hash }
        #expect(ChainVerifier.hex(last) == summary.hash)
    }
}
