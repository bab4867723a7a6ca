import ArgumentParser
import Foundation
import Synchronization
import RecoveryWire
import RecoveryWire
import RecoveryClient
import RecoveryDomain

@main
struct RecoveryCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recoveryctl",
        abstract: "A client of recoveryd for people at a terminal.",
        discussion: """
            The server is --server or $RECOVERYD_SERVER (default 127.0.0.1:7411); the token is \
            $RECOVERYD_TOKEN or the content of --token-file. Server refusals are printed as \
            their code and message, with exit status 1.
            """,
        subcommands: [
            AppendCommand.self, CaseCommand.self, CasesCommand.self, DueCommand.self, BudgetCommand.self, BudgetsCommand.self, PeopleCommand.self,
            OutcomesCommand.self, ReportCommand.self, StatusCommand.self, SettingsCommand.self, AllowanceCommand.self,
            ReplayCommand.self, VerifyCommand.self, HeadCommand.self, TailCommand.self,
        ])
}

/// Where the server is and who we are.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "HOST:PORT of recoveryd, or a list a:7411,b:7411 tried in turn (default: $RECOVERYD_SERVER or 127.0.0.1:7411).")
    var server: String?

    @Option(help: "File holding the token (default: $RECOVERYD_TOKEN).")
    var tokenFile: String?

    @Option(help: "Speak TLS, trusting this CA (PEM) for the server's certificate (default: $RECOVERYD_TLS_CA).")
    var tlsCa: String?

    @Option(help: "Client certificate (PEM), for a server that requires mutual TLS.")
    var tlsCert: String?

    @Option(help: "The client certificate's private key (PEM).")
    var tlsKey: String?

    var tls: ClientTLS? {
        guard let ca = tlsCa ?? ProcessInfo.processInfo.environment["RECOVERYD_TLS_CA"] else { return nil }
        return ClientTLS(caFile: ca, certificateFile: tlsCert, keyFile: tlsKey)
    }

    func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if tlsCert != nil && tls == nil { throw ValidationError("--tls-cert needs --tls-ca (or $RECOVERYD_TLS_CA)") }
    }

    func connect() async throws -> LineConnection { try await connectWithHello().connection }

    /// Connects and says HELLO, keeping which server answered.
    func session() async throws -> ServerList.Session {
        try await servers().connect(token: try token(), tls: tls, timeoutSeconds: 600, writer: false)
    }

    /// Connects and says HELLO; returns the connection and HELLO's answer.
    /// With a list of servers, the first that answers; with `writer`, the
    /// first that is the writer (see ``ServerList``).
    func connectWithHello(writer: Bool = false) async throws -> (connection: LineConnection, hello: Reply.Hello) {
        let session = try await servers().connect(token: try token(), tls: tls, timeoutSeconds: 600, writer: writer)
        return (session.connection, try Answer(session.hello).decode(Reply.Hello.self))
    }

    func servers() throws -> ServerList {
        let list: ServerList
        do {
            list = try ServerList(server ?? ProcessInfo.processInfo.environment["RECOVERYD_SERVER"] ?? "127.0.0.1:7411")
        } catch let error as ClientError {
            throw ValidationError(error.description)
        }
        if tls == nil, let remote = list.addresses.first(where: { !Loopback.contains(host: $0.host) }),
            !Self.warnedInClear.exchange(true, ordering: .relaxed)
        {
            FileHandle.standardError.write(
                Data(
                    "recoveryctl: warning: the token goes to \(remote) in clear, readable on the network path; use TLS (--tls-ca or $RECOVERYD_TLS_CA)\n"
                        .utf8))
        }
        return list
    }

    /// Said once per run, however many connections it makes.
    private static let warnedInClear = Atomic<Bool>(false)

    func token() throws -> String {
        if let tokenFile {
            return try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } else if let fromEnvironment = ProcessInfo.processInfo.environment["RECOVERYD_TOKEN"] {
            return fromEnvironment
        }
        throw ValidationError("no token: set RECOVERYD_TOKEN or give --token-file")
    }
}

/// Runs `body`, printing refusals and failures for people, with exit status 1.
func reporting(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let refusal as ServerRefusal {
        FileHandle.standardError.write(Data("error: \(refusal.code) \(refusal.message)\n".utf8))
        throw ExitCode.failure
    } catch let error as ClientError {
        FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
        throw ExitCode.failure
    }
}

let stdoutIsTerminal = isatty(STDOUT_FILENO) == 1

