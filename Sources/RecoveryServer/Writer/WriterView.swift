import Foundation
import LedgerStore
import LineProtocol
import RecoveryWire
import RecoveryDomain
import Synchronization

/// What queries may read from the writer's memory: the chain's head, the
/// budget rows it holds (all of today's, and any older ones it loaded), the
/// allowance settings, the ledger's settings. The writer updates it
/// after every commit with the rows the batch changed — never a copy of the
/// whole — and readers take single rows or one day's rows under its lock.
final class WriterView: Sendable {
    private struct Held {
        var head: ChainHead = .empty
        var today = BusinessDay(daysSinceEpoch: 0)
        var budgets: [BudgetKey: BudgetDay] = [:]
        var allowances: [String: [AllowanceSetting]] = [:]
        var settings = SettingsHistory()
        /// False until this daemon's writer holds the lock (a standby before it
        /// takes over): then nothing here is the ledger's, and queries read the
        /// tables; only the head's position is kept, as last read from the log.
        var serving = false
        /// Whether the writer's connection is up (false after it lost it, until it reconnects).
        var connected = false
        /// Set when the log no longer extends a head this daemon signed: every
        /// append is refused with it (``HeadNotary/check(connection:witness:)``).
        var broken: ProtocolError?
    }

    private let held = Mutex(Held())

    var brokenHistory: ProtocolError? { held.withLock { $0.broken } }

    func historyBroken(_ error: ProtocolError?) { held.withLock { $0.broken = error } }

    var isServing: Bool { held.withLock { $0.serving } }

    /// The log's head (and the settings, when they were read) as a standby
    /// or follower last read them.
    func observe(head: ChainHead?, settings: SettingsHistory?) {
        held.withLock { held in
            guard !held.serving else { return }
            if let head { held.head = head }
            if let settings { held.settings = settings }
        }
    }

    /// Everything again, after a connect.
    func reset(head: ChainHead, today: BusinessDay, state: LedgerState) {
        held.withLock { held in
            held.serving = true
            held.connected = true
            held.head = head
            held.today = today
            held.budgets = state.budgets
            held.allowances = state.allowances
            held.settings = state.settingsHistory
        }
    }

    /// The ledger's settings as the writer (or, on a standby or follower, the
    /// last read of the tables) has them.
    var settings: SettingsHistory { held.withLock { $0.settings } }

    /// The writer lost its connection; it reconnects on the next append or attempt.
    func disconnected() { held.withLock { $0.connected = false } }

    var isConnected: Bool { held.withLock { $0.connected } }

    /// A committed batch's changes.
    func commit(_ delta: LedgerDelta, head: ChainHead) {
        held.withLock { held in
            held.head = head
            for (key, row) in delta.budgets { held.budgets[key] = row }
            for (agentID, settings) in delta.allowances { held.allowances[agentID] = settings }
            if let settings = delta.settingsHistory { held.settings = settings }
        }
    }

    /// After the writer dropped settled rows from its memory.
    func evict(before day: BusinessDay) {
        held.withLock { held in
            held.today = day
            held.budgets = held.budgets.filter { $0.key.day >= day }
        }
    }

    var position: Int64 { held.withLock { $0.head.position } }

    /// The last committed position and its hash, as the writer recorded them.
    var chainHead: ChainHead { held.withLock { $0.head } }

    /// The row held for `key`; if there is none and the day is today or later
    /// (all of which the writer holds), the empty row the day starts as.
    /// Nil for an earlier day the writer does not hold: the table has it.
    func budget(_ key: BudgetKey) -> BudgetDay? {
        held.withLock { held in
            guard held.serving else { return nil }
            if let row = held.budgets[key] { return row }
            guard key.day >= held.today else { return nil }
            return LedgerState(allowances: held.allowances[key.agentID].map { [key.agentID: $0] } ?? [:], settingsHistory: held.settings)
                .budget(for: key.agentID, on: key.day)
        }
    }

    /// `day`'s budgets, if it is today or later; nil for an earlier day.
    func budgets(on day: BusinessDay) -> DayBudgets? {
        held.withLock { held in
            guard held.serving, day >= held.today else { return nil }
            var rows: [String: BudgetDay] = [:]
            for (key, row) in held.budgets where key.day == day { rows[key.agentID] = row }
            return DayBudgets(day: day, rows: rows, allowances: held.allowances, settings: held.settings)
        }
    }
}
