import Foundation
import RecoveryWire
import RecoveryClient
import Testing

@Suite("recoveryctl against the real daemon", .tags(.processes))
struct RecoveryCtlTests {
    static var binary: String { URL(fileURLWithPath: Daemon.binary).deletingLastPathComponent().appending(path: "recoveryctl").path }

    static func ctl(_ daemon: Daemon, _ role: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let tokenFile = daemon.folder.appending(path: "\(role).token").path
        try Daemon.tokens[role]!.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let output = daemon.folder.appending(path: "ctl-\(UUID().uuidString).out").path
        // Each daemon's keys are pinned in a file of its own (not this user's ~/.config).
        let pid = try Daemon.spawn(
            "/usr/bin/env",
            ["RECOVERYD_KNOWN_KEYS=" + daemon.folder.appending(path: "known_keys").path, binary] + arguments
                + ["--server", "127.0.0.1:\(daemon.port)", "--token-file", tokenFile], output: output)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return ((status >> 8) & 0xff, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    @Test func appendReportsAcceptedDuplicateAndRefusedLinesByNumber() throws {
        let daemon = try Daemon()
        let file = daemon.folder.appending(path: "events.jsonl").path
        let lines = [
            Events.complaint(1, caseID: "K-1"), Events.compensation(2, caseID: "K-1", amount: 15_000), "",
            Events.compensation(2, caseID: "K-1", amount: 15_000), Events.compensation(3, caseID: "K-1", amount: 999_999),
            "{not json", Events.followUp(4, caseID: "K-1", satisfaction: 9),
        ]
        try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let result = try Self.ctl(daemon, "frontline", ["append", file])
        #expect(result.status == 1)
        #expect(result.output.contains("accepted 3, duplicate 1, refused 2 (of 6 lines)"), "\(result.output)")
        #expect(result.output.contains("line 5: budget_exceeded A-7 has 1850.00 USD left"), "\(result.output)")
        #expect(result.output.contains("line 6: bad_request"), "\(result.output)")
        let again = try Self.ctl(daemon, "frontline", ["append", file])
        #expect(again.output.contains("accepted 0, duplicate 4, refused 2"), "\(again.output)")
    }

    @Test func queriesPrintTablesOrJSONAndRefusalsExitNonZero() throws {
        let daemon = try Daemon()
        let front = try daemon.client("frontline")
        for event in [Events.complaint(1, caseID: "K-1", baseline: 5), Events.compensation(2, caseID: "K-1", amount: 15_000), Events.followUp(3, caseID: "K-1", satisfaction: 8)] {
            #expect(okObject(try front.request("APPEND " + event)) != nil)
        }
        let caseText = try Self.ctl(daemon, "frontline", ["case", "K-1"])
        #expect(caseText.status == 0)
        #expect(caseText.output.contains("outcome paradox"), "\(caseText.output)")
        #expect(caseText.output.contains("compensation net: 150.00 USD"), "\(caseText.output)")
        let caseJSON = try Self.ctl(daemon, "frontline", ["case", "K-1", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(caseJSON.output.utf8)) as? [String: Any])
        #expect(object["outcome"] as? String == "paradox")
        let budget = try Self.ctl(daemon, "frontline", ["budget", "A-7"])
        #expect(budget.output.contains("spent 150.00 USD of 2000.00 USD, 1850.00 USD left"), "\(budget.output)")
        let day = try #require(okObject(try front.request("BUDGET A-7"))?["day"] as? String)
        let budgets = try Self.ctl(daemon, "finance", ["budgets", day])
        #expect(budgets.output.contains("total spent 150.00 USD of 2000.00 USD"), "\(budgets.output)")
        let outcomes = try Self.ctl(daemon, "finance", ["outcomes", "--by", "channel"])
        #expect(outcomes.output.contains("phone"), "\(outcomes.output)")
        #expect(outcomes.output.contains("100.0%") && outcomes.output.contains("follow-ups on time"), "rates as percentages: \(outcomes.output)")
        let missing = try Self.ctl(daemon, "frontline", ["case", "NOPE"])
        #expect(missing.status == 1)
        #expect(missing.output.contains("error: not_found no case NOPE"), "\(missing.output)")
        let forbidden = try Self.ctl(daemon, "frontline", ["budgets", day])
        #expect(forbidden.status == 1)
        #expect(forbidden.output.contains("error: forbidden"), "\(forbidden.output)")
    }

    @Test func replayVerifyReceiptsAndTail() throws {
        let daemon = try Daemon()
        let front = try daemon.client("frontline")
        var receipts = ""
        for n in 1...30 {
            let answer = try front.request("APPEND " + Events.complaint(n, caseID: "K-\(n)"))
            #expect(answer.hasPrefix("OK "))
            receipts += answer + "\n"
        }
        let receiptFile = daemon.folder.appending(path: "receipts.txt").path
        try receipts.write(toFile: receiptFile, atomically: true, encoding: .utf8)
        let replayFile = daemon.folder.appending(path: "replay.jsonl").path
        let replay = try Self.ctl(daemon, "auditor", ["replay", "--output", replayFile])
        #expect(replay.status == 0, "\(replay.output)")
        #expect(replay.output.contains("wrote 30 events"), "\(replay.output)")
        #expect(replay.output.contains("(chain verified)"), "\(replay.output)")

        let verified = try Self.ctl(daemon, "auditor", ["verify", "--file", replayFile, "--receipts", receiptFile])
        #expect(verified.status == 0, "\(verified.output)")
        #expect(verified.output.contains("chain verified: 30 events, last position 30"), "\(verified.output)")
        #expect(verified.output.contains("receipts: 30 of 30 match"), "\(verified.output)")
        let fromServer = try Self.ctl(daemon, "auditor", ["verify"])
        #expect(fromServer.output.contains("chain verified: 30 events"), "\(fromServer.output)")

        // A receipt the chain does not hold is named.
        try (receipts + #"OK {"duplicate":false,"hash":"\#(String(repeating: "ab", count: 32))","position":7}"# + "\n")
            .write(toFile: receiptFile, atomically: true, encoding: .utf8)
        let badReceipt = try Self.ctl(daemon, "auditor", ["verify", "--file", replayFile, "--receipts", receiptFile])
        #expect(badReceipt.status == 1)
        #expect(badReceipt.output.contains("receipt line 31: position 7 has hash"), "\(badReceipt.output)")

        // A file edited after the replay: the chain no longer matches the receipts;
        // a line removed is a gap.
        var edited = try String(contentsOfFile: replayFile, encoding: .utf8).split(separator: "\n").map(String.init)
        edited.remove(at: 4)
        try edited.joined(separator: "\n").write(toFile: replayFile, atomically: true, encoding: .utf8)
        let gap = try Self.ctl(daemon, "auditor", ["verify", "--file", replayFile])
        #expect(gap.status == 1)
        #expect(gap.output.contains("line 5: position 6 follows 4"), "\(gap.output)")

        let tail = try Self.ctl(daemon, "auditor", ["tail", "--from", "28", "--count", "3"])
        #expect(tail.status == 0, "\(tail.output)")
        let positions = tail.output.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["position"] as? Int
        }
        #expect(positions == [28, 29, 30])
    }
}

@Suite("RecoveryClient against the real daemon", .tags(.processes))
struct RecoveryClientEndToEndTests {
    @Test func pipelinedAppendsKeepTheirOrderAndTheirReceiptsMatchAReplay() async throws {
        try await onOwnThread {
            let daemon = try Daemon()
            let front = try await LineConnection(port: daemon.port)
            _ = try await front.request("HELLO front-token")
            var events = (1...300).map { Events.complaint($0, caseID: "R-\($0)") }
            events.append(Events.complaint(1, caseID: "R-1"))  // a retry: duplicate
            events.append(Events.complaint(1, caseID: "R-1", baseline: 2))  // same id, other content
            let summary = try await PipelinedAppend(connection: front, depth: 32).run(events)
            #expect(summary.accepted == 300)
            #expect(summary.duplicates == 1)
            #expect(summary.refusals.map(\.index) == [301])
            #expect(summary.refusals.first?.refusal.code == "conflict")
            let receipts = summary.results.compactMap { try? $0.get() }
            #expect(receipts.prefix(300).map(\.position) == Array(1...300))
            // The receipts check against the chain of a replay.
            let (payloads, final) = try daemon.client("auditor").stream("REPLAY 1")
            let replayed = try Answer(final).decode(Reply.ReplaySummary.self)
            var chain = ChainVerifier(previousHash: ChainVerifier.bytes(hex: replayed.prevHash)!)
            var hashes: [Int64: String] = [:]
            for payload in payloads {
                let (position, hash) = try chain.add(Array(payload.utf8))
                hashes[position] = ChainVerifier.hex(hash)
            }
            let lines = receipts.map { #"{"duplicate":\#($0.duplicate),"hash":"\#($0.hash)","position":\#($0.position)}"# }
            #expect(ReceiptCheck.check(lines.joined(separator: "\n"), against: hashes).isClean)
            var forged = receipts[7]
            forged.hash = String(repeating: "0", count: 64)
            let bad = ReceiptCheck.check(#"{"duplicate":false,"hash":"\#(forged.hash)","position":8}"#, against: hashes)
            #expect(bad.mismatches.count == 1)
        }
    }
}
