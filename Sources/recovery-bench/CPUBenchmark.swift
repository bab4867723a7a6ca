import ArgumentParser
import Foundation
import LedgerStore
import LineProtocol
import RecoveryWire
import RecoveryDomain
import RecoveryServer

/// `recovery-bench cpu`: the per-event work of an append, in one thread and
/// without any I/O: decoding the request, the permission check, the content
/// digest, the batch decider, the canonical payload and the chain hash, the
/// batch's statement parameters, the state's move after commit, and the
/// receipt. What is left out is the network (NIO) and libpq. Run it under
/// `valgrind --tool=callgrind` for instructions per event.
struct CPUBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cpu",
        abstract: "Time the per-event work of an append without I/O (for callgrind, too).")

    @Option(help: "Events.") var events = 200_000
    @Option(help: "Appends per batch.") var batch = 500
    @Option(help: "Connections the case mix is spread over.") var connections = 64
    @Flag(help: "Also count each append and batch in the daemon's metrics (swift-prometheus), as --metrics-listen does.")
    var metrics = false
    @Flag(help: "Count the instructions per event with valgrind's callgrind (this command again under it) instead of timing.")
    var callgrind = false

    func run() throws {
        if callgrind {
            let counted = try Self.instructionsPerEvent(events: events, batch: batch)
            print("cpu: \(counted.events) events, \(counted.instructions) instructions in the per-event work = \(counted.perEvent) per event (callgrind)")
            return
        }
        if metrics { _ = ServerMetrics.bootstrapPrometheus() }
        var scripts = (0..<connections).map { CaseScript(connection: $0) }
        let lines = (0..<events).map { Array(scripts[$0 % connections].next().utf8) }
        let clock = ContinuousClock()
        let started = clock.now
        let answered = try Self.appendAll(lines, batch: batch, metrics: metrics ? ServerMetrics() : nil)
        let seconds = (clock.now - started).seconds
        print("cpu: \(answered) events in \(String(format: "%.2f", seconds)) s = \(String(format: "%.1f", seconds / Double(answered) * 1e6)) µs per event on one thread")
    }

    /// Runs `recovery-bench cpu` under `valgrind --tool=callgrind`, counting
    /// only inside ``appendAll(_:batch:metrics:)`` (not the case mix's making),
    /// and reads the total from its output file. Exact and repeatable where
    /// timings on a busy two-core machine are not.
    static func instructionsPerEvent(events: Int, batch: Int) throws -> (events: Int, instructions: Int, perEvent: Int) {
        let output = FileManager.default.temporaryDirectory.appending(path: "recovery-bench-callgrind-\(getpid()).out").path
        // valgrind gives up on this binary's debug info: it runs a copy without it.
        let stripped = FileManager.default.temporaryDirectory.appending(path: "recovery-bench-stripped-\(getpid())").path
        defer {
            try? FileManager.default.removeItem(atPath: output)
            try? FileManager.default.removeItem(atPath: stripped)
        }
        let strip = Process()
        strip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        strip.arguments = ["strip", "--strip-debug", "-o", stripped, URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path]
        do { try strip.run() } catch { throw ValidationError("strip (binutils) could not be started: \(error)") }
        strip.waitUntilExit()
        guard strip.terminationStatus == 0 else { throw ValidationError("strip --strip-debug failed on this executable") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "valgrind", "--tool=callgrind", "--callgrind-out-file=\(output)", "--collect-atstart=no",
            "--toggle-collect=*CPUBenchmarkV9appendAll*", stripped, "cpu", "--events", "\(events)", "--batch", "\(batch)",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { throw ValidationError("valgrind could not be started (apt-get install -y valgrind): \(error)") }
        process.waitUntilExit()
        guard process.terminationStatus == 0, let text = try? String(contentsOfFile: output, encoding: .utf8),
            let totals = text.split(separator: "\n").last(where: { $0.hasPrefix("totals:") || $0.hasPrefix("summary:") }),
            let instructions = Int(totals.split(separator: " ").last ?? "")
        else { throw ValidationError("callgrind did not run (is valgrind installed? apt-get install -y valgrind)") }
        guard instructions > 0 else { throw ValidationError("callgrind counted nothing inside appendAll") }
        return (events, instructions, instructions / max(1, events))
    }

    /// Every append of `lines` through the per-event work, in batches; returns
    /// how many were answered. (`--toggle-collect` this function to count it alone.)
    @inline(never)
    static func appendAll(_ lines: [[UInt8]], batch: Int, metrics: ServerMetrics? = nil) throws -> Int {
        var state = LedgerState()
        var tip = ChainHead.empty
        var answered = 0
        var answerBytes = 0
        for chunk in stride(from: 0, to: lines.count, by: batch) {
            // On the event loops: decode, check, digest.
            let started = DispatchTime.now().uptimeNanoseconds
            var submissions: [Submission] = []
            submissions.reserveCapacity(batch)
            for line in lines[chunk..<min(chunk + batch, lines.count)] {
                guard case .success(let event) = EventCodec.decode(json: line, currency: state.settingsHistory.currency),
                    Permissions.check(event.body.type, by: .frontline) == nil
                else { throw ValidationError("the case mix was refused") }
                submissions.append(Submission(event: event, contentDigest: HashChain.digest(event.content)))
            }
            // On the writer: decide, build the rows and the transaction's parameters.
            let now = Timestamp(Date())
            let decision = Ledger.decide(batch: submissions, existing: [:], state: state, at: now)
            let text = now.description
            let rows = decision.records.indices.map {
                EventRow(decision.records[$0], contentDigest: decision.digests[$0], recordedAtText: text)
            }
            let (_, receipts) = try EventLog.batchStatements(rows, after: tip, projections: try Projections.statements(for: decision.delta))
            tip = receipts.last ?? tip
            state.apply(decision.delta)
            // Back on the loops: the receipts.
            for outcome in decision.outcomes {
                guard case .recorded(let row) = outcome else { throw ValidationError("an append was refused: \(outcome)") }
                answerBytes += Response.receipt(position: receipts[row].position, hash: receipts[row].hash, duplicate: false).encoded().count
                answered += 1
                metrics?.answered(result: "recorded", since: started)
            }
            metrics?.committed(appends: decision.outcomes.count, took: .nanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started)))
        }
        precondition(answerBytes > 0, "receipts were written")
        return answered
    }
}