/// A one-line progress display, redrawn in place; only on a terminal.
struct Progress {
    var total: Int?
    var label: String
    private var lastDrawn = Date.distantPast

    init(total: Int?, label: String) {
        self.total = total
        self.label = label
    }

    mutating func update(_ done: Int, force: Bool = false) {
        guard stdoutIsTerminal, force || Date().timeIntervalSince(lastDrawn) > 0.1 else { return }
        lastDrawn = Date()
        if let total, total > 0 {
            let width = 30
            let filled = min(width, done * width / total)
            print("\r[\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] \(done)/\(total) \(label)", terminator: "")
        } else {
            print("\r\(done) \(label)", terminator: "")
        }
        fflush(nil)
    }

    func finish() {
        if stdoutIsTerminal { print("") }
    }
}

func money(_ minor: Int64, _ currency: String) -> String { "\(Money.decimal(minor)) \(currency)" }

/// A rate or mean from the server (exact, with fixed decimals), for display.
func decimal(_ value: Decimal?, _ digits: Int) -> String {
    guard var value else { return "–" }
    var rounded = Decimal()
    NSDecimalRound(&rounded, &value, digits, .plain)
    var text = "\(rounded)"
    guard digits > 0 else { return text }
    if !text.contains(".") { text += "." }
    let shown = text.count - 1 - text.distance(from: text.startIndex, to: text.firstIndex(of: ".")!)
    return text + String(repeating: "0", count: max(0, digits - shown))
}

/// A rate (0…1) as a percentage with one decimal: `0.2586` → `25.9%`.
func percent(_ value: Decimal?) -> String {
    guard let value else { return "–" }
    return decimal(value * 100, 1) + "%"
}

/// Text taken from events, safe to print to a terminal.
func shown(_ text: String) -> String { TerminalText.escape(text) }

func table(_ header: [String], _ rows: [[String]]) -> String {
    let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { index, cell in
            index == 0 ? cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
                : String(repeating: " ", count: widths[index] - cell.count) + cell
        }.joined(separator: "  ")
    }
    return ([line(header), line(widths.map { String(repeating: "-", count: $0) })] + rows.map(line)).joined(separator: "\n")
}

func printJSON(_ line: String) {
    if case .ok(let json) = try? Answer(line) { print(json) }
}

struct AppendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Append events from a JSON-lines file (or standard input), pipelined.",
        discussion: "Prints a summary of accepted, duplicate and refused lines, with each refusal's line number and reason; exit status 1 if any line was refused.")

    @Argument(help: "JSON-lines file, one event per line (default: standard input).") var file: String?
    @Option(help: "Requests in flight at once.") var depth = 256
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await reporting {
            let text: String
            if let file {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } else {
                text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            }
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
                .map { (number: $0.offset + 1, text: $0.element.trimmingCharacters(in: .whitespaces)) }
                .filter { !$0.text.isEmpty }
            var progress = Progress(total: lines.count, label: "lines")
            let summary = try await appendMovingOn(lines.map(\.text)) { progress.update($0) }
            progress.update(lines.count, force: true)
            progress.finish()
            let refusals = summary.refusals
            print("accepted \(summary.accepted), duplicate \(summary.duplicates), refused \(refusals.count) (of \(lines.count) lines)")
            for (index, refusal) in refusals { print("line \(lines[index].number): \(shown(refusal.description))") }
            if !refusals.isEmpty { throw ExitCode.failure }
        }
    }

    /// Appends through the writer; when it disappears, or a server answers
    /// `read_only` or `unavailable`, the lines not yet recorded go again to the
    /// next writer found in the list (appends are idempotent), for up to a
    /// minute. A line recorded before a switch may then count as a duplicate.
    private func appendMovingOn(_ events: [String], progress: (Int) -> Void) async throws -> PipelinedAppend.Summary {
        var results = [Result<Reply.Receipt, ServerRefusal>?](repeating: nil, count: events.count)
        let deadline = Date().addingTimeInterval(60)
        var lastProblem = ""
        while true {
            let open = results.indices.filter { index in
                switch results[index] {
                case nil: true
                case .failure(let refusal)?: ["read_only", "unavailable"].contains(refusal.code)
                case .success?: false
                }
            }
            if open.isEmpty || Date() > deadline { break }
            if !lastProblem.isEmpty { FileHandle.standardError.write(Data("recoveryctl: \(lastProblem); trying the servers again\n".utf8)) }
            do {
                let (server, _) = try await connection.connectWithHello(writer: true)
                defer { server.close() }
                let summary = try await PipelinedAppend(connection: server, depth: depth).run(open.map { events[$0] }) { progress($0) }
                for (slot, result) in zip(open, summary.results) { results[slot] = result }
                lastProblem = summary.refusals.first { ["read_only", "unavailable"].contains($0.refusal.code) }.map { "\($0.refusal)" } ?? ""
            } catch let refusal as ServerRefusal {
                throw refusal
            } catch {
                lastProblem = "\(error)"
            }
            if !lastProblem.isEmpty { try await Task.sleep(for: .milliseconds(500)) }
        }
        return PipelinedAppend.Summary(results: results.map {
            $0 ?? .failure(ServerRefusal(code: "unavailable", message: "no server recorded it within a minute: \(lastProblem)"))
        })
    }
}

