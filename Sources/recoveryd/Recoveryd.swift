import ArgumentParser
import RecoveryServer

@main
struct Recoveryd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recoveryd",
        abstract: "The service-recovery ledger daemon.",
        version: recoverydVersion,
        subcommands: [Serve.self, Migrate.self, TokenCommand.self, KeyCommand.self, RebuildCommand.self],
        defaultSubcommand: Serve.self)
}

