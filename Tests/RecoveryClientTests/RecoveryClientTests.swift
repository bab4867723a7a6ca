import Foundation
import RecoveryWire
@testable import RecoveryClient
import Testing

@Suite("Typed answers")
struct ReplyTests {
    @Test func anAppendReceiptAndARefusalDecode() throws {
        let receipt = try Answer(#"OK {"duplicate":false,"hash":"ab12","position":7}"#).decode(Reply.Receipt.self)
        #expect(receipt == Reply.Receipt(position: 7, hash: "ab12", duplicate: false))
        #expect(throws: ServerRefusal(code: "budget_exceeded", message: "A-7 has 1.00 USD left")) {
            try Answer("ERR budget_exceeded A-7 has 1.00 USD left").decode(Reply.Receipt.self)
        }
    }

    @Test func outcomesDecodeWithExactDecimalsAndTheirTotal() throws {
        let line = #"OK {"by":"agent","cases":2,"compensation_per_paradox":15000,"compensation_total":15000,"currency":"USD","defected":0,"from":null,"groups":[{"cases":2,"compensation_total":15000,"defected":0,"key":"A-7","mean_uplift":1.50,"open":0,"paradox":1,"paradox_rate":0.5000,"restored":1,"unmeasured":0,"unrecovered":0}],"mean_uplift":1.50,"open":0,"paradox":1,"paradox_rate":0.5000,"restored":1,"to":null,"unmeasured":0,"unrecovered":0}"#
        let outcomes = try Answer(line).decode(Reply.Outcomes.self)
        #expect(outcomes.total.paradoxRate?.value == Decimal(string: "0.5"))
        #expect(outcomes.total.paradoxRate?.text == "0.5000", "kept as the server wrote it")
        #expect(outcomes.total.cases == 2)
        #expect(outcomes.groups.map(\.key) == ["A-7"])
        #expect(outcomes.groups[0].meanUplift?.value == Decimal(string: "1.5"))
    }

    @Test func anAnswerOfAnotherShapeIsAClearError() {
        #expect(throws: ClientError.self) { try Answer(#"OK {"pong":true}"#).decode(Reply.Budget.self) }
    }
}

@Suite("Receipts")
struct ReceiptCheckTests {
    @Test func receiptsMatchTheReplayOrNameTheLineThatDoesNot() {
        let hashes: [Int64: String] = [1: "aa", 2: "bb"]
        let text = """
            OK {"duplicate":false,"hash":"aa","position":1}
            {"duplicate":true,"hash":"bx","position":2}
            {"duplicate":false,"hash":"cc","position":3}
            not a receipt
            """
        let result = ReceiptCheck.check(text, against: hashes)
        #expect(result.checked == 4)
        #expect(result.matching == 1)
        #expect(
            result.mismatches == [
                "receipt line 2: position 2 has hash bb, the receipt says bx",
                "receipt line 3: position 3 is not in the replay",
                "receipt line 4: not a receipt (a JSON object with \"position\" and \"hash\", or an APPEND answer)",
            ])
    }

    @Test func aReceiptIsItsPositionAndHashWhateverElseTheLineSays() {
        // As docs/PROTOCOL.md describes the file: no "duplicate" needed; blank lines skipped.
        let text = """
            {"position":1,"hash":"AA"}

            {"hash":"bb","position":2,"remaining":100,"warning":false}
            """
        let result = ReceiptCheck.check(text, against: [1: "aa", 2: "bb"])
        #expect(result.checked == 2 && result.isClean)
    }
}

@Suite("Terminal output")
struct TerminalTextTests {
    @Test func controlAndBidiCharactersAreShownAsEscapes() {
        #expect(TerminalText.escape("plain é 🙂") == "plain é 🙂")
        #expect(TerminalText.escape("a\u{1B}[31mred") == "a\\u{1b}[31mred")
        #expect(TerminalText.escape("pay \u{202E}001$") == "pay \\u{202e}001$")
        #expect(TerminalText.escape("x\u{2028}y\u{85}z\u{7F}") == "x\\u{2028}y\\u{85}z\\u{7f}")
    }
}

