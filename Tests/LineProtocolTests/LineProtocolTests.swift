import LineProtocol
import RecoveryWire
import RecoveryDomain
import Testing

@Suite("Request parsing and answers")
struct RequestTests {
    static let parsed: [(String, Request)] = [
        ("HELLO s3cret", .hello(token: "s3cret")),
        ("ping", .ping),
        ("Quit", .quit),
        (#"APPEND {"a": 1}"#, .append(json: Array(#"{"a": 1}"#.utf8))),
        ("CASE K-1", .caseQuery(caseID: "K-1")),
        ("BUDGET A-7", .budget(agentID: "A-7", day: nil)),
        ("budget A-7 2026-11-22", .budget(agentID: "A-7", day: BusinessDay("2026-11-22"))),
        ("BUDGETS 2026-11-22", .budgets(day: BusinessDay("2026-11-22")!)),
        ("BUDGETS", .budgets(day: nil)),
        ("OUTCOMES", .outcomes(by: nil, from: nil, to: nil)),
        ("OUTCOMES by=agent from=2026-11-01 to=2026-11-30", .outcomes(by: .agent, from: BusinessDay("2026-11-01"), to: BusinessDay("2026-11-30"))),
        ("REPLAY 1", .replay(from: 1, to: nil)),
        ("REPLAY 5 9", .replay(from: 5, to: 9)),
        ("SUBSCRIBE 10", .subscribe(from: 10)),
        ("UNSUBSCRIBE", .unsubscribe),
        ("VERIFY", .verify(from: nil, to: nil)),
        ("VERIFY 3 4", .verify(from: 3, to: 4)),
        ("CASE K-1 at=5", .caseQuery(caseID: "K-1", at: 5)),
        ("BUDGET A-7 at=0", .budget(agentID: "A-7", day: nil, at: 0)),
        ("BUDGET A-7 2026-11-22 AT=9", .budget(agentID: "A-7", day: BusinessDay("2026-11-22"), at: 9)),
        ("BUDGETS at=12", .budgets(day: nil, at: 12)),
        ("BUDGETS 2026-11-22 at=12", .budgets(day: BusinessDay("2026-11-22")!, at: 12)),
        ("OUTCOMES by=repeat at=3", .outcomes(by: .repeat, from: nil, to: nil, at: 3)),
    ]

    @Test(arguments: 0..<parsed.count)
    func requestsParse(index: Int) throws {
        let (line, request) = Self.parsed[index]
        #expect(try Request.parse(Array(line.utf8)).get() == request)
    }

    static let refused: [(String, ErrorCode)] = [
        ("", .badRequest), ("FROB", .unknownCommand), ("APPEND", .badRequest), ("APPEND ", .badRequest),
        ("HELLO", .badRequest), ("HELLO a b", .badRequest), ("PING now", .badRequest), ("CASE", .badRequest),
        ("CASE bad/id", .badRequest), ("CASE  K-1", .badRequest), ("BUDGET A-7 2026-13-01", .badRequest),
        ("BUDGETS 2026-11-22 2026-11-23", .badRequest), ("OUTCOMES by=planet", .badRequest), ("OUTCOMES from=2026-11-30 to=2026-11-01", .badRequest),
        ("OUTCOMES sideways", .badRequest), ("REPLAY 0", .badRequest), ("REPLAY -1", .badRequest), ("REPLAY 9 5", .badRequest),
        ("REPLAY x", .badRequest), ("SUBSCRIBE", .badRequest), ("VERIFY 1 2 3", .badRequest),
        // at= is a position from 0, and the last argument.
        ("CASE K-1 at=-1", .badRequest), ("CASE K-1 at=", .badRequest), ("CASE K-1 at=x", .badRequest),
        ("OUTCOMES at=3 by=agent", .badRequest), ("BUDGET A-7 at=1 2026-11-22", .badRequest), ("CASE at=3", .badRequest),
        ("VERIFY at=3", .badRequest),
    ]

    @Test(arguments: 0..<refused.count)
    func badRequestsGetTheirCode(index: Int) {
        let (line, code) = Self.refused[index]
        guard case .failure(let error) = Request.parse(Array(line.utf8)) else {
            Issue.record("\(line) parsed")
            return
        }
        #expect(error.code == code, "\(line)")
    }

    @Test func invalidUTF8IsABadRequest() {
        guard case .failure(let error) = Request.parse([0x43, 0x41, 0x53, 0x45, 0x20, 0xFF]) else {
            Issue.record("parsed")
            return
        }
        #expect(error.code == .badRequest)
    }

    @Test func answersAreSingleLines() {
        #expect(Response.ok(["pong": .bool(true)]).encoded() == Array("OK {\"pong\":true}\n".utf8))
        #expect(Response.ok(nil).encoded() == Array("OK\n".utf8))
        #expect(Response.error(.notFound, "no case K-1\nreally").encoded() == Array("ERR not_found no case K-1 really\n".utf8))
        #expect(Response.event(Array("{\"position\":1}".utf8)).encoded() == Array("EVENT {\"position\":1}\n".utf8))
    }

    @Test func everyDomainRefusalHasAWireCode() {
        for code in Rejection.Code.allCases { #expect(ErrorCode(code).rawValue == code.rawValue) }
    }
}

@Suite("Receipts written directly")
struct ReceiptTests {
    @Test(arguments: [(1, false), (Int64.max, true), (42, true)] as [(Int64, Bool)])
    func aReceiptIsTheCanonicalObjectLine(position: Int64, duplicate: Bool) {
        let hash = (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ Int(position % 251)) }
        let object: [String: JSONValue] = ["position": .integer(position), "hash": .string(Hex.encode(hash)), "duplicate": .bool(duplicate)]
        #expect(Response.receipt(position: position, hash: hash, duplicate: duplicate).encoded() == Response.ok(object).encoded())
    }
}

@Suite("Loopback hosts")
struct LoopbackTests {
    @Test(arguments: ["127.0.0.1", "127.8.9.10", "localhost", "LOCALHOST", "api.localhost", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"])
    func staysOnThisMachine(_ host: String) {
        #expect(Loopback.contains(host: host))
    }

    @Test(arguments: ["0.0.0.0", "::", "", "10.0.0.1", "128.0.0.1", "127.0.0", "127.0.0.1.5", "localhost.example.com", "::2", "1::1", "db.internal", "::ffff:10.0.0.1"])
    func reachesANetwork(_ host: String) {
        #expect(!Loopback.contains(host: host))
    }
}
