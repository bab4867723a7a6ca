import Foundation
import RecoveryWire

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

    /// `part` ÷ `whole` as a percentage with one decimal, rounded half away
    /// from zero, from the integers (docs/EVENTS.md, "The figures, exactly"):
    /// `12.5`, `-3.3`; empty when there is no whole.
    static func percent(_ part: Int64, of whole: Int64?) -> String {
        guard let whole, whole > 0 else { return "" }
        let tenths = (abs(part) * 2_000 + whole) / (2 * whole)  // half away from zero
        return (part < 0 && tenths > 0 ? "-" : "") + "\(tenths / 10).\(tenths % 10)"
    }

    /// A rate the server wrote as a fraction of one (`0.2586`) as a
    /// percentage with one decimal (`25.9%`), rounded half away from zero.
    static func percentText(_ rate: Decimal?) -> String { rate.map { percentNumber($0) + "%" } ?? "–" }
    static func percentText(_ rate: WireDecimal?) -> String { percentText(rate?.value) }
    static func percentNumber(_ rate: WireDecimal) -> String { percentNumber(rate.value) }

    /// The number of ``percentText(_:)`` alone (`25.9`), for tables.
    static func percentNumber(_ rate: Decimal) -> String {
        var value = rate * 100
        var rounded = Decimal()
        NSDecimalRound(&rounded, &value, 1, .plain)
        let text = NSDecimalNumber(decimal: rounded).stringValue
        return text.contains(".") ? text : text + ".0"
    }

    static func text(_ value: WireDecimal?) -> String { value.map { "\($0.value)" } ?? "" }

    public var tables: [Table] {
        [
            Table(
                name: "budget_use", header: ["agent_id", "day", "spent", "allowance", "share_percent", "compensations", "reversals"],
                rows: budgetUse.map {
                    [$0.agentId ?? "", $0.day ?? "", money($0.spent ?? $0.net), $0.allowance.map(money) ?? "",
                     Self.percent($0.spent ?? $0.net, of: $0.allowance), "\($0.compensations)", "\($0.reversals)"]
                }),
            Table(
                name: "spending_by_kind", header: ["day", "kind", "net", "compensations", "reversals"],
                rows: byKind.map { [$0.day ?? "", $0.kind ?? "", money($0.net), "\($0.compensations)", "\($0.reversals)"] }),
            Table(
                name: "spending_by_category", header: ["day", "category", "net", "compensations", "reversals"],
                rows: byCategory.map { [$0.day ?? "", $0.category ?? "", money($0.net), "\($0.compensations)", "\($0.reversals)"] }),
            Table(
                name: "outcomes_by_week",
                header: ["week_of", "cases", "paradox", "restored", "unrecovered", "defected", "open", "paradox_rate_percent", "promoters",
                         "passives", "detractors", "nps", "follow_ups_on_time_percent", "follow_ups_overdue"],
                rows: weeks.map { w in
                    [w.key ?? "", "\(w.cases)", "\(w.paradox)", "\(w.restored)", "\(w.unrecovered)", "\(w.defected)", "\(w.open)",
                     w.paradoxRate.map(Self.percentNumber) ?? "", "\(w.promoters)", "\(w.passives)", "\(w.detractors)",
                     Self.text(w.nps), w.followUpOnTimeRate.map(Self.percentNumber) ?? "", "\(w.followUpsOverdue)"]
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

    /// Characters a spreadsheet skips before it reads a formula: spaces,
    /// no-break spaces, zero-width and bidi controls.
    static func isSkippedBeforeFormula(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x20, 0xA0, 0x200B...0x200F, 0x202A...0x202E, 0x2060...0x2069, 0xFEFF, 0x3000: true
        default: false
        }
    }

    static func csvField(_ field: String) -> String {
        var value = field
        // A formula to a spreadsheet — = + - @ (or their full-width forms, or a
        // tab or CR) first, after anything a spreadsheet skips — is
        // neutralised with a leading '. Plain numbers (-3.50) stay numbers.
        let first = value.unicodeScalars.first { !isSkippedBeforeFormula($0) }
        if let first, "=+-@\t\r＝＋－＠".unicodeScalars.contains(first), Double(value) == nil { value = "'" + value }
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
            svg { display: block; margin: 8px 0; max-width: 100%; height: auto; } svg text { font: 11px Helvetica, Arial, sans-serif; fill: #333; }
            section { break-inside: avoid; page-break-inside: avoid; }
            div.numbers { max-height: 260px; overflow: auto; display: inline-block; border: 1px solid #eee; max-width: 100%; }
            div.numbers table { margin: 0; } div.numbers th { position: sticky; top: 0; }
            @media print { body { margin: 0; max-width: none; } div.numbers { max-height: none; overflow: visible; border: 0; } }
            </style></head><body>
            <h1>Service recovery: \(Self.escape(from)) to \(Self.escape(to))</h1>
            <p class="meta">From \(Self.escape(server)) at position \(position), \(Self.escape(generatedAt)). Amounts in \(Self.escape(currency)). \
            Spending is a ledger of entries, each on its own day: a reversal recorded after the day of its charge is that later day's entry, so a closed day never changes.</p>
            <p class="summary"><span><b>\(total.cases)</b> cases</span><span><b>\(total.paradox)</b> paradox</span>\
            <span>paradox rate <b>\(Self.percentText(total.paradoxRate))</b></span>\
            <span>NPS <b>\(Self.escape(total.nps.map { "\($0.value)" } ?? "–"))</b></span>\
            <span>follow-ups on time <b>\(Self.percentText(total.followUpOnTimeRate))</b> (\(total.followUpsOverdue) overdue)</span>\
            <span>compensation <b>\(Self.escape(money(byPerson.reduce(0) { $0 + $1.net })))</b></span></p>

            """
        let tables = Dictionary(uniqueKeysWithValues: self.tables.map { ($0.name, $0) })
        page += section(
            "Budget use per person and day",
            "Share of each person's daily allowance spent (charged less that day's reversals); budget_use.csv has the amounts.",
            heatMap(), budgetUsePivot())
        page += section(
            "Compensation per day by kind", "Charged less reversed, on the day of each entry, stacked by kind.", stackedBars(byKind, key: \.kind),
            tables["spending_by_kind"]!)
        page += section(
            "Compensation per day by category", "Charged less reversed, on the day of each entry, stacked by the case's category.",
            stackedBars(byCategory, key: \.category), tables["spending_by_category"]!)
        page += section(
            "Paradox rate and NPS per week", "Weeks start on Monday, by the day the complaint was recorded; n is the cases that week.",
            weekly(), tables["outcomes_by_week"]!)
        page += section(
            "Follow-ups on time per week", "First follow-ups recorded by their deadline, of those recorded and of open cases past theirs.",
            onTime(), nil)
        page += section(
            "Reversal rate per person", "Reversals recorded in the range, of the compensations charged to the person in it.", reversals(),
            tables["reversals_by_person"]!)
        return page + "</body></html>\n"
    }

    private func section(_ title: String, _ note: String, _ chart: String, _ table: Table?) -> String {
        var out = "<section><h2>\(Self.escape(title))</h2><p class=\"meta\">\(Self.escape(note))</p>\n\(chart)\n"
        if let table {
            // Long column names may break after an underscore, so wide tables fit the page.
            out += "<table><thead><tr>" + table.header.map { "<th>\(Self.escape($0).replacingOccurrences(of: "_", with: "_<wbr>"))</th>" }.joined()
                + "</tr></thead><tbody>\n"
            for row in table.rows { out += "<tr>" + row.map { "<td>\(Self.escape($0))</td>" }.joined() + "</tr>\n" }
            out += "</tbody></table>\n"
            // Long or wide tables scroll on screen and print whole.
            if table.rows.count > 12 || table.header.count > 10 {
                out = out.replacingOccurrences(of: "<table>", with: "<div class=\"numbers\"><table>") + "</div>\n"
            }
        }
        return out + "</section>\n"
    }

    /// People by day: the share of the allowance spent, in percent, and the range's total.
    private func budgetUsePivot() -> Table {
        let people = Array(Set(budgetUse.compactMap(\.agentId))).sorted()
        var cells: [String: [String: String]] = [:]
        var spent: [String: Int64] = [:]
        for row in budgetUse {
            guard let person = row.agentId, let day = row.day else { continue }
            cells[person, default: [:]][day] = Self.percent(row.spent ?? row.net, of: row.allowance)
            spent[person, default: 0] += row.spent ?? row.net
        }
        // A year has too many columns to read: by month then, with each month's spending.
        if days.count > 62 {
            let months = Array(Set(days.map { String($0.prefix(7)) })).sorted()
            var byMonth: [String: [String: Int64]] = [:]
            for row in budgetUse {
                guard let person = row.agentId, let day = row.day else { continue }
                byMonth[person, default: [:]][String(day.prefix(7)), default: 0] += row.spent ?? row.net
            }
            return Table(
                name: "budget_use_by_month", header: ["agent_id"] + months + ["spent"],
                rows: people.map { person in [person] + months.map { byMonth[person]?[$0].map(money) ?? "" } + [money(spent[person] ?? 0)] })
        }
        return Table(
            name: "budget_use_by_day", header: ["agent_id"] + days.map { String($0.suffix(5)) } + ["spent"],
            rows: people.map { person in [person] + days.map { cells[person]?[$0] ?? "" } + [money(spent[person] ?? 0)] })
    }

    // MARK: Layout

    /// What a label of `text` takes across at 11 px: a generous 7 px a
    /// character, so that placed labels never touch however the font renders.
    static func width(of text: String) -> Int { 7 * text.count + 2 }

    /// The widest chart; wider content is scaled down by the page.
    static let plotWidth = 960

    /// A legend: entries left to right, wrapped within `maxWidth`, never cut.
    /// Each names the series (`data-series`, as the chart's marks do) it explains.
    struct Legend {
        var entries: [(colour: String, label: String, series: String)] = []

        init(entries: [(colour: String, label: String, series: String)]) { self.entries = entries }
        init(entries: [(colour: String, label: String)]) { self.entries = entries.map { ($0.colour, $0.label, $0.label) } }

        /// The legend's SVG at `(x, y)` and its size.
        func render(x: Int, y: Int, maxWidth: Int) -> (svg: String, width: Int, height: Int) {
            var svg = "", cursor = 0, line = 0, widest = 0
            for entry in entries {
                let w = 16 + FinanceReport.width(of: entry.label) + 14
                if cursor > 0 && cursor + w > maxWidth {
                    line += 1
                    cursor = 0
                }
                let (ex, ey) = (x + cursor, y + line * 18)
                svg += "<g class=\"legend\" data-series=\"\(FinanceReport.escape(entry.series))\"><rect x=\"\(ex)\" y=\"\(ey)\" width=\"12\" height=\"12\" fill=\"\(entry.colour)\"/>"
                svg += "<text x=\"\(ex + 16)\" y=\"\(ey + 10)\">\(FinanceReport.escape(entry.label))</text></g>"
                cursor += w
                widest = max(widest, cursor)
            }
            return (svg, widest, entries.isEmpty ? 0 : (line + 1) * 18)
        }
    }

    /// Labels along an axis at `positions` (their left edges), skipping any
    /// that would come closer than 8 px to the one before.
    static func axisLabels(_ labels: [(x: Int, text: String)], y: Int) -> String {
        var out = "", nextFree = Int.min
        for label in labels where label.x >= nextFree {
            out += "<text class=\"axis\" x=\"\(label.x)\" y=\"\(y)\">\(escape(label.text))</text>"
            nextFree = label.x + width(of: label.text) + 8
        }
        return out
    }

    private func svg(width: Int, height: Int, _ body: String, label: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-label=\"\(Self.escape(label))\">\(body)</svg>"
    }

    private func empty(_ what: String) -> String { "<p class=\"meta\">No \(Self.escape(what)) in this range.</p>" }

    /// The heat map's colour for a share of the allowance, in percent: pale
    /// yellow (nothing) to deep red (all of it); past 100% (an allowance
    /// lowered below what was spent), purple.
    static func heat(_ share: Int64) -> String {
        guard share <= 100 else { return "#5b1a6e" }
        let s = Int(max(0, share))
        return "rgb(\(255 - s * 75 / 100),\(235 - s * 200 / 100),\(160 - s * 130 / 100))"
    }

    /// Rows: people; columns: days; the cell's colour is the share of the allowance spent.
    private func heatMap() -> String {
        let people = Array(Set(budgetUse.compactMap(\.agentId))).sorted()
        guard !people.isEmpty else { return empty("compensation") }
        let names = people.map { String($0.prefix(16)) }
        let left = (names.map(Self.width(of:)).max() ?? 40) + 10, top = 22
        let cellWidth = max(2, min(28, Self.plotWidth / max(days.count, 1))), cellHeight = 16
        var body = Self.axisLabels(days.enumerated().map { (left + $0.offset * cellWidth, String($0.element.suffix(5))) }, y: 14)
        let column = Dictionary(uniqueKeysWithValues: days.enumerated().map { ($1, $0) })
        for (row, person) in names.enumerated() {
            let y = top + row * cellHeight
            body += "<text x=\"0\" y=\"\(y + cellHeight - 4)\">\(Self.escape(person))</text>"
            body += "<rect x=\"\(left)\" y=\"\(y)\" width=\"\(days.count * cellWidth)\" height=\"\(cellHeight - 1)\" fill=\"#f2f2f2\"/>"
        }
        let rowOf = Dictionary(uniqueKeysWithValues: people.enumerated().map { ($1, $0) })
        var over = false
        for entry in budgetUse {
            guard let person = entry.agentId, let day = entry.day, let row = rowOf[person], let index = column[day],
                let allowance = entry.allowance, allowance > 0
            else { continue }
            let spent = entry.spent ?? entry.net
            let share = spent * 100 / allowance
            over = over || share > 100
            body += "<rect x=\"\(left + index * cellWidth)\" y=\"\(top + row * cellHeight)\" width=\"\(max(1, cellWidth - (cellWidth > 3 ? 1 : 0)))\" height=\"\(cellHeight - 1)\" fill=\"\(Self.heat(share))\"><title>\(Self.escape(person)) \(day): \(Self.percent(spent, of: allowance))%</title></rect>"
        }
        var legend = Legend(entries: [0, 25, 50, 75, 100].map { (Self.heat(Int64($0)), "\($0)%") })
        if over { legend.entries.append((Self.heat(101), "over 100%", "over 100%")) }
        let chartWidth = left + days.count * cellWidth
        let rendered = legend.render(x: left, y: top + people.count * cellHeight + 12, maxWidth: max(chartWidth - left, 400))
        return svg(
            width: max(chartWidth, left + rendered.width) + 10, height: top + people.count * cellHeight + 12 + rendered.height + 6, body + rendered.svg,
            label: "budget use heat map")
    }

    /// One bar per day, stacked by `key` (kind or category), with a legend of every series.
    private func stackedBars(_ rows: [Reply.Spending.Row], key: KeyPath<Reply.Spending.Row, String?>) -> String {
        let names = Array(Set(rows.compactMap { $0[keyPath: key] })).sorted()
        guard !names.isEmpty else { return empty("compensation") }
        var perDay: [String: [(String, Int64)]] = [:]
        for row in rows { if let day = row.day, let name = row[keyPath: key] { perDay[day, default: []].append((name, max(0, row.net))) } }
        let highest = max(1, perDay.values.map { $0.reduce(0) { $0 + $1.1 } }.max() ?? 1)
        let top = 10, height = 180, bar = max(2, min(30, Self.plotWidth / max(days.count, 1)))
        let left = max(40, Self.width(of: money(highest)) + 6)
        let colour = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, Self.palette[$0 % Self.palette.count]) })
        var body = "<line x1=\"\(left)\" y1=\"\(top + height)\" x2=\"\(left + days.count * bar)\" y2=\"\(top + height)\" stroke=\"#999\"/>"
        body += "<text x=\"0\" y=\"\(top + 10)\">\(Self.escape(money(highest)))</text><text x=\"0\" y=\"\(top + height)\">0</text>"
        for (index, day) in days.enumerated() {
            var y = top + height
            for (name, amount) in (perDay[day] ?? []).sorted(by: { $0.0 < $1.0 }) where amount > 0 {
                let h = max(1, Int(amount * Int64(height) / highest))
                y -= h
                body += "<rect data-series=\"\(Self.escape(name))\" x=\"\(left + index * bar)\" y=\"\(y)\" width=\"\(max(1, bar - (bar > 3 ? 2 : 0)))\" height=\"\(h)\" fill=\"\(colour[name]!)\"><title>\(Self.escape(day)) \(Self.escape(name)): \(Self.escape(money(amount)))</title></rect>"
            }
        }
        body += Self.axisLabels(days.enumerated().map { (left + $0.offset * bar, String($0.element.suffix(5))) }, y: top + height + 14)
        let legend = Legend(entries: names.map { (colour[$0]!, String($0.prefix(40)), $0) })
        let chartWidth = left + days.count * bar
        let rendered = legend.render(x: left, y: top + height + 26, maxWidth: max(chartWidth - left, 520))
        return svg(
            width: max(chartWidth, left + rendered.width) + 10, height: top + height + 26 + rendered.height + 6, body + rendered.svg,
            label: "compensation per day")
    }

    /// Per week: the paradox rate (0–100%) and NPS (−100…100) side by side, with n.
    private func weekly() -> String {
        guard !weeks.isEmpty else { return empty("cases") }
        let left = 44, top = 14, half = 90, group = max(12, min(120, Self.plotWidth / weeks.count))
        let barWidth = max(4, (group - 6) / 2)
        var body = "<line x1=\"\(left)\" y1=\"\(top + half)\" x2=\"\(left + weeks.count * group)\" y2=\"\(top + half)\" stroke=\"#999\"/>"
        body += "<text x=\"0\" y=\"\(top + 8)\">100</text><text x=\"0\" y=\"\(top + half + 4)\">0</text><text x=\"0\" y=\"\(top + 2 * half)\">−100</text>"
        for (index, week) in weeks.enumerated() {
            let x = left + index * group + 2
            if let rate = week.paradoxRate {
                let h = Int(truncating: NSDecimalNumber(decimal: rate.value * Decimal(half)))
                body += "<rect data-series=\"paradox rate\" x=\"\(x)\" y=\"\(top + half - h)\" width=\"\(barWidth)\" height=\"\(h)\" fill=\"\(Self.palette[0])\"><title>\(Self.escape(week.key ?? "")): paradox rate \(Self.percentText(week.paradoxRate))</title></rect>"
            }
            if let nps = week.nps {
                let h = Int(truncating: NSDecimalNumber(decimal: nps.value * Decimal(half) / 100))
                body += "<rect data-series=\"NPS\" x=\"\(x + barWidth + 2)\" y=\"\(h >= 0 ? top + half - h : top + half)\" width=\"\(barWidth)\" height=\"\(abs(h))\" fill=\"\(Self.palette[2])\"><title>\(Self.escape(week.key ?? "")): NPS \(Self.text(week.nps))</title></rect>"
            }
        }
        let labelled = weeks.enumerated().map { (left + $0.offset * group + 2, "\(String(($0.element.key ?? "").suffix(5))) n=\($0.element.cases)") }
        body += Self.axisLabels(labelled, y: top + 2 * half + 16)
        let legend = Legend(entries: [(Self.palette[0], "paradox rate (%)", "paradox rate"), (Self.palette[2], "NPS (−100 to 100)", "NPS")])
        let rendered = legend.render(x: left, y: top + 2 * half + 28, maxWidth: 600)
        return svg(
            width: max(left + weeks.count * group, left + rendered.width) + 10, height: top + 2 * half + 28 + rendered.height + 4,
            body + rendered.svg, label: "paradox rate and NPS per week")
    }

    private func onTime() -> String {
        guard !weeks.isEmpty else { return empty("cases") }
        let left = 44, top = 10, height = 100, group = max(12, min(120, Self.plotWidth / weeks.count))
        var body = "<line x1=\"\(left)\" y1=\"\(top + height)\" x2=\"\(left + weeks.count * group)\" y2=\"\(top + height)\" stroke=\"#999\"/>"
        body += "<text x=\"0\" y=\"\(top + 8)\">100%</text><text x=\"0\" y=\"\(top + height)\">0</text>"
        for (index, week) in weeks.enumerated() {
            let x = left + index * group + 2
            if let rate = week.followUpOnTimeRate {
                let h = Int(truncating: NSDecimalNumber(decimal: rate.value * Decimal(height)))
                body += "<rect data-series=\"on time\" x=\"\(x)\" y=\"\(top + height - h)\" width=\"\(max(4, group - 8))\" height=\"\(h)\" fill=\"\(Self.palette[4])\"><title>\(Self.escape(week.key ?? "")): \(Self.percentText(rate)) on time, \(week.followUpsOverdue) overdue</title></rect>"
            }
        }
        let labelled = weeks.enumerated().map { index, week in
            (left + index * group + 2, "\(String((week.key ?? "").suffix(5))) \(Self.percentText(week.followUpOnTimeRate))")
        }
        body += Self.axisLabels(labelled, y: top + height + 14)
        let legend = Legend(entries: [(Self.palette[4], "first follow-ups on time (%)", "on time")])
        let rendered = legend.render(x: left, y: top + height + 24, maxWidth: 600)
        return svg(
            width: max(left + weeks.count * group, left + rendered.width) + 10, height: top + height + 24 + rendered.height + 4,
            body + rendered.svg, label: "follow-ups on time per week")
    }

    private func reversals() -> String {
        let people = byPerson.filter { $0.compensations > 0 }
        guard !people.isEmpty else { return empty("compensation") }
        let names = people.map { String(($0.agentId ?? "").prefix(16)) }
        let left = (names.map(Self.width(of:)).max() ?? 40) + 10, bar = 16, scale = 600
        var body = ""
        for (index, person) in people.enumerated() {
            let y = index * (bar + 4) + 4
            let w = Int(min(person.reversals, person.compensations) * Int64(scale) / person.compensations)
            body += "<text x=\"0\" y=\"\(y + 12)\">\(Self.escape(names[index]))</text>"
            body += "<rect x=\"\(left)\" y=\"\(y)\" width=\"\(scale)\" height=\"\(bar)\" fill=\"#f2f2f2\"/>"
            body += "<rect x=\"\(left)\" y=\"\(y)\" width=\"\(w)\" height=\"\(bar)\" fill=\"\(Self.palette[3])\"/>"
            body += "<text x=\"\(left + scale + 6)\" y=\"\(y + 12)\">\(Self.percent(person.reversals, of: person.compensations))% (\(person.reversals) of \(person.compensations))</text>"
        }
        return svg(width: left + scale + 170, height: people.count * (bar + 4) + 8, body, label: "reversal rate per person")
    }
}