/// ` at=N` for a point-in-time request, or nothing.
func atArgument(_ at: Int64?) -> String { at.map { " at=\($0)" } ?? "" }

/// The line above a point-in-time answer: which position, and its hash.
func printAsOf(_ line: String) throws {
    let asOf = try Answer(line).decode(Reply.AsOf.self)
    if let at = asOf.at { print("as of position \(at) (chain hash \(asOf.atHash ?? "?"))") }
}

struct CaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "case", abstract: "Show one case: its outcome and history.")
    @Argument(help: "The case_id.") var caseID: String
    @Option(help: "Answer as the ledger stood right after this position.") var at: Int64?
    @Flag(help: "Print the server's JSON.") var json = false
    @OptionGroup var time: TimeOptions
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await reporting {
            let (server, hello) = try await connection.connectWithHello()
            let line = try await server.request("CASE \(caseID)" + atArgument(at))
            let c = try Answer(line).decode(Reply.Case.self)
            if json { return printJSON(line) }
            let times = time.times(ledger: hello.timeZone)
            try printAsOf(line)
            func text(_ value: Int?) -> String { value.map(String.init) ?? "–" }
            print("case \(shown(c.caseId))  customer \(shown(c.customerId))  \(c.channel) / \(shown(c.category)) / severity \(c.severity)")
            print("owner \(shown(c.owner))  status \(c.status)  outcome \(c.outcome)  (baseline \(text(c.baseline)) → satisfaction \(text(c.satisfaction)), uplift \(text(c.uplift)); would recommend \(text(c.wouldRecommend)))")
            print("opened \(times.show(c.openedAt))  follow-up due \(c.followUpDue.map(times.show) ?? "–")\(c.followUpLate.map { $0 ? " (followed up late)" : " (followed up on time)" } ?? "")")
            print("MAMA steps: \(c.steps.joined(separator: ", "))\(c.mamaComplete ? " (complete)" : "")")
            print("compensation net: \(money(c.compensationNet, c.currency))")
            let byID = Dictionary(c.events.map { ($0.eventId, $0) }, uniquingKeysWith: { first, _ in first })
            let events = c.events.map { event in
                ["\(event.position)", times.show(event.recordedAt), event.type, shown(event.agentId), Self.detail(event, byID: byID, currency: c.currency)]
            }
            print(table(["position", "recorded", "type", "agent", "detail"], events))
        }
    }

    /// What a person reads of an event in one cell: who approved, what a
    /// reversal takes back, where a case went, what the customer said.
    static func detail(_ event: Reply.Case.Event, byID: [String: Reply.Case.Event], currency: String) -> String {
        var parts: [String] = []
        switch event.type {
        case "complaint":
            parts.append("customer \(shown(event.customerId ?? "?"))")
            if let baseline = event.baseline { parts.append("baseline \(baseline)") }
        case "compensation":
            parts.append([event.amount.map { money($0, event.currency ?? currency) }, event.kind].compactMap { $0 }.joined(separator: " "))
            if let approver = event.approvedBy { parts.append("approved by \(shown(approver))") }
            if let reason = event.overrideReason { parts.append("over the customer's cap: \(shown(reason))") }
        case "compensation_reversal":
            let target = event.reverses.flatMap { byID[$0] }
            let amount = target?.amount.map { money($0, target?.currency ?? currency) } ?? "?"
            parts.append("takes back \(amount) (position \(target.map { String($0.position) } ?? "?"), charged to \(shown(target?.approvedBy ?? target?.agentId ?? "?")))")
        case "escalation":
            parts.append("to \(shown(event.toAgentId ?? "?"))")
        case "follow_up":
            parts.append("satisfaction \(event.satisfaction.map(String.init) ?? "?")")
            if let score = event.wouldRecommend { parts.append("would recommend \(score)") }
            parts.append(event.resolved == false ? "not resolved" : "resolved")
        default:
            break
        }
        if let reason = event.reason, event.type != "compensation" { parts.append(shown(reason)) }
        return parts.joined(separator: "; ")
    }
}

