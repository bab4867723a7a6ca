import Foundation
import LedgerStore
import LineProtocol
import RecoveryDomain

/// What queries may read from the writer's memory: the chain's head, the
/// budget rows it holds (all of today's, and any older ones it loaded), the
/// allowance settings, the ledger's settings. The writer updates it
/// after every commit with the rows the batch changed — never a copy of the
/// whole — and readers take single rows or one day's rows under its lock.
final class WriterView: @unchecked Sendable {
    private let lock = NSLock()
    private var head: ChainHead = .empty
    private var today = BusinessDay(daysSinceEpoch: 0)
    private var budgets: [BudgetKey: BudgetDay] = [:]
    private var allowances: [String: [AllowanceSetting]] = [:]
    private var ledgerSettings = SettingsHistory()
    /// False until this daemon's writer holds the lock (a standby before it
    /// takes over): then nothing here is the ledger's, and queries read the
    /// tables; only ``position`` is kept, as last read from the log.
    private var serving = false
    /// Whether the writer's connection is up (false after it lost it, until it reconnects).
    private var connected = false
    /// Set when the log no longer extends a head this daemon signed: every
    /// append is refused with it (``HeadNotary/check(connection:witness:)``).
    private var broken: ProtocolError?

    var brokenHistory: ProtocolError? {
        lock.lock()
        defer { lock.unlock() }
        return broken
    }

    func historyBroken(_ error: ProtocolError?) {
        lock.lock()
        defer { lock.unlock() }
        broken = error
    }

    var isServing: Bool {
        lock.lock()
        defer { lock.unlock() }
        return serving
    }

    /// The log's head (and the settings, when they were read) as a standby
    /// or follower last read them.
    func observe(head: ChainHead?, settings: SettingsHistory?) {
        lock.lock()
        defer { lock.unlock() }
        guard !serving else { return }
        if let head { self.head = head }
        if let settings { ledgerSettings = settings }
    }

    /// Everything again, after a connect.
    func reset(head: ChainHead, today: BusinessDay, state: LedgerState) {
        lock.lock()
        defer { lock.unlock() }
        serving = true
        connected = true
        self.head = head
        self.today = today
        budgets = state.budgets
        allowances = state.allowances
        ledgerSettings = state.settingsHistory
    }

    /// The ledger's settings as the writer (or, on a standby or follower, the
    /// last read of the tables) has them.
    var settings: SettingsHistory {
        lock.lock()
        defer { lock.unlock() }
        return ledgerSettings
    }

    /// The writer lost its connection; it reconnects on the next append or attempt.
    func disconnected() {
        lock.lock()
        defer { lock.unlock() }
        connected = false
    }

    var isConnected: Bool {
        lock.lock()
        defer { lock.unlock() }
        return connected
    }

    /// A committed batch's changes.
    func commit(_ delta: LedgerDelta, head: ChainHead) {
        lock.lock()
        defer { lock.unlock() }
        self.head = head
        for (key, row) in delta.budgets { budgets[key] = row }
        for (agentID, settings) in delta.allowances { allowances[agentID] = settings }
        if let settings = delta.settingsHistory { ledgerSettings = settings }
    }

    /// After the writer dropped settled rows from its memory.
    func evict(before day: BusinessDay) {
        lock.lock()
        defer { lock.unlock() }
        today = day
        budgets = budgets.filter { $0.key.day >= day }
    }

    var position: Int64 {
        lock.lock()
        defer { lock.unlock() }
        return head.position
    }

    /// The last committed position and its hash, as the writer recorded them.
    var chainHead: ChainHead {
        lock.lock()
        defer { lock.unlock() }
        return head
    }

    /// The row held for `key`; if there is none and the day is today or later
    /// (all of which the writer holds), the empty row the day starts as.
    /// Nil for an earlier day the writer does not hold: the table has it.
    func budget(_ key: BudgetKey) -> BudgetDay? {
        lock.lock()
        defer { lock.unlock() }
        guard serving else { return nil }
        if let row = budgets[key] { return row }
        guard key.day >= today else { return nil }
        return LedgerState(allowances: allowances[key.agentID].map { [key.agentID: $0] } ?? [:], settingsHistory: ledgerSettings)
            .budget(for: key.agentID, on: key.day)
    }

    /// `day`'s budgets, if it is today or later; nil for an earlier day.
    func budgets(on day: BusinessDay) -> DayBudgets? {
        lock.lock()
        defer { lock.unlock() }
        guard serving, day >= today else { return nil }
        var rows: [String: BudgetDay] = [:]
        for (key, row) in budgets where key.day == day { rows[key.agentID] = row }
        return DayBudgets(day: day, rows: rows, allowances: allowances, settings: ledgerSettings)
    }
}
