import Foundation
import Testing

/// examples/frontline in headless Chromium: an agent with their own token
/// records a case through the page (the browser script is
/// examples/frontline/tests/test_frontline_page.py), and the case is then
/// checked with `CASE` over the line protocol.
@Suite("The frontline page", .tags(.processes))
struct FrontlinePageEndToEndTests {
    @Test func anAgentRecordsACaseThroughThePageInChromium() throws {
        let pagePort = try Daemon.freePort()
        let origin = "http://127.0.0.1:\(pagePort)"
        let daemon = try HTTPDaemon(arguments: ["--http-cors-origin", origin])
        // Follow-ups due the day a case opens, so today's list has the page's cases.
        let admin = try daemon.daemon.client("admin")
        let setting = #"{"event_id":"7f9619ff-8b86-4011-b42d-00c04fc96400","type":"ledger_setting","agent_id":"ADM","name":"follow_up_within_days","value":0}"#
        #expect(okObject(try admin.request("APPEND " + setting)) != nil)
        let page = repositoryFile("examples/frontline")
        let serverLog = daemon.daemon.folder.appending(path: "page-server.out").path
        let server = try Daemon.spawn(
            "/usr/bin/env", ["python3", "-m", "http.server", "\(pagePort)", "--bind", "127.0.0.1", "--directory", page.path], output: serverLog)
        defer {
            kill(server, SIGTERM)
            var status: Int32 = 0
            waitpid(server, &status, 0)
        }
        try waitFor("the page server") { (try? HTTPClient(port: pagePort)) != nil }
        let screenshot = daemon.daemon.folder.appending(path: "frontline.png").path
        let output = daemon.daemon.folder.appending(path: "browser.out").path
        let (status, text) = try Daemon.runTool(
            [
                "FRONTLINE_PAGE_URL=\(origin)/index.html", "RECOVERYD_HTTP_URL=http://127.0.0.1:\(daemon.httpPort)",
                "FRONTLINE_TOKEN=\(Daemon.boundTokens["A-1"]!)", "UNBOUND_TOKEN=\(Daemon.tokens["frontline"]!)", "FRONTLINE_CASE=K-web-1",
                "FRONTLINE_SCREENSHOT=\(screenshot)", "PYTHONDONTWRITEBYTECODE=1",
                "python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", page.appending(path: "tests").path,
            ],
            output: output)
        #expect(status == 0, "the browser test failed:\n\(text)")
        #expect(text.contains("2 passed"), "\(text)")

        // What the page recorded, as the ledger has it.
        let line = try daemon.daemon.client("auditor")
        let answer = try #require(okObject(try line.request("CASE K-web-1")), "the case exists")
        let events = try #require(answer["events"] as? [[String: Any]])
        #expect(events.map { $0["type"] as? String } == ["complaint", "apology", "compensation", "follow_up"])
        #expect(events.allSatisfy { $0["agent_id"] as? String == "A-1" })
        #expect(events[2]["amount"] as? Int == 1_250 && events[2]["currency"] as? String == "USD")
        #expect(events[0]["summary"] as? String == "The parcel came a week late.")
        #expect(answer["status"] as? String == "closed" && answer["outcome"] as? String == "paradox", "\(answer)")
        #expect(answer["compensation_net"] as? Int == 1_250, "the refused one was not recorded")
        let budget = try #require(okObject(try daemon.daemon.client("frontline").request("BUDGET A-1")))
        #expect(budget["spent"] as? Int == 1_250)
        // The screenshot the docs show.
        let image = try Data(contentsOf: URL(fileURLWithPath: screenshot))
        #expect(image.starts(with: [0x89, 0x50, 0x4E, 0x47]) && image.count > 20_000)
        if ProcessInfo.processInfo.environment["RECOVERYD_UPDATE_SCREENSHOTS"] != nil {
            try image.write(to: repositoryFile("docs/frontline.png"))
        }
    }
}
