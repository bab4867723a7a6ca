import Foundation

/// `recoveryctl report`: a month (or any range) of spending and recovery
/// outcomes for finance and service managers, as one self-contained HTML page
/// (inline SVG, no scripts, nothing fetched; it prints) or as CSV tables. Each
/// chart has the numbers under it. Built from `SPENDING` and `OUTCOMES
/// by=week` answers only: the report never replays the log.
public struct FinanceReport: Sendable {
    public var from: String
    public var to: String
    /// Every business day of the range, in order (the heat map's columns).
    public var days: [String]
    public var currency: String
    public var server: String
    public var position: Int64
    public var generatedAt: String
    /// `SPENDING by=person,day`: each person's charges per day, with the allowance.
    public var budgetUse: [Reply.Spending.Row]
    /// `SPENDING by=day,kind` and `by=day,category`.
    public var byKind: [Reply.Spending.Row]
    public var byCategory: [Reply.Spending.Row]
    /// `SPENDING by=person`: compensations and reversals per person.
    public var byPerson: [Reply.Spending.Row]
    /// `OUTCOMES by=week`: each week's groups and the range's total.
    public var weeks: [Reply.Outcomes.Summary]
    public var total: Reply.Outcomes.Summary
    /// How minor units are shown (`1234.56`).
    public var money: @Sendable (Int64) -> String

    public init(
        from: String, to: String, days: [String], currency: String, server: String, position: Int64, generatedAt: String,
        budgetUse: [Reply.Spending.Row], byKind: [Reply.Spending.Row], byCategory: [Reply.Spending.Row], byPerson: [Reply.Spending.Row],
        weeks: [Reply.Outcomes.Summary], total: Reply.Outcomes.Summary, money: @escaping @Sendable (Int64) -> String
    ) {
        self.from = from
        self.to = to
        self.days = days
        self.currency = currency
        self.server = server
        self.position = position
        self.generatedAt = generatedAt
        self.budgetUse = budgetUse
        self.byKind = byKind
        self.byCategory = byCategory
        self.byPerson = byPerson
        self.weeks = weeks
        self.total = total
        self.money = money
    }

    // MARK: Tables (the CSV files, and the numbers under each chart)

    public struct Table: Sendable {
        public var name: String
        public var header: [String]
        public var rows: [[String]]
    }

    /// Share of the allowance, in whole percent (floor), from integers.
    static func percent(_ part: Int64, of whole: Int64?) -> String {
        guard let whole, whole > 0 else { return "" }
        return "\(part * 100 / whole)"
    }

    static func text(_ value: Decimal?) -> String { value.map { "\($0)" } ?? "" }

    public var tables: [Table] {
        [
            Table(
                name: "budget_use", header: ["agent_id", "day", "spent", "allowance", "share_percent", "compensations", "reversals"],
                rows: budgetUse.map {
                    [$0.agentId ?? "", $0.day ?? "", money($0.net), $0.allowance.map(money) ?? "", Self.percent($0.net, of: $0.allowance),
                     "\($0.compensations)", "\($0.reversals)"]
                }),
            Table(
                name: "spending_by_kind", header: ["day", "kind", "net", "compensations", "reversals"],
                rows: byKind.map { [$0.day ?? "", $0.kind ?? "", money($0.net), "\($0.compensations)", "\($0.reversals)"] }),
            Table(
                name: "spending_by_category", header: ["day", "category", "net", "compensations", "reversals"],
                rows: byCategory.map { [$0.day ?? "", $0.category ?? "", money($0.net), "\($0.compensations)", "\($0.reversals)"] }),
            Table(
                name: "outcomes_by_week",
                header: ["week_of", "cases", "paradox", "restored", "unrecovered", "defected", "open", "paradox_rate", "promoters", "passives",
                         "detractors", "nps", "follow_up_on_time_rate"],
                rows: weeks.map { w in
                    [w.key ?? "", "\(w.cases)", "\(w.paradox)", "\(w.restored)", "\(w.unrecovered)", "\(w.defected)", "\(w.open)",
                     Self.text(w.paradoxRate), "\(w.promoters ?? 0)", "\(w.passives ?? 0)", "\(w.detractors ?? 0)", Self.text(w.nps),
                     Self.text(w.followUpOnTimeRate)]
                }),
            Table(
                name: "reversals_by_person", header: ["agent_id", "compensations", "reversals", "reversal_rate_percent", "net"],
                rows: byPerson.map {
                    [$0.agentId ?? "", "\($0.compensations)", "\($0.reversals)", Self.percent($0.reversals, of: $0.compensations), money($0.net)]
                }),
        ]
    }

