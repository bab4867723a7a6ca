import Crypto
import Foundation
import LedgerStore
import LineProtocol
import RecoveryWire
import Logging
import RecoveryDomain
import Synchronization

/// What the writer does once, when it first holds the lock: give a new
/// ledger its opening settings, upgrade an earlier version's ledger, rebuild
/// projection rows an older fold wrote, and refuse flags that differ from
/// the log (docs/OPERATIONS.md, "Settings" and "Upgrades").
extension LedgerWriter {
    /// A start refused because the command line says otherwise than the log.
    struct SettingsDiffer: Error, CustomStringConvertible {
        var differences: [LedgerSeed.Difference]
        var description: String {
            "the ledger's log rules its settings, and the command line differs from it:\n"
                + differences.map { "  \($0)" }.joined(separator: "\n")
        }
    }

    func open(_ driver: Driver) throws {
        guard let log = driver.log else { return }
        let connection = log.connection
        // Before anything is written: does the log still hold what this daemon signed?
        if let problem = try HeadNotary.check(connection: connection, witness: configuration.headWitness) {
            logger.critical(
                "THE LOG NO LONGER EXTENDS A HEAD THIS DAEMON SIGNED: appends are refused until an operator has looked (docs/OPERATIONS.md, \"What each party can detect\")",
                metadata: ["position": "\(problem.position)", "problem": "\(problem.reason)"])
            view.historyBroken(
                ProtocolError(
                    .chainBroken,
                    "\(problem.position) \(problem.reason); this daemon takes no appends until an operator has looked (reads and VERIFY are served)"))
            return
        }
        view.historyBroken(nil)
        if try EventReader(connection: connection).opening().isEmpty {
            if let legacy = try LegacySettings.stored(connection) {
                // Recorded by an earlier version outside the log: what it ran
                // with becomes the opening settings, which hold from the first
                // position, so the log now says what the ledger always was.
                var settings = legacy
                for name in SettingName.allCases where settings[name] == nil {
                    settings[name] = configuration.seed.settings[name] ?? LedgerSettings.builtIn.value(of: name)
                }
                let seed = LedgerSeed(settings: settings, supervisors: configuration.seed.supervisors)
                try record(seed, through: driver, why: "upgrade: the settings this ledger ran with are now events in its log")
                try LegacySettings.clear(connection)
            } else if log.head.position == 0 && !configuration.seed.isEmpty {
                try record(configuration.seed, through: driver, why: "new ledger: its settings flags are its first events")
            }
        }
        if try Projections(connection: connection).storedVersion() < Projections.version {
            // A new ledger's tables are merely marked with this fold's version.
            if log.head.position > 0 {
                logger.notice(
                    "the projection tables were written by an older fold; rebuilding them from the log",
                    metadata: ["position": "\(log.head.position)"])
            }
            let started = ContinuousClock.now
            let replayed = try Rebuild.replay(conninfo: configuration.conninfo) { logger.info("rebuild: replayed \($0) events") }
            try Rebuild.write(replayed.state, through: log)
            try driver.reload()
            if replayed.events > 0 {
                logger.notice(
                    "projection tables rebuilt", metadata: ["events": "\(replayed.events)", "took": "\(ContinuousClock.now - started)"])
            }
        }
        let state = driver.machine.state
        let today = state.settingsHistory.businessDay(of: Timestamp(Date()))
        let differences = configuration.seed.differences(from: state, on: today)
        guard differences.isEmpty else { throw SettingsDiffer(differences: differences) }
    }

    /// Records `seed`'s opening events as one batch, through the same decider
    /// and pipeline as every append; throws unless every one is recorded.
    private func record(_ seed: LedgerSeed, through driver: Driver, why: String) throws {
        let answers = Answers()
        let batch = Self.openingEvents(seed, from: driver.machine.state.lastPosition + 1).map { event in
            Pending(event: event, digest: HashChain.digest(event.content), authority: .daemon, loop: nil, complete: { answers.append($0) })
        }
        guard !batch.isEmpty else { return }
        driver.append(batch.map(\.append), at: Timestamp(Date()))
        for answer in answers.all {
            guard case .recorded = answer else { throw StoreError(.server, "the opening settings were not recorded: \(answer)") }
        }
        logger.notice(
            "recorded the ledger's opening settings",
            metadata: ["why": "\(why)", "events": "\(batch.count)", "position": "\(driver.machine.state.lastPosition)"])
    }

    /// `seed`'s opening events, to be recorded from position `first`. Their
    /// ids are derived from what each says and where it goes (a name-based
    /// UUID), so two ledgers opened alike open with the same events: with the
    /// same clock, their chains agree event for event.
    static func openingEvents(_ seed: LedgerSeed, from first: Int64) -> [Event] {
        let placeholder = EventID("00000000-0000-4000-8000-000000000000")!
        var events = seed.openingEvents { placeholder }
        for index in events.indices {
            var digest = Array(SHA256.hash(data: Array("recoveryd-opening-event:\(first + Int64(index)):".utf8) + EventCodec.canonicalContent(of: events[index])))
            digest[6] = digest[6] & 0x0F | 0x50  // version 5: name-based
            digest[8] = digest[8] & 0x3F | 0x80  // the RFC 4122 variant
            let hex = Hex.encode(digest[0..<16])
            let id = [hex.prefix(8), hex.dropFirst(8).prefix(4), hex.dropFirst(12).prefix(4), hex.dropFirst(16).prefix(4), hex.dropFirst(20).prefix(12)]
            events[index].eventID = EventID(id.joined(separator: "-"))!
        }
        return events
    }

    /// The answers to the opening batch, collected from the writer's calls.
    private final class Answers: Sendable {
        private let answers = Mutex<[AppendAnswer]>([])
        var all: [AppendAnswer] { answers.withLock { $0 } }
        func append(_ answer: AppendAnswer) { answers.withLock { $0.append(answer) } }
    }
}
