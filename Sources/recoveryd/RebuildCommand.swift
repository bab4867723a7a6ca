import ArgumentParser
import Foundation
import LedgerStore
import RecoveryDomain

struct RebuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Replay the whole log through the deciders; compare with the projection tables, or rewrite them.",
        discussion: """
            --check compares and reports every difference (exit status 1 if any). --write replaces the \
            projection tables (cases, case_compensations, budget_days, allowances and the checkpoint) \
            with the replay's, in one transaction, holding the writer's lock: stop recoveryd first. \
            The log itself is never changed.
            """)

    @Flag(help: "Report the differences between the log and the projection tables.") var check = false
    @Flag(help: "Rewrite the projection tables from the log (recoveryd must be stopped).") var write = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var ledger: LedgerOptions

    func validate() throws {
        guard check != write else { throw ValidationError("say --check (compare) or --write (rewrite the projection tables)") }
    }

    func run() async throws {
        let logger = makeLogger("info")
        var configuration = try ledger.ledger()
        let cluster = try database.startEmbedded(logger: logger)
        defer { if let cluster { try? cluster.stop() } }
        let conninfo = try database.conninfo(cluster: cluster)
        // The settings the ledger was started with decide days and deadlines, whatever the options say.
        if let stored = try LedgerSettings.stored(PGConnection(conninfo, timeouts: .maintenance)) {
            guard let zone = TimeZone(identifier: stored.timeZone) else {
                throw ValidationError("the ledger's stored time zone \(stored.timeZone) is not known here")
            }
            configuration.timeZone = zone
            configuration.currency = stored.currency
            configuration.followUpWithinDays = stored.followUpWithinDays
            configuration.repeatWindowDays = stored.repeatWindowDays
        }
        // The writer's lock first: a rewrite must not race a running daemon.
        let log = try write ? EventLog(connection: PGConnection(conninfo, timeouts: .maintenance)) : nil
        let replayed: Rebuild.Replayed
        do {
            replayed = try Rebuild.replay(conninfo: conninfo, configuration: configuration) { logger.info("replayed \($0) events") }
        } catch let failure as Rebuild.Failure {
            throw ValidationError(failure.description)
        }
        if let log {
            try Rebuild.write(replayed.state, through: log)
            print(
                "rebuild --write: the projection tables now hold the log's state (\(replayed.events) events, \(replayed.state.cases.count) cases, \(replayed.state.budgets.count) budget rows; \(replayed.rate) events/s)"
            )
            return
        }
        let stored = try Projections(connection: PGConnection(conninfo, timeouts: .maintenance)).completeState()
        let differences = Rebuild.differences(replayed.state, stored)
        if differences.isEmpty {
            print(
                "rebuild --check: the projection tables match the log (\(replayed.events) events, \(stored.cases.count) cases, \(stored.budgets.count) budget rows; \(replayed.rate) events/s)"
            )
        } else {
            print("rebuild --check: \(differences.count) difference(s) between the log and the projection tables:")
            for line in differences.prefix(50) { print("  \(line)") }
            throw ExitCode(1)
        }
    }
}