struct BudgetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "budget", abstract: "One person's allowance use on a day.")
    @Argument(help: "The agent_id.") var agentID: String
    @Argument(help: "The day (YYYY-MM-DD; default today).") var day: String?
    @Option(help: "Answer as the ledger stood right after this position.") var at: Int64?
    @Flag(help: "Print the server's JSON.") var json = false
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await reporting {
            let line = try await connection.connect().request("BUDGET \(agentID)" + (day.map { " \($0)" } ?? "") + atArgument(at))
            let b = try Answer(line).decode(Reply.Budget.self)
            if json { return printJSON(line) }
            try printAsOf(line)
            print("\(shown(b.agentId)) on \(b.day): spent \(money(b.spent, b.currency)) of \(money(b.allowance, b.currency)), \(money(b.remaining, b.currency)) left (\(b.compensations) compensations, \(b.reversals) reversals)")
            if b.lateReversals > 0 {
                let late = b.lateReversals
                print("and \(late) reversal\(late == 1 ? "" : "s") of earlier days' compensations: \(money(b.lateReversed, b.currency)) taken back (no room given back)")
            }
        }
    }
}

struct BudgetsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "budgets", abstract: "Everyone's allowance use on a day, with totals.")
    @Argument(help: "The day (YYYY-MM-DD; default today in the ledger's time zone).") var day: String?
    @Option(help: "Answer as the ledger stood right after this position.") var at: Int64?
    @Flag(help: "Print the server's JSON.") var json = false
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await reporting {
            let line = try await connection.connect().request("BUDGETS" + (day.map { " \($0)" } ?? "") + atArgument(at))
            let b = try Answer(line).decode(Reply.Budgets.self)
            if json { return printJSON(line) }
            try printAsOf(line)
            let rows = b.agents.map {
                [
                    shown($0.agentId), money($0.allowance, b.currency), money($0.spent, b.currency), money($0.remaining, b.currency),
                    "\($0.compensations)", "\($0.reversals)", $0.lateReversed > 0 ? "-" + money($0.lateReversed, b.currency) : "",
                ]
            }
            print("budgets on \(b.day)")
            print(table(["agent", "allowance", "spent", "remaining", "compensations", "reversals", "late reversals"], rows))
            print("total spent \(money(b.totalSpent, b.currency)) of \(money(b.totalAllowance, b.currency)), over \(b.agents.count) people (\(b.covers.isEmpty ? "everyone with a row that day" : b.covers))")
        }
    }
}

