import Foundation
import LedgerStore
import RecoveryDomain
@testable import RecoveryClient
import Testing

/// `recoveryctl report` (issue 14): a seeded month of recoveries, recorded
/// day by day (the daemon's clock moved with libfaketime), rendered as HTML
/// and CSV; the page is rendered by headless Chromium and the picture checked.
@Suite("The finance report", .tags(.processes))
struct ReportEndToEndTests {
    static let kinds = ["refund", "credit", "gift", "upgrade", "waiver"]
    static let categories = ["late delivery", "damaged", "billing", "rude staff"]

    /// What the seeding recorded, to check the report against.
    struct Seeded {
        var net: Int64 = 0
        /// Per person charged: compensations, and how many of them were reversed.
        var compensations: [String: Int] = [:]
        var reversals: [String: Int] = [:]
    }

    /// March 2026, two complaints a day, compensated, some reversed, followed up.
    static func seedMonth(_ daemon: Daemon, clock: DaemonClock) throws -> Seeded {
        let front = try daemon.client("frontline")
        var seeded = Seeded()
        var n = 0
        func append(_ fields: String) throws {
            n += 1
            let line = try front.request(#"APPEND {"event_id":"\#(Events.id(n, salt: 31))",\#(fields)}"#)
            guard line.hasPrefix("OK") else { throw DaemonError("seeding refused \(fields): \(line)") }
        }
        for day in 1...31 {
            try clock.set(String(format: "2026-03-%02dT14:00:00Z", day))
            for slot in 1...2 {
                let agent = "A-\((day + 2 * slot) % 5 + 1)"
                let category = categories[(day + slot) % categories.count]
                try append(
                    #""type":"complaint","agent_id":"\#(agent)","case_id":"K-\#(day)-\#(slot)","customer_id":"C-\#(day % 7)","channel":"phone","category":"\#(category)","severity":\#(slot + 1),"baseline":\#(5 + day % 3)"#)
                let amount = Int64(slot == 1 ? (day * 1_700) % 30_000 + 2_000 : (day * 3_100) % 60_000 + 5_000)
                try append(
                    #""type":"compensation","agent_id":"\#(agent)","case_id":"K-\#(day)-\#(slot)","amount":\#(amount),"currency":"USD","kind":"\#(kinds[(day + slot) % kinds.count])""#)
                seeded.net += amount
                seeded.compensations[agent, default: 0] += 1
                // Every fifth day the first compensation is taken back.
                if slot == 1 && day % 5 == 0 {
                    try append(
                        #""type":"compensation_reversal","agent_id":"\#(agent)","case_id":"K-\#(day)-1","reverses":"\#(Events.id(n, salt: 31))","reason":"duplicate refund""#)
                    seeded.net -= amount
                    seeded.reversals[agent, default: 0] += 1
                }
            }
            // A-1 nearly spends the day's allowance every fourth day.
            if day % 4 == 0 {
                try append(
                    #""type":"compensation","agent_id":"A-1","case_id":"K-\#(day)-1","amount":140000,"currency":"USD","kind":"upgrade""#)
                seeded.net += 140_000
                seeded.compensations["A-1", default: 0] += 1
            }
            // Yesterday's first case is followed up in time; the second case of three days ago, late.
            if day > 1 {
                try append(
                    #""type":"follow_up","agent_id":"A-2","case_id":"K-\#(day - 1)-1","satisfaction":\#(4 + day % 6),"would_recommend":\#(3 + day % 8)"#)
            }
            if day > 3 {
                try append(
                    #""type":"follow_up","agent_id":"A-3","case_id":"K-\#(day - 3)-2","satisfaction":\#(3 + day % 5),"would_recommend":\#(day % 11)"#)
            }
        }
        return seeded
    }

    @Test func aSeededMonthRendersAsHTMLAndCSVAndInChromium() throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "recoveryd-report-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let clock = try DaemonClock(folder: folder)
        try clock.set("2026-03-01T14:00:00Z")
        let daemon = try Daemon(environment: clock.environment)
        let seeded = try Self.seedMonth(daemon, clock: clock)
        try clock.set("2026-04-01T14:00:00Z")

        // The verb under the report.
        let finance = try daemon.client("finance")
        let total = try #require(okObject(try finance.request("SPENDING from=2026-03-01 to=2026-03-31")))
        #expect(total["total_net"] as? Int == Int(seeded.net))
        let perPerson = try #require(okObject(try finance.request("SPENDING from=2026-03-01 to=2026-03-31 by=person"))?["rows"] as? [[String: Any]])
        #expect(perPerson.count == 5)
        for row in perPerson {
            let person = try #require(row["agent_id"] as? String)
            #expect(row["compensations"] as? Int == seeded.compensations[person], "\(person)")
            #expect(row["reversals"] as? Int == seeded.reversals[person] ?? 0, "\(person)")
        }
        #expect(seeded.reversals.values.reduce(0, +) == 6)
        let heat = try #require(okObject(try finance.request("SPENDING from=2026-03-04 to=2026-03-04 by=person,day"))?["rows"] as? [[String: Any]])
        #expect(heat.contains { $0["agent_id"] as? String == "A-1" && $0["allowance"] as? Int == 200_000 && ($0["net"] as? Int ?? 0) >= 140_000 })
        #expect(errorCode(try daemon.client("frontline").request("SPENDING from=2026-03-01 to=2026-03-31")) == "forbidden")
        #expect(errorCode(try finance.request("SPENDING from=2026-01-01 to=2027-01-02")) == "bad_request")
        #expect(errorCode(try finance.request("SPENDING from=2026-03-01 to=2026-03-31 by=person,person")) == "bad_request")
        let weeks = try #require(okObject(try finance.request("OUTCOMES by=week from=2026-03-01 to=2026-03-31"))?["groups"] as? [[String: Any]])
        #expect(weeks.map { $0["key"] as? String } == ["2026-02-23", "2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23", "2026-03-30"])

        // The report, as a finance person runs it.
        let html = folder.appending(path: "march.html").path
        let csv = folder.appending(path: "csv").path
        let run = try RecoveryCtlTests.ctl(daemon, "finance", ["report", "--from", "2026-03-01", "--to", "2026-03-31", "--html", html, "--csv", csv])
        #expect(run.status == 0, "\(run.output)")
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.components(separatedBy: "<svg ").count - 1 == 6, "six charts")
        #expect(!page.contains("<script"), "no scripts")
        #expect(!page.contains("src=") && !page.contains("href=") && !page.contains("url("), "nothing fetched")
        #expect(page.contains("Budget use per person and day") && page.contains("Reversal rate per person"))
        #expect(page.contains("compensation <b>\(Money.text(seeded.net))</b>"), "the summary's total")
        let byKind = try String(contentsOfFile: csv + "/spending_by_kind.csv", encoding: .utf8)
        let lines = byKind.split(separator: "\r\n")
        #expect(lines.first == "day,kind,net,compensations,reversals")
        let summed = lines.dropFirst().reduce(Int64(0)) { sum, line in sum + Money.minor(String(line.split(separator: ",")[2])) }
        #expect(summed == seeded.net, "the CSV's rows add up to what was recorded")
        let reversals = try String(contentsOfFile: csv + "/reversals_by_person.csv", encoding: .utf8)
        for (person, count) in seeded.compensations {
            let reversed = seeded.reversals[person] ?? 0
            #expect(reversals.contains("\(person),\(count),\(reversed),\(FinanceReport.percent(Int64(reversed), of: Int64(count))),"), "\(person): \(reversals)")
        }
        #expect(try String(contentsOfFile: csv + "/budget_use.csv", encoding: .utf8).contains("A-1,2026-03-04,"))
        #expect(try String(contentsOfFile: csv + "/spending_by_category.csv", encoding: .utf8).contains(",late delivery,"))

        // Headless Chromium renders it; the picture has the charts' colours in it.
        let png = folder.appending(path: "march.png").path
        let rendered = try ChildProcess.run(
            "/usr/bin/chromium",
            ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,3400", "--screenshot=\(png)", "file://\(html)"])
        #expect(FileManager.default.fileExists(atPath: png), "\(rendered)")
        let colours = try ChildProcess.run("/usr/bin/python3", ["-c", Self.pngColours, png])
        let counts = Dictionary(uniqueKeysWithValues: colours.split(separator: "\n").compactMap { line -> (String, Int)? in
            let parts = line.split(separator: " ")
            return parts.count == 2 ? (String(parts[0]), Int(parts[1]) ?? 0) : nil
        })
        #expect((counts["size"] ?? 0) == 1200 * 3400, "\(colours)")
        // Bars in the palette's first colours, and heat-map cells (reds).
        #expect((counts["1b6ca8"] ?? 0) > 500 && (counts["e07b39"] ?? 0) > 500, "\(colours)")
        #expect((counts["heat"] ?? 0) > 2_000, "\(colours)")
        daemon.stop()
    }

    /// A year of recoveries (2025-03-03 to 2026-03-03): every kind, long
    /// category names, reversals recorded days after their charge, an
    /// allowance lowered below what was spent (a day over 100%).
    static func seedYear(_ daemon: Daemon, clock: DaemonClock) throws {
        let front = try daemon.client("frontline")
        let admin = try daemon.client("admin")
        let kinds = ["refund", "credit", "gift", "upgrade", "waiver", "other"]
        let categories = [
            "late delivery of the whole order", "damaged in transit", "billing error on the invoice", "rude staff at the desk",
            "room not ready at check-in", "lost luggage",
        ]
        var n = 0
        var yesterday: (caseID: String, id: String, agent: String)?
        func append(_ client: LineClient, _ fields: String) throws {
            n += 1
            let line = try client.request(#"APPEND {"event_id":"\#(Events.id(n, salt: 77))",\#(fields)}"#)
            guard line.hasPrefix("OK") else { throw DaemonError("seeding refused \(fields): \(line)") }
        }
        let first = BusinessDay("2025-03-03")!
        for offset in 0..<366 {
            let day = first.adding(days: Int64(offset))
            try clock.set("\(day)T14:00:00Z")
            let agent = "A-\(offset % 6 + 1)"
            let caseID = "Y-\(offset)"
            // The allowance cut below what was spent (see below) stands for its day only.
            if offset % 30 == 1 { try append(admin, #""type":"allowance","agent_id":"A-1","daily_limit":200000"#) }
            try append(
                front,
                #""type":"complaint","agent_id":"\#(agent)","case_id":"\#(caseID)","customer_id":"C-\#(offset % 40)","channel":"chat","category":"\#(categories[offset % categories.count])","severity":\#(offset % 5 + 1),"baseline":\#(4 + offset % 4)"#)
            try append(
                front,
                #""type":"compensation","agent_id":"\#(agent)","case_id":"\#(caseID)","amount":\#(3_000 + (offset * 977) % 90_000),"currency":"USD","kind":"\#(kinds[offset % kinds.count])""#)
            let compensation = Events.id(n, salt: 77)
            // Every ninth day, yesterday's compensation is taken back today: a late reversal.
            if offset % 9 == 0, let last = yesterday {
                try append(
                    front,
                    #""type":"compensation_reversal","agent_id":"\#(last.agent)","case_id":"\#(last.caseID)","reverses":"\#(last.id)","reason":"charged twice""#)
            }
            // Every thirtieth day A-1 spends most of the day, and then the allowance is cut below it.
            if offset % 30 == 0 {
                try append(
                    front,
                    #""type":"compensation","agent_id":"A-1","case_id":"\#(caseID)","amount":100000,"currency":"USD","kind":"upgrade""#)
                try append(admin, #""type":"allowance","agent_id":"A-1","daily_limit":90000"#)
            }
            try append(
                front,
                #""type":"follow_up","agent_id":"\#(agent)","case_id":"\#(caseID)","satisfaction":\#(3 + offset % 8),"would_recommend":\#(offset % 11)"#)
            yesterday = (caseID, compensation, agent)
        }
    }

    /// Measures the page in Chromium itself: per chart, text that overlaps
    /// other text, text outside its chart, and series drawn but missing from
    /// the legend. (Only this test's copy of the page carries the script.)
    static let layoutCheck = """
        <script>
        (function () {
          const out = [];
          document.querySelectorAll('svg').forEach(function (svg) {
            const box = svg.getBoundingClientRect();
            const texts = Array.from(svg.querySelectorAll('text')).map(function (t) { return { t: t.textContent, r: t.getBoundingClientRect() }; });
            const overlaps = [], outside = [];
            for (let a = 0; a < texts.length; a++) {
              const r = texts[a].r;
              if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5) outside.push(texts[a].t);
              for (let b = a + 1; b < texts.length; b++) {
                const s = texts[b].r;
                if (r.left < s.right && s.left < r.right && r.top < s.bottom && s.top < r.bottom) overlaps.push(texts[a].t + ' / ' + texts[b].t);
              }
            }
            const drawn = new Set(Array.from(svg.querySelectorAll('rect[data-series]')).map(function (e) { return e.dataset.series; }));
            const legend = new Set(Array.from(svg.querySelectorAll('g.legend')).map(function (e) { return e.dataset.series; }));
            const missing = Array.from(drawn).filter(function (s) { return !legend.has(s); });
            out.push({ chart: svg.getAttribute('aria-label'), texts: texts.length, overlaps: overlaps, outside: outside, missing: missing, series: drawn.size });
          });
          const pre = document.createElement('pre');
          pre.id = 'layout-check';
          pre.textContent = JSON.stringify(out);
          document.body.appendChild(pre);
        })();
        </script>
        """

    struct ChartLayout: Decodable {
        var chart: String
        var texts: Int
        var overlaps: [String]
        var outside: [String]
        var missing: [String]
        var series: Int
    }

    @Test func theReportLaysOutEveryRangeFromADayToAYear() throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "recoveryd-year-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let clock = try DaemonClock(folder: folder)
        try clock.set("2025-03-03T13:00:00Z")
        let daemon = try Daemon(environment: clock.environment)
        try Self.seedYear(daemon, clock: clock)
        try clock.set("2026-03-03T20:00:00Z")
        let keep = ProcessInfo.processInfo.environment["RECOVERYD_REPORT_EXAMPLES"]
        for (name, from, to) in [
            ("1-day", "2026-03-03", "2026-03-03"), ("7-days", "2026-02-25", "2026-03-03"), ("31-days", "2026-02-01", "2026-03-03"),
            ("366-days", "2025-03-03", "2026-03-03"),
        ] {
            let html = folder.appending(path: "report-\(name).html").path
            let run = try RecoveryCtlTests.ctl(daemon, "finance", ["report", "--from", from, "--to", to, "--html", html])
            #expect(run.status == 0, "\(run.output)")
            let page = try String(contentsOfFile: html, encoding: .utf8)
            #expect(page.components(separatedBy: "<svg ").count - 1 == 6, "\(name): six charts")
            #expect(page.contains("%</b>") && !page.contains("paradox rate <b>0."), "\(name): rates as percentages")
            // Chromium lays it out; the script reports what it measured.
            let measured = folder.appending(path: "measured-\(name).html").path
            try page.replacingOccurrences(of: "</body>", with: Self.layoutCheck + "</body>").write(toFile: measured, atomically: true, encoding: .utf8)
            let dom = try ChildProcess.run(
                "/usr/bin/chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,3400", "--dump-dom", "file://\(measured)"])
            let json = try #require(dom.components(separatedBy: "<pre id=\"layout-check\">").last?.components(separatedBy: "</pre>").first, "\(dom.suffix(500))")
            let charts = try JSONDecoder().decode(
                [ChartLayout].self, from: Data(json.replacingOccurrences(of: "&amp;", with: "&").replacingOccurrences(of: "&lt;", with: "<").utf8))
            #expect(charts.count == 6, "\(name)")
            for chart in charts {
                #expect(chart.texts >= 2, "\(name) \(chart.chart)")
                #expect(chart.overlaps.isEmpty, "\(name) \(chart.chart): labels overlap: \(chart.overlaps.prefix(5))")
                #expect(chart.outside.isEmpty, "\(name) \(chart.chart): labels cut off: \(chart.outside.prefix(5))")
                #expect(chart.missing.isEmpty, "\(name) \(chart.chart): series missing from the legend: \(chart.missing)")
            }
            if name != "1-day" {
                #expect(charts.first { $0.chart == "compensation per day" }?.series == 6, "\(name): every kind is drawn (and in the legend)")
            }
            #expect(page.contains("over 100%") == (name != "1-day"), "\(name): the heat map's scale reaches the share drawn")
            #expect(page.contains("NPS (−100 to 100)"))
            // And the picture, for the docs.
            let png = folder.appending(path: "report-\(name).png").path
            _ = try ChildProcess.run(
                "/usr/bin/chromium",
                ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,3600", "--screenshot=\(png)", "file://\(html)"])
            #expect(FileManager.default.fileExists(atPath: png))
            if let keep {
                // docs/report-*.png are these: RECOVERYD_REPORT_EXAMPLES=$PWD/docs swift test --filter theReportLaysOut
                let target = URL(fileURLWithPath: keep).appending(path: "report-\(name).png").path
                try? FileManager.default.removeItem(atPath: target)
                try FileManager.default.copyItem(atPath: png, toPath: target)
            }
        }
        daemon.stop()
    }

    /// Reads an 8-bit RGB(A) PNG (as Chromium writes it) with the standard
    /// library alone; prints its pixel count, how many pixels have two of the
    /// palette's colours exactly, and how many are heat-map reds.
    static let pngColours = #"""
        import sys, zlib, struct
        data = open(sys.argv[1], 'rb').read()
        assert data[:8] == b'\x89PNG\r\n\x1a\n'
        pos, chunks = 8, []
        width = height = ctype = None
        while pos < len(data):
            length, kind = struct.unpack('>I4s', data[pos:pos + 8])
            body = data[pos + 8:pos + 8 + length]
            if kind == b'IHDR':
                width, height, depth, ctype = struct.unpack('>IIBB', body[:10])
                assert depth == 8 and ctype in (2, 6), (depth, ctype)
            elif kind == b'IDAT':
                chunks.append(body)
            pos += 12 + length
        raw = zlib.decompress(b''.join(chunks))
        bpp = 4 if ctype == 6 else 3
        stride = width * bpp
        previous = bytearray(stride)
        counts = {'1b6ca8': 0, 'e07b39': 0, 'heat': 0}
        i = 0
        for _ in range(height):
            kind = raw[i]; i += 1
            line = bytearray(raw[i:i + stride]); i += stride
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                b = previous[x]
                c = previous[x - bpp] if x >= bpp else 0
                if kind == 1: line[x] = (line[x] + a) & 255
                elif kind == 2: line[x] = (line[x] + b) & 255
                elif kind == 3: line[x] = (line[x] + (a + b) // 2) & 255
                elif kind == 4:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            for x in range(0, stride, bpp):
                r, g, bl = line[x], line[x + 1], line[x + 2]
                key = '%02x%02x%02x' % (r, g, bl)
                if key in counts: counts[key] += 1
                elif key != 'b8405e' and r >= 180 and g < 150 and bl < 110 and r - g > 60: counts['heat'] += 1
            previous = line
        print('size', width * height)
        for key, value in counts.items(): print(key, value)
        """#
}

extension Money {
    /// `1234.56` as written in the report.
    static func text(_ minor: Int64) -> String { Money.decimal(minor) }
    /// The minor units of `1234.56`.
    static func minor(_ text: String) -> Int64 {
        let parts = text.split(separator: ".")
        return (Int64(parts[0]) ?? 0) * 100 + (parts.count > 1 ? Int64(parts[1]) ?? 0 : 0)
    }
}