    /// The tables as CSV files (RFC 4180: CRLF, fields quoted when needed), by file name.
    public func csv() -> [(file: String, text: String)] {
        tables.map { table in
            (table.name + ".csv", ([table.header] + table.rows).map { $0.map(Self.csvField).joined(separator: ",") + "\r\n" }.joined())
        }
    }

    static func csvField(_ field: String) -> String {
        var value = field
        // A leading = + - @ would be a formula to a spreadsheet: neutralised with a '.
        if let first = value.first, "=+-@".contains(first), Double(value) == nil { value = "'" + value }
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    // MARK: HTML

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    static let palette = ["#1b6ca8", "#e07b39", "#3a9e5f", "#b8405e", "#7a5cb0", "#c9a227", "#4aa3b5", "#8c6d46"]

    public func html() -> String {
        var page = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <title>recoveryd report \(Self.escape(from)) to \(Self.escape(to))</title>
            <style>
            body { font: 14px/1.4 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222; margin: 24px auto; max-width: 1100px; padding: 0 16px; }
            h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin: 28px 0 6px; border-bottom: 1px solid #ccc; }
            p.meta { color: #555; margin-top: 0; } .summary span { display: inline-block; margin-right: 24px; }
            table { border-collapse: collapse; margin: 8px 0 4px; font-size: 12px; } th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
            th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
            svg { display: block; margin: 8px 0; } svg text { font-size: 11px; fill: #333; }
            section { break-inside: avoid; page-break-inside: avoid; }
            div.numbers { max-height: 260px; overflow: auto; display: inline-block; border: 1px solid #eee; }
            div.numbers table { margin: 0; } div.numbers th { position: sticky; top: 0; }
            @media print { body { margin: 0; max-width: none; } div.numbers { max-height: none; overflow: visible; border: 0; } }
            </style></head><body>
            <h1>Service recovery: \(Self.escape(from)) to \(Self.escape(to))</h1>
            <p class="meta">From \(Self.escape(server)) at position \(position), \(Self.escape(generatedAt)). Amounts in \(Self.escape(currency)).</p>
            <p class="summary"><span><b>\(total.cases)</b> cases</span><span><b>\(total.paradox)</b> paradox</span>\
            <span>paradox rate <b>\(Self.escape(Self.text(total.paradoxRate).isEmpty ? "–" : Self.text(total.paradoxRate)))</b></span>\
            <span>NPS <b>\(Self.escape(Self.text(total.nps).isEmpty ? "–" : Self.text(total.nps)))</b></span>\
            <span>follow-ups on time <b>\(Self.escape(Self.text(total.followUpOnTimeRate).isEmpty ? "–" : Self.text(total.followUpOnTimeRate)))</b></span>\
            <span>compensation <b>\(Self.escape(money(byPerson.reduce(0) { $0 + $1.net })))</b></span></p>

            """
        let tables = Dictionary(uniqueKeysWithValues: self.tables.map { ($0.name, $0) })
        page += section(
            "Budget use per person and day", "Share of each person's daily allowance spent (net of reversals); budget_use.csv has the amounts.",
            heatMap(), budgetUsePivot())
        page += section("Compensation per day by kind", "Net of reversals, stacked by kind.", stackedBars(byKind, key: \.kind), tables["spending_by_kind"]!)
        page += section(
            "Compensation per day by category", "Net of reversals, stacked by the case's category.", stackedBars(byCategory, key: \.category),
            tables["spending_by_category"]!)
        page += section(
            "Paradox rate and NPS per week", "Weeks start on Monday, by the day the complaint was recorded; n is the cases that week.",
            weekly(), tables["outcomes_by_week"]!)
        page += section(
            "Follow-ups on time per week", "First follow-ups recorded by their deadline, of those recorded.", onTime(), nil)
        page += section(
            "Reversal rate per person", "Compensations charged to the person that were reversed since.", reversals(), tables["reversals_by_person"]!)
        return page + "</body></html>\n"
    }

    private func section(_ title: String, _ note: String, _ chart: String, _ table: Table?) -> String {
        var out = "<section><h2>\(Self.escape(title))</h2><p class=\"meta\">\(Self.escape(note))</p>\n\(chart)\n"
        if let table {
            out += "<table><thead><tr>" + table.header.map { "<th>\(Self.escape($0))</th>" }.joined() + "</tr></thead><tbody>\n"
            for row in table.rows { out += "<tr>" + row.map { "<td>\(Self.escape($0))</td>" }.joined() + "</tr>\n" }
            out += "</tbody></table>\n"
            // Long tables scroll on screen and print whole.
            if table.rows.count > 12 { out = out.replacingOccurrences(of: "<table>", with: "<div class=\"numbers\"><table>") + "</div>\n" }
        }
        return out + "</section>\n"
    }

    /// People by day: the share of the allowance spent, in whole percent, and the range's total.
    private func budgetUsePivot() -> Table {
        let people = Array(Set(budgetUse.compactMap(\.agentId))).sorted()
        var cells: [String: [String: String]] = [:]
        var spent: [String: Int64] = [:]
        for row in budgetUse {
            guard let person = row.agentId, let day = row.day else { continue }
            cells[person, default: [:]][day] = Self.percent(row.net, of: row.allowance)
            spent[person, default: 0] += row.net
        }
        return Table(
            name: "budget_use_by_day", header: ["agent_id"] + days.map { String($0.suffix(2)) } + ["spent"],
            rows: people.map { person in [person] + days.map { cells[person]?[$0] ?? "" } + [money(spent[person] ?? 0)] })
    }

    private func svg(width: Int, height: Int, _ body: String, label: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-label=\"\(Self.escape(label))\">\(body)</svg>"
    }

    /// One legend entry: a swatch and its label.
    private func legend(x: Int, y: Int, colour: String, _ label: String) -> String {
        "<rect x=\"\(x)\" y=\"\(y)\" width=\"12\" height=\"12\" fill=\"\(colour)\"/><text x=\"\(x + 16)\" y=\"\(y + 10)\">\(Self.escape(label))</text>"
    }

    private func empty(_ what: String) -> String { "<p class=\"meta\">No \(Self.escape(what)) in this range.</p>" }

    /// Rows: people; columns: days; the cell's darkness is the share of the allowance spent.
    private func heatMap() -> String {
        let people = Array(Set(budgetUse.compactMap(\.agentId))).sorted()
        guard !people.isEmpty else { return empty("compensation") }
        let left = 110, top = 24, cell = max(8, min(28, 960 / max(days.count, 1)))
        var body = ""
        let column = Dictionary(uniqueKeysWithValues: days.enumerated().map { ($1, $0) })
        for (index, day) in days.enumerated() where index % max(1, days.count / 10) == 0 {
            body += "<text x=\"\(left + index * cell)\" y=\"14\">\(Self.escape(String(day.suffix(5))))</text>"
        }
        for (row, person) in people.enumerated() {
            let y = top + row * cell
            body += "<text x=\"0\" y=\"\(y + cell - 4)\">\(Self.escape(String(person.prefix(16))))</text>"
            for index in days.indices {
                body += "<rect x=\"\(left + index * cell)\" y=\"\(y)\" width=\"\(cell - 1)\" height=\"\(cell - 1)\" fill=\"#f2f2f2\"/>"
            }
        }
        let rowOf = Dictionary(uniqueKeysWithValues: people.enumerated().map { ($1, $0) })
        for entry in budgetUse {
            guard let person = entry.agentId, let day = entry.day, let row = rowOf[person], let index = column[day],
                let allowance = entry.allowance, allowance > 0
            else { continue }
            let share = min(entry.net * 100 / allowance, 100)
            // From pale yellow (nothing) to deep red (all of it).
            let red = 255 - Int(share) * 75 / 100, green = 235 - Int(share) * 200 / 100, blue = 160 - Int(share) * 130 / 100
            body += "<rect x=\"\(left + index * cell)\" y=\"\(top + row * cell)\" width=\"\(cell - 1)\" height=\"\(cell - 1)\" fill=\"rgb(\(red),\(green),\(blue))\"><title>\(Self.escape(person)) \(day): \(share)%</title></rect>"
        }
        let legendY = top + people.count * cell + 16
        for step in 0...4 {
            let share = step * 25
            let red = 255 - share * 75 / 100, green = 235 - share * 200 / 100, blue = 160 - share * 130 / 100
            body += legend(x: left + step * 60, y: legendY, colour: "rgb(\(red),\(green),\(blue))", "\(share)%")
        }
        return svg(width: left + days.count * cell + 10, height: legendY + 24, body, label: "budget use heat map")
    }

    /// One bar per day, stacked by `key` (kind or category), with a legend.
    private func stackedBars(_ rows: [Reply.Spending.Row], key: KeyPath<Reply.Spending.Row, String?>) -> String {
        let names = Array(Set(rows.compactMap { $0[keyPath: key] })).sorted()
        guard !names.isEmpty else { return empty("compensation") }
        var perDay: [String: [(String, Int64)]] = [:]
        for row in rows { if let day = row.day, let name = row[keyPath: key] { perDay[day, default: []].append((name, row.net)) } }
        let highest = max(1, perDay.values.map { $0.reduce(0) { $0 + $1.1 } }.max() ?? 1)
        let left = 70, top = 10, height = 180, bar = max(6, min(30, 960 / max(days.count, 1)))
        var body = "<line x1=\"\(left)\" y1=\"\(top + height)\" x2=\"\(left + days.count * bar)\" y2=\"\(top + height)\" stroke=\"#999\"/>"
        body += "<text x=\"0\" y=\"\(top + 10)\">\(Self.escape(money(highest)))</text><text x=\"0\" y=\"\(top + height)\">0</text>"
        for (index, day) in days.enumerated() {
            var y = top + height
            for (name, amount) in (perDay[day] ?? []).sorted(by: { $0.0 < $1.0 }) {
                let h = Int(amount * Int64(height) / highest)
                y -= h
                let color = Self.palette[(names.firstIndex(of: name) ?? 0) % Self.palette.count]
                body += "<rect x=\"\(left + index * bar)\" y=\"\(y)\" width=\"\(bar - 2)\" height=\"\(h)\" fill=\"\(color)\"><title>\(Self.escape(day)) \(Self.escape(name)): \(Self.escape(money(amount)))</title></rect>"
            }
            if index % max(1, days.count / 10) == 0 {
                body += "<text x=\"\(left + index * bar)\" y=\"\(top + height + 14)\">\(Self.escape(String(day.suffix(5))))</text>"
            }
        }
        let legendY = top + height + 30
        for (index, name) in names.enumerated() {
            let x = left + (index % 6) * 150, y = legendY + (index / 6) * 18
            body += legend(x: x, y: y, colour: Self.palette[index % Self.palette.count], String(name.prefix(20)))
        }
        return svg(width: left + days.count * bar + 10, height: legendY + 18 * ((names.count + 5) / 6) + 6, body, label: "compensation per day")
    }

    /// Per week: the paradox rate (0–100%) and NPS (−100…100) side by side, with n.
    private func weekly() -> String {
        guard !weeks.isEmpty else { return empty("cases") }
        let left = 40, top = 14, half = 90, width = 120
        var body = "<line x1=\"\(left)\" y1=\"\(top + half)\" x2=\"\(left + weeks.count * width)\" y2=\"\(top + half)\" stroke=\"#999\"/>"
        body += "<text x=\"0\" y=\"\(top + 8)\">100</text><text x=\"0\" y=\"\(top + half + 4)\">0</text><text x=\"0\" y=\"\(top + 2 * half)\">−100</text>"
        for (index, week) in weeks.enumerated() {
            let x = left + index * width + 10
            if let rate = week.paradoxRate {
                let h = Int(truncating: NSDecimalNumber(decimal: rate * Decimal(half)))
                body += "<rect x=\"\(x)\" y=\"\(top + half - h)\" width=\"40\" height=\"\(h)\" fill=\"\(Self.palette[0])\"><title>paradox rate \(Self.text(week.paradoxRate))</title></rect>"
            }
            if let nps = week.nps {
                let h = Int(truncating: NSDecimalNumber(decimal: nps * Decimal(half) / 100))
                body += "<rect x=\"\(x + 44)\" y=\"\(h >= 0 ? top + half - h : top + half)\" width=\"40\" height=\"\(abs(h))\" fill=\"\(Self.palette[2])\"><title>NPS \(Self.text(week.nps))</title></rect>"
            }
            body += "<text x=\"\(x)\" y=\"\(top + 2 * half + 16)\">\(Self.escape(week.key ?? "")) n=\(week.cases)</text>"
        }
        let legendY = top + 2 * half + 30
        body += legend(x: left, y: legendY, colour: Self.palette[0], "paradox rate (%)")
        body += legend(x: left + 160, y: legendY, colour: Self.palette[2], "NPS")
        return svg(width: left + weeks.count * width + 10, height: legendY + 20, body, label: "paradox rate and NPS per week")
    }

    private func onTime() -> String {
        guard !weeks.isEmpty else { return empty("cases") }
        let left = 40, top = 10, height = 100, width = 120
        var body = "<line x1=\"\(left)\" y1=\"\(top + height)\" x2=\"\(left + weeks.count * width)\" y2=\"\(top + height)\" stroke=\"#999\"/>"
        body += "<text x=\"0\" y=\"\(top + 8)\">100%</text><text x=\"0\" y=\"\(top + height)\">0</text>"
        for (index, week) in weeks.enumerated() {
            let x = left + index * width + 10
            let label = week.followUpOnTimeRate.map { "\(Self.text($0))" } ?? "no follow-ups"
            if let rate = week.followUpOnTimeRate {
                let h = Int(truncating: NSDecimalNumber(decimal: rate * Decimal(height)))
                body += "<rect x=\"\(x)\" y=\"\(top + height - h)\" width=\"60\" height=\"\(h)\" fill=\"\(Self.palette[4])\"><title>\(Self.escape(label))</title></rect>"
            }
            body += "<text x=\"\(x)\" y=\"\(top + height + 14)\">\(Self.escape(week.key ?? "")): \(Self.escape(label))</text>"
        }
        return svg(width: left + weeks.count * width + 10, height: top + height + 24, body, label: "follow-ups on time per week")
    }

    private func reversals() -> String {
        let people = byPerson.filter { $0.compensations > 0 }
        guard !people.isEmpty else { return empty("compensation") }
        let left = 120, bar = 16, scale = 600
        var body = ""
        for (index, person) in people.enumerated() {
            let y = index * (bar + 4) + 4
            let w = Int(person.reversals * Int64(scale) / person.compensations)
            body += "<text x=\"0\" y=\"\(y + 12)\">\(Self.escape(String((person.agentId ?? "").prefix(16))))</text>"
            body += "<rect x=\"\(left)\" y=\"\(y)\" width=\"\(scale)\" height=\"\(bar)\" fill=\"#f2f2f2\"/>"
            body += "<rect x=\"\(left)\" y=\"\(y)\" width=\"\(w)\" height=\"\(bar)\" fill=\"\(Self.palette[3])\"/>"
            body += "<text x=\"\(left + scale + 6)\" y=\"\(y + 12)\">\(Self.percent(person.reversals, of: person.compensations))% (\(person.reversals) of \(person.compensations))</text>"
        }
        return svg(width: left + scale + 160, height: people.count * (bar + 4) + 8, body, label: "reversal rate per person")
    }
}
