import ArgumentParser
import Foundation
import LedgerStore
import RecoveryDomain

struct RebuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Replay the whole log through the deciders and compare with the projection tables.")

    @Flag(help: "Report differences (the only mode: the tables are never rewritten).") var check = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var ledger: LedgerOptions

    func run() async throws {
        guard check else { throw ValidationError("say --check: rebuild compares and reports, it does not rewrite") }
        let logger = makeLogger("info")
        let configuration = try ledger.ledger()
        let cluster = try database.startEmbedded(logger: logger)
        defer { if let cluster { try? cluster.stop() } }
        let conninfo = try database.conninfo(cluster: cluster)
        let replayed: Rebuild.Replayed
        do {
            replayed = try Rebuild.replay(conninfo: conninfo, configuration: configuration) { logger.info("replayed \($0) events") }
        } catch let failure as Rebuild.Failure {
            throw ValidationError(failure.description)
        }
        let stored = try Projections(connection: PGConnection(conninfo)).completeState()
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
