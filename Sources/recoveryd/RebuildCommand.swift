import ArgumentParser
import Foundation
import LedgerStore
import NIOPosix
import RecoveryDomain

struct RebuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Replay the whole log through the deciders; compare with the projection tables, or rewrite them.",
        discussion: """
            --check compares and reports every difference (exit status 1 if any). --write replaces the \
            projection tables (cases, follow_ups_due, case_compensations, budget_days, allowances, customer_days, \
            setting_changes and the checkpoint) with the replay's, in one transaction, holding the \
            writer's lock: stop recoveryd first. Everything, the ledger's settings included, comes from \
            the log: rebuild takes no settings flags. The log itself is never changed.
            """)

    @Flag(help: "Report the differences between the log and the projection tables.") var check = false
    @Flag(help: "Rewrite the projection tables from the log (recoveryd must be stopped).") var write = false
    @OptionGroup var database: DatabaseOptions
    /// Refused, every one: the settings are in the log (see ``validate()``).
    @OptionGroup(visibility: .hidden) var ledger: LedgerOptions

    func validate() throws {
        guard check != write else { throw ValidationError("say --check (compare) or --write (rewrite the projection tables)") }
        if let flag = ledger.given.first {
            throw ValidationError(
                "\(flag) no longer applies to rebuild: the ledger's settings are events in its log, and rebuild reads them from there (see them with `recoveryctl settings`)"
            )
        }
    }

    func run() async throws {
        let logger = makeLogger("info")
        // The embedded PostgreSQL is the data dir's: not while a daemon runs on it.
        let dataDirectoryLock = database.isEmbedded ? try DataDirectoryLock(database.dataDirectory) : nil
        defer { withExtendedLifetime(dataDirectoryLock) {} }
        let cluster = try database.startEmbedded(logger: logger)
        defer { if let cluster { try? cluster.stopIfStartedHere() } }
        let conninfo = try database.conninfo(cluster: cluster, logger: logger)
        let connection = try PGConnection(conninfo, timeouts: .maintenance)
        if try LegacySettings.stored(connection) != nil {
            throw ValidationError(
                "this ledger's settings are still outside its log (an earlier version's): start `recoveryd serve` once, which records them as events, then rebuild"
            )
        }
        // The writer's lock first: a rewrite must not race a running daemon.
        let log = try write ? EventLog(connection: PGConnection(conninfo, timeouts: .maintenance)) : nil
        let started = ContinuousClock.now
        /// The whole command's rate and time, then the replay's own rate.
        func timing(_ verb: String, _ replayed: Rebuild.Replayed) -> String {
            let seconds = (ContinuousClock.now - started).seconds
            return "\(Int(Double(replayed.events) / max(seconds, 1e-9))) events/s \(verb) in \(String(format: "%.1f", seconds)) s, replayed at \(replayed.rate) events/s"
        }
        // A check reads the projection tables on a thread of its own while the log replays.
        // (On NIO's thread pool: the wait for it blocks no thread.)
        async let stored = write ? nil : NIOThreadPool.singleton.runIfActive {
            let projections = try Projections(connection: PGConnection(conninfo, timeouts: .maintenance))
            return (state: try projections.completeState(), followUpsDue: try projections.followUpsDue())
        }
        let replayed: Rebuild.Replayed
        do {
            replayed = try Rebuild.replay(conninfo: conninfo) { logger.info("replayed \($0) events") }
        } catch let failure as Rebuild.Failure {
            throw ValidationError(failure.description)
        }
        if let log {
            logger.info("writing the projection tables", metadata: ["cases": "\(replayed.state.cases.count)"])
            try Rebuild.write(replayed.state, through: log)
            print(
                "rebuild --write: the projection tables now hold the log's state (\(replayed.events) events, \(replayed.state.cases.count) cases, \(replayed.state.budgets.count) budget rows; \(timing("rebuilt", replayed)))"
            )
            return
        }
        guard let (tables, followUpsDue) = try await stored else { return }
        let differences = Rebuild.differences(replayed.state, tables, followUpsDue: followUpsDue)
        if differences.isEmpty {
            print(
                "rebuild --check: the projection tables match the log (\(replayed.events) events, \(tables.cases.count) cases, \(tables.budgets.count) budget rows; \(timing("checked", replayed)))"
            )
        } else {
            print("rebuild --check: \(differences.count) difference(s) between the log and the projection tables:")
            for line in differences.prefix(50) { print("  \(line)") }
            throw ExitCode(1)
        }
    }
}