struct OutcomesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "outcomes", abstract: "Recovery outcomes and the paradox rate, grouped.")
    @Option(help: "agent, channel, category, severity, repeat, day or week.") var by: String?
    @Option(help: "First complaint day (YYYY-MM-DD).") var from: String?
    @Option(help: "Last complaint day (YYYY-MM-DD).") var to: String?
    @Option(help: "Answer as the ledger stood right after this position.") var at: Int64?
    @Flag(help: "Print the server's JSON.") var json = false
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await reporting {
            var request = "OUTCOMES"
            if let by { request += " by=\(by)" }
            if let from { request += " from=\(from)" }
            if let to { request += " to=\(to)" }
            let line = try await connection.connect().request(request + atArgument(at))
            let o = try Answer(line).decode(Reply.Outcomes.self)
            if json { return printJSON(line) }
            try printAsOf(line)
            func row(_ key: String, _ s: Reply.Outcomes.Summary) -> [String] {
                let counts: [Int] = [s.cases, s.open, s.paradox, s.restored, s.unrecovered, s.unmeasured, s.defected]
                let figures: [String] = [
                    percent(s.paradoxRate?.value), decimal(s.meanUplift?.value, 2), decimal(s.nps?.value, 2), percent(s.followUpOnTimeRate?.value),
                    String(s.followUpsOverdue), money(s.compensationTotal, o.currency),
                ]
                return [key] + counts.map(String.init) + figures
            }
            let groups = o.groups.map { row(shown($0.key ?? ""), $0) }
            // By agent, money is what the cases they own received, whoever was charged.
            let moneyHeader = by == "agent" ? "compensation owned" : "compensation"
            print(table(
                [(by == "agent" ? "owner" : by ?? "all"), "cases", "open", "paradox", "restored", "unrecovered", "unmeasured", "defected", "paradox rate",
                    "mean uplift", "NPS", "follow-ups on time", "overdue", moneyHeader],
                groups + [row("total", o.total)]))
        }
    }
}

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay", abstract: "Copy the log to a JSON-lines file, checking its chain on the way.")
    @Option(help: "First position.") var from: Int64 = 1
    @Option(help: "Last position (default: the last one).") var to: Int64?
    @Option(name: .shortAndLong, help: "The file to write.") var output: String
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await reporting {
            let server = try await connection.connect()
            guard FileManager.default.createFile(atPath: output, contents: nil) else { throw ClientError("cannot create \(output)") }
            guard let file = FileHandle(forWritingAtPath: output) else { throw ClientError("cannot write \(output)") }
            defer { try? file.close() }
            try await server.send("REPLAY \(from)" + (to.map { " \($0)" } ?? "") + "\n")
            var progress = Progress(total: to.map { Int($0 - from + 1) }, label: "events")
            var pending = Data()
            var payloads: [[UInt8]] = []
            var count = 0
            var final = ""
            while let line = try await server.readLineBytes() {
                guard line.starts(with: Array("EVENT ".utf8)) else {
                    final = String(decoding: line, as: UTF8.self)
                    break
                }
                let payload = Array(line.dropFirst(6))
                payloads.append(payload)
                pending.append(contentsOf: payload)
                pending.append(0x0A)
                count += 1
                if pending.count > 1 << 20 {
                    try file.write(contentsOf: pending)
                    pending.removeAll(keepingCapacity: true)
                }
                progress.update(count)
            }
            try file.write(contentsOf: pending)
            progress.update(count, force: true)
            progress.finish()
            let summary = try Answer(final).decode(Reply.ReplaySummary.self)
            guard var previous = ChainVerifier.bytes(hex: summary.prevHash) else {
                throw ClientError("the REPLAY answer has no prev_hash")
            }
            if from == 1 {
                try requireGenesis(summary)
                previous = ChainVerifier.genesis
            }
            var chain = ChainVerifier(previousHash: previous, previousPosition: from - 1)
            for payload in payloads { try chain.add(payload) }
            let verified = ChainVerifier.hex(chain.hash) == summary.hash
            print("wrote \(count) events (positions \(from)…\(summary.last)) to \(output)")
            print("prev_hash \(summary.prevHash)")
            print("hash      \(summary.hash)  \(verified ? "(chain verified)" : "(CHAIN DOES NOT MATCH)")")
            if !verified { throw ExitCode.failure }
        }
    }
}

