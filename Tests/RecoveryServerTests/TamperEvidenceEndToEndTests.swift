import Foundation
import RecoveryWire
import LedgerStore
import RecoveryClient
import Testing

/// Tamper evidence an outside auditor can hold (issue 11): signed heads, a
/// VERIFY that compares more than the table with itself, a start-up that
/// compares hashes, and verifiers that pin the genesis hash.
@Suite("Tamper evidence: signed heads, VERIFY and start-up", .tags(.processes))
struct TamperEvidenceEndToEndTests {
    /// What a superuser with an agenda runs: rewrites position `at`'s
    /// payload, and recomputes its content digest, every later hash and the
    /// checkpoint, so that the table agrees with itself again.
    static func rewriteHistory(_ conninfo: String, at position: Int, replacing old: String, with new: String) throws {
        try PGConnection(conninfo).execute(
            """
            ALTER TABLE events DISABLE TRIGGER USER;
            UPDATE events SET payload = replace(payload, '\(old)', '\(new)') WHERE position = \(position);
            UPDATE events SET content_digest = sha256(convert_to(
                regexp_replace(regexp_replace(payload, '"position":[0-9]+,', ''), '"recorded_at":"[^"]*",', ''), 'UTF8'))
            WHERE position = \(position);
            DO $$
            DECLARE previous bytea; r record;
            BEGIN
                SELECT coalesce((SELECT hash FROM events WHERE position = \(position) - 1), '\\x' || repeat('00', 32)::bytea)
                INTO previous;
                FOR r IN SELECT position, payload FROM events WHERE position >= \(position) ORDER BY position LOOP
                    previous := sha256(previous || convert_to(r.payload, 'UTF8'));
                    UPDATE events SET hash = previous WHERE position = r.position;
                END LOOP;
                UPDATE ledger_checkpoint SET hash = previous;
            END $$;
            ALTER TABLE events ENABLE TRIGGER USER;
            """)
    }

    private static func appendSome(_ daemon: Daemon, count: Int) throws {
        let front = try daemon.client("frontline")
        for n in 1...count {
            let event = n % 2 == 1 ? Events.complaint(n, caseID: "T-\(n)") : Events.compensation(n, caseID: "T-\(n - 1)", amount: 5_000)
            #expect(okObject(try front.request("APPEND " + event)) != nil)
        }
    }

