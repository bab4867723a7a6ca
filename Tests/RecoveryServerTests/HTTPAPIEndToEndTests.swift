import Crypto
import Foundation
import RecoveryDomain
import Testing

/// The HTTP API's own rules (docs/HTTP.md): batches, tokens and roles,
/// problems, limits, CORS, TLS, and the event stream.
@Suite("The HTTP API", .tags(.processes))
struct HTTPAPIEndToEndTests {
    static func event(_ n: Int, _ fields: String) -> String { #"{"event_id":"\#(Events.id(n, salt: 27))",\#(fields)}"# }

    static func receipt(_ outcome: Outcome) -> Outcome {
        // What a batch shares with the same APPENDs one at a time on another
        // ledger: everything but the hash (commit groups give other times).
        outcome.dropping(["hash"])
    }

    @Test func aBatchIsAnsweredInOrderAsTheSameAppendsWouldBe() throws {
        let events = [
            Self.event(1, #""type":"complaint","agent_id":"A-1","case_id":"B-1","customer_id":"C-1","channel":"phone","category":"late","severity":3,"baseline":6"#),
            Self.event(2, #""type":"compensation","agent_id":"A-1","case_id":"B-1","amount":170000,"currency":"USD","kind":"refund""#),
            Self.event(3, #""type":"compensation","agent_id":"A-1","case_id":"B-1","amount":40000,"currency":"USD","kind":"refund""#),
            Self.event(2, #""type":"compensation","agent_id":"A-1","case_id":"B-1","amount":170000,"currency":"USD","kind":"refund""#),
            Self.event(2, #""type":"compensation","agent_id":"A-1","case_id":"B-1","amount":1,"currency":"USD","kind":"refund""#),
            Self.event(4, #""type":"apology","agent_id":"A-1","case_id":"B-9""#),
            Self.event(5, #""type":"apology","agent_id":"A-1""#),
            Self.event(6, #""type":"follow_up","agent_id":"A-1","case_id":"B-1","satisfaction":8"#),
            Self.event(7, #""type":"apology","agent_id":"A-1","case_id":"B-1""#),
        ]
        let lines = try HTTPDaemon()
        let http = try HTTPDaemon(arguments: ["--max-batch", "20", "--max-line", "2048"])
        let client = try lines.daemon.client("frontline")
        let expected = try events.map { Self.receipt(Outcome(line: try client.request("APPEND " + $0))) }
        let front = try http.http("frontline")
        let answer = try front.post("/v1/events", json: "[" + events.joined(separator: ",") + "]")
        #expect(answer.status == 200, "\(answer.text)")
        guard case .array(let results)? = answer.object?["results"] else { throw DaemonError("no results: \(answer.text)") }
        let got = results.map { result -> Outcome in
            guard case .object(let item) = result else { return .error(code: "?", message: "") }
            if case .object(let receipt)? = item["receipt"] { return Self.receipt(.ok(Outcome.normalized(.object(receipt)))) }
            if case .object(let error)? = item["error"], case .string(let code)? = error["code"], case .string(let detail)? = error["detail"] {
                return .error(code: code, message: detail)
            }
            return .error(code: "neither", message: "")
        }
        #expect(got == expected)
        // Some were recorded, some refused, one was a duplicate: all said in order.
        #expect(expected.filter { if case .ok = $0 { true } else { false } }.count == 4)

        // The same batch again: every recorded one is a duplicate now; nothing new is recorded.
        let again = try front.post("/v1/events", json: "[" + events.joined(separator: ",") + "]")
        #expect(again.text.components(separatedBy: #""duplicate":true"#).count - 1 == 4, "\(again.text)")
        #expect(!again.text.contains(#""duplicate":false"#))
        let head = try #require(Outcome(http: try front.get("/v1/head")).object)
        #expect(head["position"] == Outcome.normalized(.integer(3)))

        // Limits: max_batch, an empty batch, an event longer than max_line, a body
        // longer than max_batch × max_line, and a body that is not an event.
        let tooMany = try front.post("/v1/events", json: "[" + Array(repeating: events[0], count: 21).joined(separator: ",") + "]")
        #expect(tooMany.status == 413 && Outcome(http: tooMany) == .error(code: "too_large", message: "the batch holds 21 events; at most max_batch 20"))
        let empty = try front.post("/v1/events", json: "[]")
        #expect(Outcome(http: empty) == .error(code: "bad_request", message: "the batch is empty"))
        let long = Self.event(8, #""type":"apology","agent_id":"A-1","case_id":"B-1","note":"\#(String(repeating: "n", count: 2_000))""#)
        let longAnswer = try front.post("/v1/events", json: long)
        #expect(longAnswer.status == 413 && longAnswer.object?["code"] == .string("too_large"), "\(longAnswer.text)")
        let huge = try front.post("/v1/events", json: "[" + String(repeating: " ", count: 20 * 2_048) + "]")
        #expect(huge.status == 413 && Outcome(http: huge) == .error(code: "too_large", message: "the body is 40962 bytes; at most 40960 (max_batch × max_line)"))
        let scalar = try front.post("/v1/events", json: "17")
        #expect(Outcome(http: scalar) == .error(code: "bad_request", message: "the body is one event (a JSON object) or an array of them"))
        let notJSON = try front.post("/v1/events", json: "{\"event_id\":")
        #expect(notJSON.status == 400 && notJSON.object?["code"] == .string("bad_request"), "\(notJSON.text)")
        let form = try front.request("POST", "/v1/events", body: Array(events[6].utf8), headers: ["Content-Type": "text/plain"])
        #expect(form.status == 400 && form.text.contains("application/json"), "\(form.text)")
        // Nothing of these was recorded.
        #expect(Outcome(http: try front.get("/v1/head")).object?["position"] == Outcome.normalized(.integer(3)))
    }

    @Test func tokensRolesAndProblems() throws {
        let daemon = try HTTPDaemon()
        let anonymous = try daemon.http(nil)
        let missing = try anonymous.get("/v1/head")
        #expect(missing.status == 401 && missing.headers["www-authenticate"] == "Bearer")
        #expect(Outcome(http: missing) == .error(code: "auth_required", message: "send the token as Authorization: Bearer <token>"))
        let wrong = try daemon.http(nil, token: "not-a-token").get("/v1/head")
        #expect(wrong.status == 401 && Outcome(http: wrong) == .error(code: "auth_required", message: "unknown token"))
        #expect(daemon.log.contains("unknown token"), "the refusal is logged with the peer")

        let front = try daemon.http("frontline")
        let forbidden = try front.get("/v1/people")
        #expect(forbidden.status == 403 && forbidden.object?["code"] == .string("forbidden"))
        let problem = try #require(forbidden.object)
        #expect(problem["type"] == .string("urn:recoveryd:error:forbidden") && problem["status"] == .integer(403) && problem["title"] != nil)
        let finance = try daemon.http("finance")
        let financeAppend = try finance.post("/v1/events", json: Events.complaint(1, caseID: "T-1"))
        #expect(financeAppend.status == 403)

        // A person-bound token records only as its person, as on the line port.
        let bound = try daemon.http(nil, token: Daemon.boundTokens["A-1"])
        let asOther = try bound.post("/v1/events", json: Events.complaint(2, caseID: "T-2", agent: "A-2"))
        let line = try daemon.daemon.client(boundTo: "A-1")
        #expect(Outcome(http: asOther) == Outcome(line: try line.request("APPEND " + Events.complaint(2, caseID: "T-2", agent: "A-2"))))
        #expect(asOther.status == 403)
        #expect(Outcome(http: try bound.get("/v1/hello")).object?["agent"] == .string("A-1"))

        // Unknown paths and methods, bad parameters: problems naming what is wrong.
        let unknown = try front.get("/v1/nothing-here")
        #expect(unknown.status == 404 && unknown.object?["code"] == .string("unknown_command"))
        let method = try front.request("DELETE", "/v1/head")
        #expect(method.status == 404 || method.status == 405, "\(method.status)")
        #expect(method.object?["code"] == .string("unknown_command"))
        #expect(Outcome(http: try front.get("/v1/cases/K-1?at=abc")) == .error(code: "bad_request", message: "at=abc must be an integer"))
        let badDay = Outcome(http: try front.get("/v1/budgets/A-1?day=tomorrow"))
        #expect(badDay == Outcome(line: try daemon.daemon.client("frontline").request("BUDGET A-1 tomorrow")), "the line parser's own message")
        let spaced = try front.get("/v1/cases/K%201")
        #expect(Outcome(http: spaced) == .error(code: "bad_request", message: #"a parameter may not be empty or hold a space or a control character: "K 1""#))
        let injected = try front.get("/v1/cases/K-1%20at=0")
        #expect(injected.status == 400, "a parameter cannot smuggle in another argument")
        let notFound = try front.get("/v1/cases/K-404")
        #expect(notFound.status == 404 && Outcome(http: notFound) == .error(code: "not_found", message: "no case K-404"))
        let limit = try daemon.http("auditor").get("/v1/events?limit=5000")
        #expect(Outcome(http: limit) == .error(code: "bad_request", message: "limit must be an integer from 1 to 1000"))
        let past = try daemon.http("auditor").get("/v1/events?after=99")
        #expect(past.status == 404 && past.object?["code"] == .string("not_found"))
        // Answers are never cached.
        #expect(try front.get("/v1/head").headers["cache-control"] == "no-store")
    }

    @Test func corsOnlyForTheGivenOrigins() throws {
        let daemon = try HTTPDaemon(arguments: ["--http-cors-origin", "http://tablet.example:8080", "--http-cors-origin", "https://app.example"])
        let client = try daemon.http(nil)
        let preflight = try client.request(
            "OPTIONS", "/v1/events",
            headers: ["Origin": "https://app.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"])
        #expect(preflight.status == 204)
        #expect(preflight.headers["access-control-allow-origin"] == "https://app.example")
        #expect(preflight.headers["access-control-allow-headers"]?.lowercased().contains("authorization") == true)
        #expect(preflight.headers["access-control-allow-methods"]?.contains("POST") == true)
        let front = try daemon.http("frontline")
        let allowed = try front.get("/v1/head", headers: ["Origin": "http://tablet.example:8080"])
        #expect(allowed.status == 200 && allowed.headers["access-control-allow-origin"] == "http://tablet.example:8080")
        let refusedPreflight = try client.request("OPTIONS", "/v1/events", headers: ["Origin": "https://evil.example", "Access-Control-Request-Method": "POST"])
        #expect(refusedPreflight.headers["access-control-allow-origin"] == nil)
        let other = try front.get("/v1/head", headers: ["Origin": "https://evil.example"])
        #expect(other.headers["access-control-allow-origin"] == nil)
        // Problems carry CORS too, so the page can read why.
        let problem = try client.get("/v1/head", headers: ["Origin": "https://app.example"])
        #expect(problem.status == 401 && problem.headers["access-control-allow-origin"] == "https://app.example")

        // None by default.
        let plain = try HTTPDaemon()
        let preflightNone = try plain.http(nil).request("OPTIONS", "/v1/events", headers: ["Origin": "https://app.example", "Access-Control-Request-Method": "POST"])
        #expect(preflightNone.headers["access-control-allow-origin"] == nil)
    }

    @Test func connectionsWithoutATokenAreClosedAfterTheHelloTimeout() throws {
        // Three seconds, not one: the connection that sends a token must get
        // its first request in before the deadline, on a machine running the
        // rest of the suite beside it.
        let daemon = try HTTPDaemon(arguments: ["--hello-timeout", "3", "--max-unauthenticated-per-peer", "2"])
        // The line port's per-peer cap on connections without a token counts HTTP ones too.
        let waiting = try (0..<2).map { _ in try daemon.http(nil, timeoutSeconds: 10) }
        let third = try daemon.http(nil, timeoutSeconds: 10)
        #expect(throws: (any Error).self, "the third is closed at once") { _ = try third.readHead() }
        #expect(daemon.log.contains("too many connections from 127.0.0.1"), "\(daemon.log.suffix(1_000))")
        waiting.forEach { $0.close() }
        let silent = try daemon.http(nil, timeoutSeconds: 10)
        let started = Date()
        #expect(throws: (any Error).self) { _ = try silent.readHead() }
        #expect(Date().timeIntervalSince(started) < 8)
        // One that sent a known token stays (keep-alive) past it.
        let front = try daemon.http("frontline")
        #expect(try front.get("/v1/head").status == 200)
        Thread.sleep(forTimeInterval: 3.5)
        #expect(try front.get("/v1/head").status == 200)
    }

    @Test func httpsWithTheLinePortsCertificate() throws {
        let certificates = try TLSEndToEndTests.Certificates()
        let daemon = try HTTPDaemon(arguments: ["--tls-cert", certificates.file("server.pem"), "--tls-key", certificates.file("server.key")])
        let output = certificates.file("curl.out")
        let (_, text) = try Daemon.runTool(
            ["curl", "-sS", "--cacert", certificates.file("ca.pem"), "-H", "Authorization: Bearer front-token", "https://127.0.0.1:\(daemon.httpPort)/v1/hello"],
            output: output)
        #expect(text.contains(#""role":"frontline""#), "\(text)")
        // Plain HTTP to the TLS port gets no answer.
        let plain = try daemon.http("frontline", timeoutSeconds: 5)
        #expect(throws: (any Error).self) { _ = try plain.get("/v1/hello") }
    }

    @Test func aRevokedTokenEndsItsStream() throws {
        let daemon = try HTTPDaemon()
        let stream = try daemon.http("auditor")
        #expect(try stream.openStream("/v1/events/stream").status == 200)
        let tokens = daemon.daemon.folder.appending(path: "tokens")
        let kept = try String(contentsOf: tokens, encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("auditor ") }
        try (kept.joined(separator: "\n") + "\n").write(to: tokens, atomically: true, encoding: .utf8)
        kill(daemon.daemon.pid, SIGHUP)
        #expect(throws: (any Error).self) {
            while try stream.nextEvent() != nil {}
            throw DaemonError("the stream ended")
        }
        #expect(try daemon.http("auditor").get("/v1/head").status == 401)
    }

    @Test func sigtermEndsStreamsResumablyAndExitsCleanly() throws {
        let daemon = try HTTPDaemon()
        let front = try daemon.daemon.client("frontline")
        #expect(okObject(try front.request("APPEND " + Events.complaint(1, caseID: "Q-1"))) != nil)
        let stream = try daemon.http("auditor")
        #expect(try stream.openStream("/v1/events/stream").status == 200)
        #expect(try stream.nextEvent()?.id == "1")
        let started = Date()
        kill(daemon.daemon.pid, SIGTERM)
        let ending = try #require(try stream.nextEvent())
        #expect(ending.event == "error" && ending.data.contains(#""code":"unavailable""#) && ending.data.contains(#""last":1"#), "\(ending)")
        #expect(try stream.nextEvent() == nil, "the response ends after it")
        #expect(daemon.daemon.waitForExit() == 0, "exit status 0")
        #expect(Date().timeIntervalSince(started) < 10, "no waiting out the grace for the stream")
        #expect(daemon.log.contains("stopped"), "\(daemon.log.suffix(2_000))")
    }

    @Test func theGeneratedCodeIsFromTheDocumentAsItIs() throws {
        let document = try Data(contentsOf: repositoryFile("docs/openapi.yaml"))
        let digest = Hex.encode(SHA256.hash(data: document))
        let folder = repositoryFile("Sources/RecoveryHTTP/Generated")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".swift") }
        #expect(files.count >= 2)
        for file in files {
            let first = try String(contentsOf: folder.appending(path: file), encoding: .utf8).prefix { $0 != "\n" }
            #expect(first.contains("sha256 \(digest)"), "\(file) is stale: run scripts/generate-openapi.py (docs/ARCHITECTURE.md)")
        }
    }
}