/// From position 1 the chain starts at the genesis hash, whatever the server
/// says: a server that gives another `prev_hash` is refused.
func requireGenesis(_ summary: Reply.ReplaySummary) throws {
    guard ChainVerifier.bytes(hex: summary.prevHash) == ChainVerifier.genesis else {
        throw ClientError("the server gives prev_hash \(summary.prevHash) before position 1; the genesis hash is 64 zeros")
    }
}

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the hash chain on this side, independent of the server's VERIFY.",
        discussion: """
            With --file, checks a file written by `recoveryctl replay` (from --prev-hash, default the \
            genesis hash); without it, replays from the server from position 1, starting from the \
            genesis hash (not one the server gives). --receipts checks APPEND answers (JSON lines \
            with "position" and "hash", as the server gave them) against the chain. --heads checks \
            signed heads saved earlier with `recoveryctl head` (or a daemon's --head-witness file): each \
            must be signed by its key (or --signing-key), that key must be the one pinned for its ledger, \
            and the chain must still have its hash at its position; a rewritten history fails here even \
            if every later hash was recomputed. The newest saved head must also be recent (--max-age): \
            heads kept long ago cannot vouch for what was recorded since.
            """)
    @Option(help: "A replay file (JSON lines of payloads).") var file: String?
    @Option(help: "The hash before the file's first event (hex).") var prevHash: String?
    @Option(help: "A file of APPEND receipts to check.") var receipts: String?
    @Option(help: "A file of signed heads saved with `recoveryctl head >> FILE`.") var heads: String?
    @Option(help: "POS:HASH the chain must have (repeatable).") var expect: [String] = []
    @Option(help: "The Ed25519 public key (64 hex) every head must be signed with (default: the key saved with each head).")
    var signingKey: String?
    @Option(help: "With --heads: the newest saved head must have been signed within this many seconds.") var maxAge: Double = 3_600
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await reporting {
            var expectedHash: String?
            let payloads: [[UInt8]]
            var previous = ChainVerifier.genesis
            if let prevHash {
                guard let bytes = ChainVerifier.bytes(hex: prevHash), bytes.count == 32 else {
                    throw ValidationError("--prev-hash must be 64 hex digits")
                }
                previous = bytes
            }
            var expectations: [(position: Int64, hash: String, what: String)] = []
            for text in expect {
                let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
                guard parts.count == 2, let position = Int64(parts[0]), position >= 0, parts[1].count == 64,
                    ChainVerifier.bytes(hex: parts[1]) != nil
                else { throw ValidationError("--expect must be POS:HASH with 64 hex digits, not \(text)") }
                expectations.append((position, parts[1].lowercased(), "--expect \(text)"))
            }
            var headProblems: [String] = []
            if let heads {
                let saved = try HeadCheck.read(try String(contentsOfFile: heads, encoding: .utf8))
                if saved.isEmpty { headProblems.append("\(heads) holds no signed head") }
                // The newest one must be recent: old heads vouch for nothing recorded since.
                if let newest = saved.max(by: { ($0.position, $0.signedAt) < ($1.position, $1.signedAt) }),
                    let problem = HeadCheck.freshnessProblem(newest, helloPosition: nil, now: Date(), maxAge: maxAge)
                {
                    headProblems.append("the newest saved head (position \(newest.position)) is refused: \(problem)")
                }
                let known = KnownKeys()
                for head in saved {
                    let what = "head \(head.position) signed at \(head.signedAt)"
                    guard let key = signingKey ?? head.signingKey else {
                        headProblems.append("\(what): no signing key saved with it; give --signing-key")
                        continue
                    }
                    if let signingKey, let saved = head.signingKey, saved != signingKey {
                        headProblems.append("\(what): signed by \(saved), not by --signing-key")
                        continue
                    }
                    if signingKey == nil, case .changed(let pinned) = try known.check(ledger: head.ledger, key: key) {
                        headProblems.append("\(what): signed by \(key), but \(known.url.path) pins \(pinned) for ledger \(head.ledger)")
                        continue
                    }
                    if let problem = HeadCheck.signatureProblem(head, key: key) {
                        headProblems.append("\(what): \(problem)")
                        continue
                    }
                    expectations.append((head.position, head.hash.lowercased(), what))
                }
            }
            if let file {
                let data = try Data(contentsOf: URL(fileURLWithPath: file))
                payloads = data.split(separator: 0x0A).map { Array($0) }
            } else {
                let (events, final) = try await connection.connect().stream("REPLAY 1")
                let summary = try Answer(final).decode(Reply.ReplaySummary.self)
                try requireGenesis(summary)
                expectedHash = summary.hash
                payloads = events.map { Array($0.utf8) }
            }
            let wanted = Set(expectations.map(\.position))
            var chain = ChainVerifier(previousHash: previous)
            var hashes: [Int64: String] = [:]
            if prevHash == nil { hashes[0] = ChainVerifier.hex(ChainVerifier.genesis) }
            for (index, payload) in payloads.enumerated() {
                do {
                    let (position, hash) = try chain.add(payload)
                    if receipts != nil || wanted.contains(position) { hashes[position] = ChainVerifier.hex(hash) }
                } catch let error as ClientError {
                    print("line \(index + 1): \(error.description)")
                    throw ExitCode.failure
                }
            }
            let hash = ChainVerifier.hex(chain.hash)
            if let expectedHash, expectedHash != hash {
                print("the chain does not match: the server says \(expectedHash), the events give \(hash)")
                throw ExitCode.failure
            }
            print("chain verified: \(chain.count) events, last position \(chain.lastPosition.map(String.init) ?? "–"), hash \(hash)")
            var clean = true
            if let receipts {
                let result = ReceiptCheck.check(try String(contentsOfFile: receipts, encoding: .utf8), against: hashes)
                for line in result.mismatches { print(line) }
                print("receipts: \(result.matching) of \(result.checked) match")
                clean = clean && result.isClean
            }
            if !expectations.isEmpty || !headProblems.isEmpty {
                var failures = headProblems
                for expectation in expectations {
                    guard let found = hashes[expectation.position] else {
                        failures.append("\(expectation.what): the log has no position \(expectation.position) (it ends at \(chain.lastPosition ?? 0)); events were removed")
                        continue
                    }
                    if found != expectation.hash {
                        failures.append("\(expectation.what): the log's hash there is \(found), not \(expectation.hash); history was rewritten")
                    }
                }
                for failure in failures { print(failure) }
                let total = expectations.count + headProblems.count
                print("heads and expectations: \(total - failures.count) of \(total) hold")
                clean = clean && failures.isEmpty
            }
            if !clean { throw ExitCode.failure }
        }
    }
}