@Suite("The finance report's page and tables")
struct FinanceReportTests {
    static func report(category: String) throws -> FinanceReport {
        let quoted = String(decoding: try JSONEncoder().encode(category), as: UTF8.self)
        let spending = try Reply.decode(
            Reply.Spending.self,
            from: #"{"from":"2026-03-01","to":"2026-03-02","currency":"USD","total_net":1500,"rows":[{"day":"2026-03-01","category":\#(quoted),"compensations":2,"reversals":1,"gross":2500,"net":1500}]}"#)
        let outcomes = try Reply.decode(
            Reply.Outcomes.self,
            from: #"{"currency":"USD","groups":[{"key":"2026-02-23","cases":2,"open":0,"paradox":1,"restored":1,"unrecovered":0,"unmeasured":0,"defected":0,"paradox_rate":0.5,"mean_uplift":null,"compensation_total":1500,"nps":-50.00,"follow_up_on_time_rate":1}],"cases":2,"open":0,"paradox":1,"restored":1,"unrecovered":0,"unmeasured":0,"defected":0,"paradox_rate":0.5,"mean_uplift":null,"compensation_total":1500}"#)
        return FinanceReport(
            from: "2026-03-01", to: "2026-03-02", days: ["2026-03-01", "2026-03-02"], currency: "USD", server: "127.0.0.1:7411", position: 9,
            generatedAt: "2026-03-03T00:00:00Z", budgetUse: [], byKind: [], byCategory: spending.rows, byPerson: [], weeks: outcomes.groups,
            total: outcomes.total, money: { "\($0 / 100).\(String(format: "%02d", $0 % 100))" })
    }

    @Test func textFromEventsIsEscapedInThePage() throws {
        let page = try Self.report(category: #"<script>alert("x")</script> & co"#).html()
        #expect(!page.contains("<script"))
        #expect(page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co"))
        #expect(page.contains("No compensation in this range."), "empty charts say so")
        #expect(page.contains("<td>-50</td>"), "the NPS is in the table")
    }

    @Test func csvQuotesWhatNeedsItAndDisarmsFormulas() throws {
        let files = Dictionary(uniqueKeysWithValues: try Self.report(category: #"=HYPERLINK("x"),"a""#).csv().map { ($0.file, $0.text) })
        let byCategory = try #require(files["spending_by_category.csv"])
        #expect(byCategory == "day,category,net,compensations,reversals\r\n2026-03-01,\"'=HYPERLINK(\"\"x\"\"),\"\"a\"\"\",15.00,2,1\r\n")
        #expect(files["outcomes_by_week.csv"]?.contains("2026-02-23,2,1,1,0,0,0,50.0,0,0,0,-50,100.0,0\r\n") == true, "\(files["outcomes_by_week.csv"] ?? "")")
        #expect(Set(files.keys) == ["budget_use.csv", "spending_by_kind.csv", "spending_by_category.csv", "outcomes_by_week.csv", "reversals_by_person.csv"])
    }

    @Test(arguments: [" =1+1", "\u{A0}=1+1", "\u{202E}=1+1", "\u{200B}@SUM(A1)", "＝1+1", "＋1", "\t=1", "-A1", "+1 ", "  \u{2066}-2+3"])
    func aFormulaBehindWhatASpreadsheetSkipsIsDisarmedToo(field: String) {
        #expect(FinanceReport.csvField(field).hasPrefix("'") || FinanceReport.csvField(field).hasPrefix("\"'"), "\(field)")
    }

    @Test func numbersAndPlainTextAreLeftAlone() {
        #expect(FinanceReport.csvField("-3.50") == "-3.50")
        #expect(FinanceReport.csvField("late delivery") == "late delivery")
        #expect(FinanceReport.csvField("a=b") == "a=b")
    }

    @Test func sharesAreRoundedHalfAwayFromZeroToOneDecimal() {
        #expect(FinanceReport.percent(25, of: 200) == "12.5")
        #expect(FinanceReport.percent(1, of: 8) == "12.5")  // 12.5 exactly
        #expect(FinanceReport.percent(1, of: 16) == "6.3")  // 6.25 → 6.3
        #expect(FinanceReport.percent(-1, of: 16) == "-6.3")
        #expect(FinanceReport.percent(300, of: 200) == "150.0")
        #expect(FinanceReport.percentText(Decimal(string: "0.2586")) == "25.9%")
        #expect(FinanceReport.percentText(Decimal(string: "0.00049")) == "0.0%")
        #expect(FinanceReport.percentText(nil as Decimal?) == "–")
    }
}

@Suite("Heads an auditor can trust")
struct HeadFreshnessTests {
    static let head = Reply.Head(ledger: "default", position: 10, hash: String(repeating: "0", count: 64), signedAt: "2026-12-06T10:00:00.000000Z", signature: "")

    @Test func aHeadOlderThanTheMaximumAgeOrBehindTheLogIsRefused() {
        let signed = ISO8601DateFormatter().date(from: "2026-12-06T10:00:00Z")!
        #expect(HeadCheck.freshnessProblem(Self.head, helloPosition: 10, now: signed.addingTimeInterval(60), maxAge: 3_600) == nil)
        #expect(HeadCheck.freshnessProblem(Self.head, helloPosition: 10, now: signed.addingTimeInterval(360), maxAge: 300)?.contains("a stale head") == true)
        // A server replaying an old head while HELLO says the log is at 999.
        #expect(HeadCheck.freshnessProblem(Self.head, helloPosition: 999, now: signed, maxAge: 3_600)?.contains("behind the 999") == true)
        var garbled = Self.head
        garbled.signedAt = "yesterday"
        #expect(HeadCheck.freshnessProblem(garbled, helloPosition: nil, now: signed, maxAge: 3_600)?.contains("not an RFC 3339 time") == true)
    }

    @Test func theFirstKeyIsPinnedAndAChangeRefusedUnlessAccepted() throws {
        let file = FileManager.default.temporaryDirectory.appending(path: "known-\(UUID().uuidString)/known_keys")
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        let known = KnownKeys(url: file)
        let (a, b) = (String(repeating: "a", count: 64), String(repeating: "b", count: 64))
        #expect(try known.check(ledger: "default", key: a) == .pinned)
        #expect(try known.check(ledger: "default", key: a.uppercased()) == .matches)
        #expect(try known.check(ledger: "other", key: b) == .pinned)
        #expect(try known.check(ledger: "default", key: b) == .changed(pinned: a))
        #expect(try known.check(ledger: "default", key: b, accept: true) == .pinned)
        #expect(try known.check(ledger: "default", key: b) == .matches)
        let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
        #expect(attributes[.posixPermissions] as? Int == 0o600)
    }
}
