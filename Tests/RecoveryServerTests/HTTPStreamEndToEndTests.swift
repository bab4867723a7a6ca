import Foundation
import RecoveryDomain
import Synchronization
import Testing

/// `GET /v1/events/stream`: SUBSCRIBE's guarantees over Server-Sent Events.
@Suite("The HTTP event stream", .tags(.processes))
struct HTTPStreamEndToEndTests {
    /// Reads a stream until `last`; the positions it got, in order.
    static func read(_ client: HTTPClient, through last: Int) throws -> [Int] {
        var positions: [Int] = []
        while positions.last ?? 0 < last {
            guard let event = try client.nextEvent() else { throw DaemonError("the stream ended at \(positions.last ?? 0)") }
            guard event.event == "event", let id = event.id.flatMap({ Int($0) }) else { throw DaemonError("not an event: \(event)") }
            guard case .object(let payload) = try JSONParser.parse(Array(event.data.utf8)), payload["position"] == .integer(Int64(id)) else {
                throw DaemonError("id \(id) is not its payload's position: \(event.data.prefix(120))")
            }
            positions.append(id)
        }
        return positions
    }

    @Test func eightClientsJoiningWhileAppendsFlowGetEveryEventOnceInOrder() throws {
        let daemon = try HTTPDaemon()
        let total = 3_000
        let appended = Atomic<Int>(0)
        let front = try daemon.daemon.client("frontline")
        let writer = Thread {
            for chunk in stride(from: 1, through: total, by: 100) {
                let lines = (chunk..<chunk + 100).map { "APPEND " + Events.complaint($0, caseID: "S-\($0)") + "\n" }.joined()
                try? front.send(lines)
                for _ in 0..<100 { _ = try? front.readLine() }
                appended.store(chunk + 99, ordering: .relaxed)
            }
        }
        writer.start()
        let results = Mutex<[Int: Result<[Int], DaemonError>]>([:])
        let done = DispatchGroup()
        for client in 0..<8 {
            // Join at different moments while the appends flow; each from its own position.
            try waitFor("appends to reach \(client * 300)") { appended.load(ordering: .relaxed) >= client * 300 }
            let after = client.isMultiple(of: 2) ? 0 : client * 100
            let (port, token) = (daemon.httpPort, Daemon.tokens["auditor"]!)
            let opened = DispatchSemaphore(value: 0)
            done.enter()
            Thread.detachNewThread {
                defer { done.leave() }
                let result = Result {
                    let stream = try HTTPClient(port: port, token: token)
                    let head = try stream.openStream("/v1/events/stream?after=\(after)")
                    opened.signal()
                    guard head.status == 200 else { throw DaemonError("\(head.status) \(head.text)") }
                    return try Self.read(stream, through: total)
                }.mapError { DaemonError("\($0)") }
                results.withLock { $0[client] = result.map { $0 + [after] } }
            }
            opened.wait()
        }
        #expect(done.wait(timeout: .now() + 120) == .success)
        for client in 0..<8 {
            let result = try #require(results.withLock { $0[client] })
            var positions = try result.get()
            let after = positions.removeLast()
            #expect(positions == Array(after + 1...total), "client \(client): every event once, in order, from \(after + 1)")
        }
    }

    @Test func aClientThatStopsReadingIsCutOffAndOthersAreNotHeldUp() throws {
        // Room for a reading client's bursts (a commit brings up to max_batch
        // events at once), not for a client that reads nothing.
        let daemon = try HTTPDaemon(arguments: ["--subscriber-buffer", "1500"])
        let slow = try daemon.http("auditor", receiveBuffer: 4_096)
        #expect(try slow.openStream("/v1/events/stream").status == 200)
        let (port, token) = (daemon.httpPort, Daemon.tokens["auditor"]!)
        let front = try daemon.daemon.client("frontline")
        let summary = String(repeating: "s", count: 1_900)
        let total = 6_000
        var batch = ""
        for n in 1...total {
            batch += "APPEND " + Events.complaint(n, caseID: "K-\(n)").replacingOccurrences(of: "\"severity\":3", with: "\"severity\":3,\"summary\":\"\(summary)\"") + "\n"
        }
        // The other stream keeps up while the slow one is stuck: it has every
        // event within seconds of the last commit.
        let fastPositions = Mutex<[Int]?>(nil)
        let opened = DispatchSemaphore(value: 0)
        let reader = Thread {
            guard let fast = try? HTTPClient(port: port, token: token), (try? fast.openStream("/v1/events/stream"))?.status == 200 else {
                opened.signal()
                return
            }
            opened.signal()
            let positions = try? Self.read(fast, through: total)
            fastPositions.withLock { $0 = positions ?? [] }
        }
        reader.start()
        opened.wait()
        try front.send(batch)
        for _ in 1...total { _ = try front.readLine() }
        let committed = Date()
        try waitFor("the keeping-up stream to have every event", timeout: 30) { fastPositions.withLock { $0 != nil } }
        #expect(fastPositions.withLock { $0 } == Array(1...total))
        #expect(Date().timeIntervalSince(committed) < 10)

        // The slow one: every event up to where it was cut, then the error
        // naming that position; then its connection is closed.
        var positions: [Int] = []
        var ending: HTTPClient.Event?
        while let event = try slow.nextEvent() {
            if event.event == "error" {
                ending = event
                break
            }
            positions.append(try #require(event.id.flatMap { Int($0) }))
        }
        #expect(positions == Array(1...(positions.last ?? 0)))
        #expect(positions.count < total)
        let error = try #require(ending, "the stream ends with an error event")
        guard case .object(let object) = try JSONParser.parse(Array(error.data.utf8)) else { throw DaemonError("not JSON: \(error.data)") }
        #expect(object["code"] == .string("slow_consumer"))
        #expect(object["last"] == .integer(Int64(positions.last ?? 0)), "the last position sent, to resume from")
        #expect(daemon.log.contains("closing an HTTP event stream that fell behind"))

        // Resuming with Last-Event-ID gives the rest, from the next position.
        let resumed = try daemon.http("auditor")
        #expect(try resumed.openStream("/v1/events/stream", headers: ["Last-Event-ID": "\(positions.last ?? 0)"]).status == 200)
        #expect(try Self.read(resumed, through: total) == Array((positions.last ?? 0) + 1...total))
        let bad = try daemon.http("auditor").openStream("/v1/events/stream", headers: ["Last-Event-ID": "yesterday"])
        #expect(bad.status == 400)
        let frontline = try daemon.http("frontline").openStream("/v1/events/stream")
        #expect(frontline.status == 403)
    }
}