struct HeadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "head",
        abstract: "Print the server's head, signed, as one JSON line with its signing key; or keep them with --follow.",
        discussion: """
            Keep them: `recoveryctl head >> heads.jsonl`, or `recoveryctl head --follow heads.jsonl`, which \
            appends one every --interval seconds: the auditor's own witness. Later, `recoveryctl verify \
            --heads heads.jsonl` proves the log still holds every one. Before a head is kept, its \
            signature is checked, its key against the one pinned for its ledger (known_keys: \
            $RECOVERYD_KNOWN_KEYS, else ~/.config/recoveryd/known_keys; the first seen is pinned), and it \
            must be fresh: signed within --max-age and not behind the position HELLO reported.
            """)
    @Option(help: "The Ed25519 public key (64 hex) the head must be signed with (default: the one pinned for the ledger, else the one HELLO gives, pinned).")
    var signingKey: String?
    @Option(help: "Refuse a head signed longer ago than this, in seconds.") var maxAge: Double = 3_600
    @Flag(help: "The ledger's signing key changed on purpose: pin the new one.") var acceptNewKey = false
    @Option(help: "Append a head to this file every --interval seconds until stopped (or --count heads).") var follow: String?
    @Option(help: "Seconds between heads with --follow.") var interval: Double = 60
    @Option(help: "With --follow, stop after this many heads.") var count: Int?
    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        guard maxAge > 0 else { throw ValidationError("--max-age must be positive") }
        guard interval > 0 else { throw ValidationError("--interval must be positive") }
    }

    func run() async throws {
        try await reporting {
            guard let follow else { return print(try HeadCheck.line(try await fetch())) }
            var kept = 0
            while count.map({ kept < $0 }) ?? true {
                if kept > 0 { try await Task.sleep(for: .seconds(interval)) }
                do {
                    try Self.append(HeadCheck.line(try await fetch()) + "\n", to: follow)
                    kept += 1
                    print("kept head \(kept) in \(follow)")
                } catch let refusal as HeadRefusal {
                    // A head that fails its checks is what the witness is for: say so and stop.
                    throw refusal.error
                } catch {
                    FileHandle.standardError.write(Data("recoveryctl: no head this time: \(error); trying again in \(Int(interval)) s\n".utf8))
                    if count != nil { kept += 1 }
                }
            }
        }
    }

    /// A head that fails its checks (as opposed to a server that is down).
    struct HeadRefusal: Error { var error: ClientError }

    /// Appends `line` to `path` (made 0600 if absent) and waits until it is on disk.
    static func append(_ line: String, to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw ClientError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let bytes = Array(line.utf8)
        guard bytes.withUnsafeBytes({ write(descriptor, $0.baseAddress, $0.count) }) == bytes.count, fsync(descriptor) == 0 else {
            throw ClientError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// One head from the server, checked.
    func fetch() async throws -> Reply.Head {
        let (server, hello) = try await connection.connectWithHello()
        defer { server.close() }
        var head = try await server.call("HEAD", as: Reply.Head.self)
        let known = KnownKeys()
        let pinned: String?
        switch try known.check(ledger: head.ledger, key: signingKey ?? hello.signingKey ?? "", accept: acceptNewKey || signingKey != nil) {
        case .pinned, .matches: pinned = nil
        case .changed(let old): pinned = old
        }
        if let pinned {
            throw HeadRefusal(
                error: ClientError(
                    "the signing key of ledger \(head.ledger) changed: \(known.url.path) pins \(pinned), the server gives \(hello.signingKey ?? "none"); if the change is expected, run again with --accept-new-key"
                ))
        }
        guard let key = signingKey ?? hello.signingKey else { throw ClientError("the server gives no signing key; give --signing-key") }
        head.signingKey = key
        if let problem = HeadCheck.signatureProblem(head, key: key) { throw HeadRefusal(error: ClientError("the server's head: \(problem)")) }
        if let problem = HeadCheck.freshnessProblem(head, helloPosition: hello.position, now: Date(), maxAge: maxAge) {
            throw HeadRefusal(error: ClientError("the server's head is refused: \(problem)"))
        }
        return head
    }
}

struct CasesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cases", abstract: "Find cases: a customer's history, an agent's cases; newest first, a page at a time.")
    @Option(help: "Only this customer_id.") var customer: String?
    @Option(help: "Only cases this agent_id holds.") var owner: String?
    @Option(help: "open, closed or defected.") var status: String?
    @Option(help: "Recorded on or after this day (YYYY-MM-DD).") var from: String?
    @Option(help: "Recorded on or before this day (YYYY-MM-DD).") var to: String?
    @Option(help: "The next page: the case_id the last page ended with.") var after: String?
    @Option(help: "Cases per page (1–500).") var limit: Int?
    @Flag(help: "Print the server's JSON.") var json = false
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await reporting {
            let arguments = [("customer", customer), ("owner", owner), ("status", status), ("from", from), ("to", to), ("after", after),
                ("limit", limit.map(String.init))].compactMap { key, value in value.map { "\(key)=\($0)" } }
            let line = try await connection.connect().request((["CASES"] + arguments).joined(separator: " "))
            let page = try Answer(line).decode(Reply.Cases.self)
            if json { return printJSON(line) }
            print(table(
                ["case", "recorded", "status", "outcome", "owner", "customer", "compensation"],
                page.cases.map {
                    [shown($0.caseId), $0.openedDay, $0.status, $0.outcome, shown($0.owner), shown($0.customerId), money($0.compensationNet, $0.currency)]
                }))
            if let next = page.next { print("more: --after \(shown(next))") }
        }
    }
}

