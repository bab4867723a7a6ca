import ArgumentParser
import Foundation
import RecoveryDomain
import RecoveryServer

struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Manage tokens.", subcommands: [New.self, Revoke.self])

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token: print it once and append its hash to the token file.")

        @Option(help: "frontline, auditor, finance or admin.") var role: String
        @Option(help: "Bind the token to one person: it may record events only as this agent_id, and name no one else in approved_by.")
        var agent: String?
        @Option(help: "A name to remember it by (no secrets).") var name: String?
        @Option(help: "Token file to append to.") var tokenFile: String = "./.recoveryd/tokens"
        @Option(help: "The running daemon's --data-dir (where recoveryd.pid is), to make it read the file again.")
        var dataDir: String = "./.recoveryd"

        func run() throws {
            guard let role = ClientRole(rawValue: role) else {
                throw ValidationError("--role must be one of \(ClientRole.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if let name, name.contains("\n") || name.hasPrefix("agent=") {
                throw ValidationError("--name must be one line and not start with agent=")
            }
            if let agent, !Identifier.isValid(agent) {
                throw ValidationError("--agent must be 1–64 of A–Z a–z 0–9 . _ : @ -")
            }
            let token = TokenFile.newToken()
            let url = URL(fileURLWithPath: tokenFile)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try TokenFile.append(token: token, role: role, agent: agent, name: name, to: url)
            print(token)
            fflush(nil)
            FileHandle.standardError.write(Data((signalDaemon(dataDir: dataDir) + "\n").utf8))
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove tokens from the token file and make the running daemon read it again (SIGHUP).",
            discussion: """
                Removes every line whose name is NAME, or whose hash starts with NAME (8 or more hex digits). \
                The daemon found through <data-dir>/recoveryd.pid then closes the connections that used them.
                """)

        @Argument(help: "The token's name, or the start of its hash.") var name: String
        @Option(help: "Token file to edit.") var tokenFile: String = "./.recoveryd/tokens"
        @Option(help: "The running daemon's --data-dir (where recoveryd.pid is).") var dataDir: String = "./.recoveryd"

        func run() throws {
            let removed = try TokenFile.revoke(name, in: URL(fileURLWithPath: tokenFile))
            guard !removed.isEmpty else {
                throw ValidationError("no token named \(name) (or with a hash starting so) in \(tokenFile); nothing changed")
            }
            for entry in removed {
                print("revoked \(entry.role.rawValue) \(entry.digest.prefix(12))… \(entry.name ?? "")")
            }
            print(signalDaemon(dataDir: dataDir) + "; its log says which connections it closed")
        }
    }
}

/// Sends SIGHUP to the daemon serving `dataDir`: only to a process that holds
/// the data dir's lock now (a stale pid file, whose pid the system may have
/// given to another program, is never signalled) and whose pid file says it
/// is listening. Says what it did, or how to do it by hand.
private func signalDaemon(dataDir: String) -> String {
    let dataDirectory = URL(fileURLWithPath: dataDir).standardizedFileURL
    guard let holder = DataDirectoryLock.holder(of: dataDirectory) else {
        return "no running daemon holds \(dataDirectory.path) (it reads the token file when it starts); a daemon on another data dir needs SIGHUP (kill -HUP <pid>) to apply this"
    }
    guard PIDFile.running(in: dataDirectory) == holder else {
        return "the daemon (pid \(holder)) is still starting and reads the token file once it listens; if it was already listening, send it SIGHUP (kill -HUP \(holder))"
    }
    guard kill(holder, SIGHUP) == 0 else {
        return "cannot signal the daemon (pid \(holder)): \(String(cString: strerror(errno))); send it SIGHUP yourself"
    }
    return "asked the daemon (pid \(holder)) to read the token file again"
}
