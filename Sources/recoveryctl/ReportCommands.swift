import ArgumentParser
import Foundation
import RecoveryWire
import RecoveryClient
import RecoveryDomain

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "The daemon's state: version, mode, position, database, lag, connections, uptime.")
    @Flag(help: "Print the server's JSON.") var json = false
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await reporting {
            let session = try await connection.session()
            let hello = try Answer(session.hello).decode(Reply.Hello.self)
            let line = try await session.connection.request("STATUS")
            let s = try Answer(line).decode(Reply.Status.self)
            if json { return printJSON(line) }
            let (days, hours, minutes) = (s.uptimeSeconds / 86_400, s.uptimeSeconds % 86_400 / 3_600, s.uptimeSeconds % 3_600 / 60)
            var lines = [
                ("server", "\(s.server) \(s.version) at \(session.address), ledger \(shown(s.ledger))"),
                ("you", hello.role),
                ("mode", s.mode + (s.writer.map { " (the writer is \(shown($0)))" } ?? "")),
                ("position", "\(s.position)"),
                ("database", s.database + (s.mode == "writer" && !s.writerConnected ? " (the writer's connection is down; it reconnects on the next append)" : "")),
            ]
            if s.lagPositions != nil || s.lagSeconds != nil {
                lines.append(("lag", "\(s.lagPositions.map { "\($0) positions" } ?? "unknown"), \(s.lagSeconds.map { "\($0) s" } ?? "unknown")"))
            }
            let roles = s.connectionsByRole.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            lines.append(("connections", "\(s.connections) (\(roles.isEmpty ? "none authenticated" : roles); \(s.unauthenticated) before HELLO)"))
            lines.append(("subscribers", "\(s.subscribers)"))
            lines.append(("writer queue", "\(s.queueDepth) appends"))
            lines.append(("uptime", "\(days)d \(hours)h \(minutes)m since \(s.startedAt)"))
            for (name, value) in lines { print(name.padding(toLength: 13, withPad: " ", startingAt: 0) + value) }
        }
    }
}

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Spending and recovery outcomes over a date range, as an HTML page with charts or as CSV tables.",
        discussion: """
            Needs a finance or admin token. The page is self-contained (inline SVG, no scripts, nothing \
            fetched) and prints; every chart has its numbers under it. It reads SPENDING and OUTCOMES \
            by=week, never the whole log.
            """)
    @Option(help: "First business day (YYYY-MM-DD).") var from: String
    @Option(help: "Last business day (YYYY-MM-DD); at most 366 days after --from.") var to: String
    @Option(help: "Write the HTML page here.") var html: String?
    @Option(help: "Write the tables as CSV files into this folder (made if absent).") var csv: String?
    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        guard html != nil || csv != nil else { throw ValidationError("give --html FILE, --csv DIR, or both") }
        guard let first = BusinessDay(from), let last = BusinessDay(to) else { throw ValidationError("--from and --to are dates (YYYY-MM-DD)") }
        guard first <= last else { throw ValidationError("--from \(from) is after --to \(to)") }
        guard last.daysSinceEpoch - first.daysSinceEpoch < 366 else { throw ValidationError("the range is at most 366 days") }
    }

    func run() async throws {
        try await reporting {
            let session = try await connection.session()
            let server = session.connection
            let range = "from=\(from) to=\(to)"
            let budgetUse = try await server.call("SPENDING \(range) by=person,day", as: Reply.Spending.self)
            let byKind = try await server.call("SPENDING \(range) by=day,kind", as: Reply.Spending.self)
            let byCategory = try await server.call("SPENDING \(range) by=day,category", as: Reply.Spending.self)
            let byPerson = try await server.call("SPENDING \(range) by=person", as: Reply.Spending.self)
            let outcomes = try await server.call("OUTCOMES by=week \(range)", as: Reply.Outcomes.self)
            let status = try await server.call("STATUS", as: Reply.Status.self)
            let first = BusinessDay(from)!, last = BusinessDay(to)!
            let days = (0...(last.daysSinceEpoch - first.daysSinceEpoch)).map { first.adding(days: $0).description }
            let report = FinanceReport(
                from: from, to: to, days: days, currency: budgetUse.currency, server: "\(session.address)", position: status.position,
                generatedAt: Timestamp(Date()).description, budgetUse: budgetUse.rows, byKind: byKind.rows,
                byCategory: byCategory.rows, byPerson: byPerson.rows, weeks: outcomes.groups,
                total: outcomes.total, money: { Money.decimal($0) })
            if let html {
                try report.html().write(toFile: html, atomically: true, encoding: .utf8)
                print("wrote \(html)")
            }
            if let csv {
                try FileManager.default.createDirectory(atPath: csv, withIntermediateDirectories: true)
                for file in report.csv() {
                    let path = URL(fileURLWithPath: csv).appending(path: file.file).path
                    try file.text.write(toFile: path, atomically: true, encoding: .utf8)
                    print("wrote \(path)")
                }
            }
        }
    }
}