struct DueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "due", abstract: "Open cases whose first follow-up is due by the end of today, oldest deadline first; overdue ones marked.")
    @Argument(help: "Only this owner's (agent_id).") var agentID: String?
    @Flag(help: "Print the server's JSON.") var json = false
    @OptionGroup var time: TimeOptions
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await reporting {
            let (server, hello) = try await connection.connectWithHello()
            let line = try await server.request("DUE" + (agentID.map { " \($0)" } ?? ""))
            let due = try Answer(line).decode(Reply.Due.self)
            if json { return printJSON(line) }
            let times = time.times(ledger: hello.timeZone)
            let overdue = due.cases.filter { $0.overdue == true }.count
            print("follow-ups due by the end of \(due.day) (\(times.zone.identifier)): \(due.cases.count), \(overdue) overdue")
            print(table(
                ["case", "owner", "customer", "due", ""],
                due.cases.map { [shown($0.caseId), shown($0.owner), shown($0.customerId), times.show($0.followUpDue ?? ""), $0.overdue == true ? "OVERDUE" : ""] }))
        }
    }
}

struct PeopleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "people", abstract: "Everyone with an allowance setting or a charge: role and today's allowance.")
    @Flag(help: "Print the server's JSON.") var json = false
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await reporting {
            let line = try await connection.connect().request("PEOPLE")
            let people = try Answer(line).decode(Reply.People.self)
            if json { return printJSON(line) }
            print("people on \(people.day)")
            print(table(["agent", "role", "allowance"], people.people.map { [shown($0.agentId), $0.role, money($0.allowance, people.currency)] }))
        }
    }
}

struct TailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tail", abstract: "Subscribe and print events as they are recorded.")
    @Option(help: "First position (default: the next one to be recorded).") var from: Int64?
    @Option(help: "Stop after this many events.") var count: Int?
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await reporting {
            let (server, hello) = try await connection.connectWithHello()
            let start = from ?? hello.position + 1
            try await server.send("SUBSCRIBE \(start)\n")
            var printed = 0
            while count.map({ printed < $0 }) ?? true, let line = try await server.readLine() {
                switch try Answer(line) {
                case .event(let payload):
                    print(stdoutIsTerminal ? shown(payload) : payload)
                    fflush(nil)
                    printed += 1
                case .ok:
                    return
                case .error(let code, let message):
                    throw ServerRefusal(code: code, message: message)
                }
            }
            _ = try? await server.send("UNSUBSCRIBE\nQUIT\n")
        }
    }
}
