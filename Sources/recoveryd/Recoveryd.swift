import ArgumentParser
import Foundation
import RecoveryServer

@main
struct Recoveryd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recoveryd",
        abstract: "The service-recovery ledger daemon.",
        version: recoverydVersion,
        subcommands: [Serve.self, Migrate.self, TokenCommand.self, KeyCommand.self, RebuildCommand.self],
        defaultSubcommand: Serve.self)

    static func main() async {
        await main(arguments().dropFirst().map { $0 })
    }

    /// The command line. The Swift runtime is handed no arguments at all when
    /// some preloaded libraries are present (libfaketime, which the week-long
    /// test uses to move the daemon's clock); the kernel's copy is always there,
    /// and a daemon must never start a default `serve` with none of the
    /// options it was given.
    static func arguments() -> [String] {
        if !CommandLine.arguments.isEmpty { return CommandLine.arguments }
        guard let raw = FileManager.default.contents(atPath: "/proc/self/cmdline") else { return [] }
        return raw.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
    }
}
