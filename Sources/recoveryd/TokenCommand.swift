import ArgumentParser
import Foundation
import RecoveryDomain
import RecoveryServer

struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "token", abstract: "Manage tokens.", subcommands: [New.self])

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token: print it once and append its hash to the token file.")

        @Option(help: "frontline, auditor, finance or admin.") var role: String
        @Option(help: "A name to remember it by (no secrets).") var name: String?
        @Option(help: "Token file to append to.") var tokenFile: String = "./.recoveryd/tokens"

        func run() throws {
            guard let role = ClientRole(rawValue: role) else {
                throw ValidationError("--role must be one of \(ClientRole.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if let name, name.contains("\n") { throw ValidationError("--name must be one line") }
            let token = TokenFile.newToken()
            let url = URL(fileURLWithPath: tokenFile)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try TokenFile.append(token: token, role: role, name: name, to: url)
            print(token)
        }
    }
}

