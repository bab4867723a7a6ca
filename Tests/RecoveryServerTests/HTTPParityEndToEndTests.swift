import Foundation
import RecoveryDomain
import Testing

/// Issue 26's first check: the same scripted case, driven through the line
/// protocol on one fresh ledger and through the HTTP API on another (both
/// daemons' clocks stopped at the same instant), gives the same answer to
/// every request and the same chain, hash for hash. The script calls every
/// operation of docs/openapi.yaml at least once.
@Suite("The HTTP API and the line protocol agree", .tags(.processes))
struct HTTPParityEndToEndTests {
    /// One request of the script, in both forms.
    struct Step {
        var role: String
        var line: [String]
        var method = "GET"
        var path: String
        var body: String?
        var operation: String
        /// Compare only these keys of an `OK` (nil: all).
        var keep: Set<String>?
        var drop: Set<String> = []
    }

    static let day = "2026-12-07"

    static func event(_ n: Int, _ fields: String) -> String {
        #"{"event_id":"\#(Events.id(n, salt: 26))",\#(fields)}"#
    }

    static var script: [Step] {
        let complaint1 = event(1, #""type":"complaint","agent_id":"A-1","case_id":"K-1","customer_id":"C-1","channel":"phone","category":"late","severity":3,"baseline":6"#)
        let apology1 = event(2, #""type":"apology","agent_id":"A-1","case_id":"K-1","note":"sorry / we were late""#)
        let refund1 = event(3, #""type":"compensation","agent_id":"A-1","case_id":"K-1","amount":15000,"currency":"USD","kind":"refund""#)
        let tooMuch = event(4, #""type":"compensation","agent_id":"A-1","case_id":"K-1","amount":1950000,"currency":"USD","kind":"refund""#)
        let followUp1 = event(5, #""type":"follow_up","agent_id":"A-1","case_id":"K-1","satisfaction":9,"would_recommend":10"#)
        let complaint2 = event(6, #""type":"complaint","agent_id":"A-2","case_id":"K-2","customer_id":"C-1","channel":"chat","category":"billing","severity":2"#)
        let credit2 = event(7, #""type":"compensation","agent_id":"A-2","case_id":"K-2","amount":5000,"currency":"USD","kind":"credit""#)
        let reversal2 = event(8, #""type":"compensation_reversal","agent_id":"A-2","case_id":"K-2","reverses":"\#(Events.id(7, salt: 26))","reason":"charged twice""#)
        let allowance = event(9, #""type":"allowance","agent_id":"A-2","daily_limit":100000"#)
        let setting = event(10, #""type":"ledger_setting","agent_id":"ADM","name":"warn_below_percent","value":30"#)
        let complaint3 = event(11, #""type":"complaint","agent_id":"A-1","case_id":"K-3","customer_id":"C-3","channel":"email","category":"damaged","severity":4,"baseline":3"#)
        let apology3 = event(12, #""type":"apology","agent_id":"A-1","case_id":"K-3""#)
        let noType = event(13, #""agent_id":"A-1","case_id":"K-3""#)
        let onClosed = event(14, #""type":"apology","agent_id":"A-1","case_id":"K-1""#)

        func append(_ json: String, as role: String = "frontline") -> Step {
            Step(role: role, line: ["APPEND " + json], method: "POST", path: "/v1/events", body: json, operation: "appendEvents")
        }
        func query(_ role: String, _ line: String, _ path: String, _ operation: String, keep: Set<String>? = nil, drop: Set<String> = []) -> Step {
            Step(role: role, line: [line], path: path, operation: operation, keep: keep, drop: drop)
        }
        // One event per request on both sides: the stopped clocks give each
        // commit the next microsecond, so the times (and hashes) agree only if
        // both daemons commit in the same groups. Batches: HTTPAPIEndToEndTests.
        let refused = [noType, onClosed, refund1]
        return [
            query("frontline", "HELLO front-token", "/v1/hello", "getHello", drop: ["signing_key"]),
            append(complaint1), append(apology1), append(refund1), append(tooMuch), append(refund1), append(followUp1),
            append(complaint2), append(credit2), append(reversal2),
            append(allowance, as: "admin"), append(setting, as: "admin"),
            append(complaint1, as: "finance"),
            append(complaint3), append(apology3),
        ] + refused.map { append($0) } + [
            query("frontline", "CASE K-1", "/v1/cases/K-1", "getCase"),
            query("auditor", "CASE K-1 at=3", "/v1/cases/K-1?at=3", "getCase"),
            query("frontline", "CASE K-9", "/v1/cases/K-9", "getCase"),
            query("frontline", "CASES customer=C-1 limit=1", "/v1/cases?customer_id=C-1&limit=1", "listCases"),
            query("frontline", "CASES customer=C-1 limit=1 after=K-2", "/v1/cases?customer_id=C-1&limit=1&after=K-2", "listCases"),
            query("frontline", "CASES status=closed from=\(day) to=\(day)", "/v1/cases?status=closed&from=\(day)&to=\(day)", "listCases"),
            query("frontline", "DUE", "/v1/due", "listDue"),
            query("frontline", "DUE A-1", "/v1/due?agent_id=A-1", "listDue"),
            query("finance", "PEOPLE", "/v1/people", "listPeople"),
            query("frontline", "PEOPLE", "/v1/people", "listPeople"),
            query("frontline", "BUDGET A-1", "/v1/budgets/A-1", "getBudget"),
            query("finance", "BUDGET A-2 \(day) at=8", "/v1/budgets/A-2?day=\(day)&at=8", "getBudget"),
            query("finance", "BUDGET A-1 2026-13-01", "/v1/budgets/A-1?day=2026-13-01", "getBudget"),
            query("finance", "BUDGETS", "/v1/budgets", "listBudgets"),
            query("finance", "BUDGETS \(day) at=5", "/v1/budgets?day=\(day)&at=5", "listBudgets"),
            query("auditor", "OUTCOMES", "/v1/outcomes", "getOutcomes"),
            query("auditor", "OUTCOMES by=agent from=2026-12-01 to=2026-12-31", "/v1/outcomes?by=agent&from=2026-12-01&to=2026-12-31", "getOutcomes"),
            query("finance", "OUTCOMES by=repeat at=6", "/v1/outcomes?by=repeat&at=6", "getOutcomes"),
            query("finance", "SPENDING from=2026-12-01 to=2026-12-31 by=person,day", "/v1/spending?from=2026-12-01&to=2026-12-31&by=person,day", "getSpending"),
            query("finance", "SPENDING from=2026-12-01 to=2026-12-31 at=8", "/v1/spending?from=2026-12-01&to=2026-12-31&at=8", "getSpending"),
            query("finance", "SPENDING from=2026-12-31 to=2026-12-01", "/v1/spending?from=2026-12-31&to=2026-12-01", "getSpending"),
            query("frontline", "SETTINGS", "/v1/settings", "getSettings"),
            query("auditor", "SETTINGS at=1", "/v1/settings?at=1", "getSettings"),
            query("frontline", "HEAD", "/v1/head", "getHead", keep: ["ledger", "position", "hash"]),
            query("auditor", "VERIFY", "/v1/verify", "verifyChain"),
            query("auditor", "VERIFY 2 5", "/v1/verify?from=2&to=5", "verifyChain"),
            query("frontline", "VERIFY", "/v1/verify", "verifyChain"),
            query("admin", "STATUS", "/v1/status", "getStatus", keep: ["server", "version", "mode", "position", "ledger", "writer_connected", "database"]),
        ]
    }

    @Test func theSameScriptGivesTheSameAnswersAndTheSameChain() throws {
        let frozen = "\(Self.day) 15:30:00"
        let overLines = try HTTPDaemon(frozenAt: frozen)
        let overHTTP = try HTTPDaemon(frozenAt: frozen)
        var lineClients: [String: LineClient] = [:]
        var httpClients: [String: HTTPClient] = [:]
        for role in Daemon.tokens.keys {
            lineClients[role] = try overLines.daemon.client(role)
            httpClients[role] = try overHTTP.http(role)
        }
        var called: Set<String> = []
        var compared = 0
        for step in Self.script {
            let line = try #require(lineClients[step.role])
            let http = try #require(httpClients[step.role])
            let lineAnswers = try step.line.map { Outcome(line: try line.request($0)) }
            let answer = try http.request(step.method, step.path, body: step.body.map { Array($0.utf8) }, headers: step.body == nil ? [:] : ["Content-Type": "application/json"])
            var httpAnswers: [Outcome]
            if step.line.count > 1 {
                // A batch: one result per event, a receipt or an error.
                guard case .array(let results)? = answer.object?["results"] else {
                    Issue.record("\(step.path): no results in \(answer.text)")
                    continue
                }
                httpAnswers = results.map { result -> Outcome in
                    guard case .object(let item) = result else { return .error(code: "not an object", message: "") }
                    if case .object(let receipt)? = item["receipt"] { return .ok(Outcome.normalized(.object(receipt))) }
                    if case .object(let error)? = item["error"], case .string(let code)? = error["code"], case .string(let detail)? = error["detail"] {
                        return .error(code: code, message: detail)
                    }
                    return .error(code: "neither", message: "")
                }
                #expect(answer.status == 200)
            } else {
                httpAnswers = [Outcome(http: answer)]
            }
            for (index, lineAnswer) in lineAnswers.enumerated() {
                var expected = lineAnswer
                var got = index < httpAnswers.count ? httpAnswers[index] : .error(code: "missing", message: "")
                if let keep = step.keep {
                    expected = expected.keeping(keep)
                    got = got.keeping(keep)
                }
                expected = expected.dropping(step.drop)
                got = got.dropping(step.drop)
                #expect(got == expected, "\(step.line[index].prefix(60)) vs \(step.method) \(step.path)")
                compared += 1
            }
            #expect(httpAnswers.count == lineAnswers.count, "\(step.path)")
            called.insert(step.operation)
        }

        // The log, paged (REPLAY 1 and GET /v1/events) and streamed (SUBSCRIBE and the SSE stream).
        let auditorLine = try #require(lineClients["auditor"])
        let auditorHTTP = try #require(httpClients["auditor"])
        let replay = try auditorLine.stream("REPLAY 1")
        let page = try auditorHTTP.get("/v1/events?after=0&limit=1000")
        #expect(page.status == 200, "\(page.text)")
        let pageObject = try #require(page.object)
        guard case .array(let paged)? = pageObject["events"] else { throw DaemonError("no events in \(page.text)") }
        #expect(paged.map { CanonicalJSON.encodeString($0) } == replay.events)
        let replayFinal = try #require(Outcome(line: replay.final).object)
        for key in ["count", "hash", "last", "prev_hash"] {
            #expect(replayFinal[key] == Outcome.normalized(pageObject[key] ?? .null), "\(key)")
        }
        #expect(pageObject["next"] == .null)
        called.insert("listEvents")
        // Paging: two pages of 5 from position 3 join up to the same events.
        let first = try #require(try auditorHTTP.get("/v1/events?after=2&limit=5").object)
        #expect(first["next"] == .integer(7) && first["count"] == .integer(5))
        let second = try #require(try auditorHTTP.get("/v1/events?after=7&limit=5").object)
        #expect(second["prev_hash"] == first["hash"], "the second page's prev_hash is the first's hash")
        try #require(replay.events.count == 11, "\(replay.events.count) events")
        #expect(second["next"] == .null && second["count"] == .integer(4), "the last page says so")
        if case .array(let a)? = first["events"], case .array(let b)? = second["events"] {
            #expect((a + b).map { CanonicalJSON.encodeString($0) } == Array(replay.events[2..<11]))
        } else {
            Issue.record("pages without events")
        }

        let subscriber = auditorLine
        try subscriber.send("SUBSCRIBE 1\n")
        var subscribed: [String] = []
        for _ in replay.events.indices {
            let line = try #require(try subscriber.readLine())
            subscribed.append(String(line.dropFirst(6)))
        }
        #expect(Outcome(line: try subscriber.request("UNSUBSCRIBE")).object?["unsubscribed"] == .bool(true))
        let stream = try overHTTP.http("auditor")
        let opened = try stream.openStream("/v1/events/stream")
        #expect(opened.status == 200 && opened.headers["content-type"]?.hasPrefix("text/event-stream") == true, "\(opened.headers)")
        var streamed: [HTTPClient.Event] = []
        for _ in replay.events.indices { streamed.append(try #require(try stream.nextEvent())) }
        #expect(streamed.map(\.data) == subscribed)
        #expect(streamed.map(\.id) == replay.events.indices.map { "\($0 + 1)" })
        #expect(streamed.allSatisfy { $0.event == "event" })
        called.insert("streamEvents")

        // The same chain: every position's hash, and the head.
        let lineHead = try #require(Outcome(line: try auditorLine.request("HEAD")).object)
        let httpHead = try #require(Outcome(http: try auditorHTTP.get("/v1/head")).object)
        #expect(lineHead["hash"] != nil && lineHead["hash"] == httpHead["hash"])
        #expect(lineHead["position"] == httpHead["position"])

        let operations = try specOperations()
        #expect(called == operations, "every operation of docs/openapi.yaml is called: missing \(operations.subtracting(called))")
        #expect(compared > 40)
    }
}