    @Test func headsAreSignedWithTheKeyHelloAndKeyShowGive() throws {
        let daemon = try Daemon()
        try Self.appendSome(daemon, count: 4)
        let auditor = try daemon.client()
        let hello = try #require(okObject(try auditor.request("HELLO audit-token")))
        let key = try #require(hello["signing_key"] as? String)
        #expect(key.count == 64)
        let shown = try Daemon.run(["key", "show", "--data-dir", daemon.folder.path])
        #expect(shown.status == 0)
        #expect(shown.output.trimmingCharacters(in: .whitespacesAndNewlines) == key)
        let keyFile = daemon.folder.appending(path: "signing.key").path
        #expect((try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int) == 0o600)

        let answer = try #require(okObject(try auditor.request("HEAD")))
        #expect(answer["ledger"] as? String == "default")
        #expect(answer["position"] as? Int == 4)
        let head = Reply.Head(
            ledger: "default", position: 4, hash: try #require(answer["hash"] as? String), signedAt: try #require(answer["signed_at"] as? String),
            signature: try #require(answer["signature"] as? String))
        #expect(HeadCheck.signatureProblem(head, key: key) == nil)
        var forged = head
        forged.position = 3
        #expect(HeadCheck.signatureProblem(forged, key: key) != nil)
        #expect(okObject(try auditor.request("VERIFY"))?["hash"] as? String == head.hash)
        // Kept by the daemon, and any role may ask.
        let kept = try SignedHeads(connection: PGConnection(daemon.conninfo)).all()
        #expect(kept.contains { $0.head.position == 4 && $0.head.signature == head.signature && $0.signingKey == key })
        #expect(okObject(try daemon.client("finance").request("HEAD")) != nil)
        #expect(errorCode(try daemon.client().request("HEAD")) == "auth_required")
        // A restart keeps the key.
        daemon.stop()
        try daemon.start()
        #expect(okObject(try daemon.client().request("HELLO audit-token"))?["signing_key"] as? String == key)
    }

    @Test func theHeadIsSignedPeriodicallyWhileAppendsFlow() throws {
        let daemon = try Daemon(arguments: ["--head-interval", "0.2"])
        try Self.appendSome(daemon, count: 3)
        let deadline = Date().addingTimeInterval(10)
        var kept: [Int64] = []
        while Date() < deadline {
            kept = try SignedHeads(connection: PGConnection(daemon.conninfo)).all().map(\.head.position)
            if kept.contains(3) { break }
            usleep(100_000)
        }
        #expect(kept.contains(3), "\(kept)")
        #expect(daemon.log.contains("signed head"))
        // Nothing moves: no more heads.
        let before = try SignedHeads(connection: PGConnection(daemon.conninfo)).all().count
        usleep(700_000)
        #expect(try SignedHeads(connection: PGConnection(daemon.conninfo)).all().count == before)
    }

    @Test func verifyComparesTheCheckpointAndTheWritersHeadAndStartUpRefusesAMismatch() throws {
        let daemon = try Daemon()
        try Self.appendSome(daemon, count: 6)
        let auditor = try daemon.client("auditor")
        #expect(okObject(try auditor.request("VERIFY"))?["verified"] as? Int == 6)
        // The checkpoint's hash edited alone.
        try PGConnection(daemon.conninfo).execute("UPDATE ledger_checkpoint SET hash = sha256('forged')")
        let broken = try auditor.request("VERIFY")
        #expect(broken.hasPrefix("ERR chain_broken 6 the checkpoint records hash"), "\(broken)")
        daemon.stop()
        #expect(throws: DaemonError.self) { try daemon.start() }
        #expect(daemon.log.contains("the checkpoint records hash"), "\(daemon.log)")
        #expect(daemon.log.contains("was changed outside recoveryd"))
    }

    @Test func verifyCatchesAHistoryRewrittenUnderARunningWriter() throws {
        let daemon = try Daemon()
        try Self.appendSome(daemon, count: 6)
        try Self.rewriteHistory(daemon.conninfo, at: 4, replacing: #""amount":5000"#, with: #""amount":500"#)
        let answer = try daemon.client("auditor").request("VERIFY")
        #expect(answer.hasPrefix("ERR chain_broken 6 the writer's head in memory records hash"), "\(answer)")
    }

    @Test func aRewrittenHistoryWithEveryHashRecomputedIsCaughtBySavedHeads() throws {
        let daemon = try Daemon()
        try Self.appendSome(daemon, count: 10)
        let heads = daemon.folder.appending(path: "heads.jsonl").path
        let saved = try RecoveryCtlTests.ctl(daemon, "auditor", ["head"])
        #expect(saved.status == 0, "\(saved.output)")
        try saved.output.write(toFile: heads, atomically: true, encoding: .utf8)
        let head = try #require(try HeadCheck.read(saved.output).first)
        #expect(head.position == 10)
        let clean = try RecoveryCtlTests.ctl(daemon, "auditor", ["verify", "--heads", heads])
        #expect(clean.status == 0, "\(clean.output)")
        #expect(clean.output.contains("heads and expectations: 1 of 1 hold"), "\(clean.output)")

        // The operator stops the daemon, rewrites a compensation from 50.00 to
        // 5.00, recomputes everything after it, and starts again.
        daemon.stop()
        try Self.rewriteHistory(daemon.conninfo, at: 4, replacing: #""amount":5000"#, with: #""amount":500"#)
        try daemon.start()
        // The table agrees with itself: a plain client-side check of the chain passes…
        #expect(try RecoveryCtlTests.ctl(daemon, "auditor", ["verify"]).status == 0)
        // …but not with the head the daemon signed at 10 (and kept): VERIFY says so, and no append is taken.
        let verify = try daemon.client("auditor").request("VERIFY")
        #expect(verify.hasPrefix("ERR chain_broken 10 the log's hash at position 10 is"), "\(verify)")
        let refused = try daemon.client("frontline").request("APPEND " + Events.complaint(99, caseID: "T-99"))
        #expect(refused.hasPrefix("ERR chain_broken 10"), "\(refused)")
        // The head saved before the rewrite does not.
        let caught = try RecoveryCtlTests.ctl(daemon, "auditor", ["verify", "--heads", heads])
        #expect(caught.status == 1)
        #expect(caught.output.contains("head 10 signed at \(head.signedAt): the log's hash there is"), "\(caught.output)")
        #expect(caught.output.contains("history was rewritten"))
        let expected = try RecoveryCtlTests.ctl(daemon, "auditor", ["verify", "--expect", "10:\(head.hash)"])
        #expect(expected.status == 1)
        // A head whose signature was altered is refused as such.
        var forged = head
        forged.hash = String(repeating: "ab", count: 32)
        try HeadCheck.line(forged).write(toFile: heads, atomically: true, encoding: .utf8)
        let bad = try RecoveryCtlTests.ctl(daemon, "auditor", ["verify", "--heads", heads])
        #expect(bad.status == 1)
        #expect(bad.output.contains("the signature does not match"), "\(bad.output)")
    }

    /// Issue 24's rewrite: the tail after the auditor's last saved head, by
    /// the cluster's superuser with the daemon stopped, hashes and checkpoint
    /// recomputed, the daemon's own signed heads of that tail deleted, the
    /// projections rebuilt. The table agrees with itself and with every head
    /// it still holds; the head witness outside the database does not.
    @Test func aRewrittenTailIsCaughtByTheHeadWitnessAndTheDaemonTakesNoAppends() throws {
        let witness = FileManager.default.temporaryDirectory.appending(path: "witness-\(UUID().uuidString.prefix(8)).jsonl").path
        defer { unlink(witness) }
        let daemon = try Daemon(arguments: ["--head-witness", witness])
        try Self.appendSome(daemon, count: 10)
        // The auditor keeps a head at 10 (their own witness, at an interval).
        let auditorHeads = daemon.folder.appending(path: "auditor-heads.jsonl").path
        let follow = try RecoveryCtlTests.ctl(daemon, "auditor", ["head", "--follow", auditorHeads, "--count", "1"])
        #expect(follow.status == 0 && follow.output.contains("kept head 1"), "\(follow.output)")
        #expect(try HeadCheck.read(String(contentsOfFile: auditorHeads, encoding: .utf8)).map(\.position) == [10])
        // Two more events; the daemon signs its last head as it stops (witnessed at 12).
        let front = try daemon.client("frontline")
        #expect(okObject(try front.request("APPEND " + Events.complaint(11, caseID: "T-11"))) != nil)
        #expect(okObject(try front.request("APPEND " + Events.compensation(12, caseID: "T-11", amount: 5_000))) != nil)
        daemon.stop()
        let witnessed = try HeadCheck.read(String(contentsOfFile: witness, encoding: .utf8))
        #expect(witnessed.last?.position == 12, "\(witnessed.map(\.position))")

        try Self.rewriteHistory(daemon.conninfo, at: 12, replacing: #""amount":5000"#, with: #""amount":500000"#)
        try PGConnection(daemon.conninfo).execute("DELETE FROM signed_heads WHERE position >= 12")
        let rebuilt = try Daemon.run(["rebuild", "--write", "--database", daemon.conninfo])
        #expect(rebuilt.status == 0, "\(rebuilt.output)")

        try daemon.start()
        // The daemon's next start: its log no longer extends the witnessed head. No appends.
        let refused = try daemon.client("frontline").request("APPEND " + Events.complaint(13, caseID: "T-13"))
        #expect(refused.hasPrefix("ERR chain_broken 12 the log's hash at position 12 is"), "\(refused)")
        #expect(refused.contains("but the last head in the witness"), "\(refused)")
        #expect(daemon.log.contains("THE LOG NO LONGER EXTENDS A HEAD THIS DAEMON SIGNED"), "\(daemon.log)")
        #expect(try daemon.client("auditor").request("VERIFY").hasPrefix("ERR chain_broken 12"))
        // The auditor's heads alone (all older) still hold — but the newest is more than a second old…
        let older = try RecoveryCtlTests.ctl(daemon, "auditor", ["verify", "--heads", auditorHeads])
        #expect(older.status == 0 && older.output.contains("1 of 1 hold"), "\(older.output)")
        usleep(1_100_000)
        let stale = try RecoveryCtlTests.ctl(daemon, "auditor", ["verify", "--heads", auditorHeads, "--max-age", "1"])
        #expect(stale.status == 1 && stale.output.contains("the newest saved head (position 10) is refused"), "\(stale.output)")
        // …and the witness file catches the rewrite.
        let caught = try RecoveryCtlTests.ctl(daemon, "auditor", ["verify", "--heads", witness])
        #expect(caught.status == 1 && caught.output.contains("head 12 signed at") && caught.output.contains("history was rewritten"), "\(caught.output)")
    }

    @Test func aStaleHeadAndAChangedKeyAreRefused() throws {
        let daemon = try Daemon()
        try Self.appendSome(daemon, count: 2)
        // The first head pins the ledger's key.
        let first = try RecoveryCtlTests.ctl(daemon, "auditor", ["head"])
        #expect(first.status == 0, "\(first.output)")
        let pinned = try String(contentsOf: daemon.folder.appending(path: "known_keys"), encoding: .utf8)
        #expect(pinned.hasPrefix("default "))
        // The head is signed once per position: asked again, the same signature (no new row).
        usleep(1_100_000)
        let again = try RecoveryCtlTests.ctl(daemon, "auditor", ["head"])
        #expect(try HeadCheck.read(again.output).first?.signature == (try HeadCheck.read(first.output).first?.signature))
        #expect(try SignedHeads(connection: PGConnection(daemon.conninfo)).all().count == 1)
        // Older than --max-age: refused.
        let stale = try RecoveryCtlTests.ctl(daemon, "auditor", ["head", "--max-age", "1"])
        #expect(stale.status == 1 && stale.output.contains("a stale head"), "\(stale.output)")
        // Another key pinned for the ledger: refused unless the change is expected.
        try "default \(String(repeating: "ab", count: 32))\n".write(to: daemon.folder.appending(path: "known_keys"), atomically: true, encoding: .utf8)
        let changed = try RecoveryCtlTests.ctl(daemon, "auditor", ["head"])
        #expect(changed.status == 1 && changed.output.contains("the signing key of ledger default changed"), "\(changed.output)")
        let accepted = try RecoveryCtlTests.ctl(daemon, "auditor", ["head", "--accept-new-key"])
        #expect(accepted.status == 0, "\(accepted.output)")
    }

    /// docs/verify_replay.py, run as an auditor would (its signature check
    /// needs Python's `cryptography`, which deploy/install-deps.sh installs).
    @Test func thePythonVerifierInTheDocsCatchesTheRewriteThroughSavedHeads() throws {
        let daemon = try Daemon()
        try Self.appendSome(daemon, count: 6)
        let heads = daemon.folder.appending(path: "heads.jsonl").path
        let saved = try RecoveryCtlTests.ctl(daemon, "auditor", ["head"])
        try saved.output.write(toFile: heads, atomically: true, encoding: .utf8)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appending(path: "../../docs/verify_replay.py").standardizedFileURL.path
        func python() throws -> String {
            let output = daemon.folder.appending(path: "python-\(UUID().uuidString).out").path
            let pid = try Daemon.spawn(
                "/usr/bin/env", ["RECOVERYD_HEADS=\(heads)", "python3", script, "127.0.0.1", "\(daemon.port)", "audit-token"], output: output)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            return (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        }
        let before = try python()
        #expect(before.contains("chain verified 6 events, last 6"), "\(before)")
        #expect(before.contains("head 6 holds"), "\(before)")
        daemon.stop()
        try Self.rewriteHistory(daemon.conninfo, at: 2, replacing: #""amount":5000"#, with: #""amount":500"#)
        try daemon.start()
        let after = try python()
        #expect(after.contains("chain verified 6 events, last 6"), "\(after)")
        #expect(after.contains("head 6 DOES NOT HOLD: history was rewritten"), "\(after)")
    }
}
