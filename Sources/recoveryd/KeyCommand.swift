import ArgumentParser
import Foundation
import RecoveryDomain
import RecoveryServer

/// Where the head-signing key is and what the signed heads are called.
struct SigningOptions: ParsableArguments {
    @Option(help: "The Ed25519 key heads are signed with (64 hex digits, mode 0600). Default: <data-dir>/signing.key, made on first start.")
    var signingKey: String?

    @Option(help: "The ledger's name in signed heads (1–64 of A–Z a–z 0–9 . _ -).")
    var ledgerName = "default"

    @Option(help: "Seconds between signed heads while appends flow.")
    var headInterval = 10.0

    func keyURL(dataDirectory: URL) -> URL {
        signingKey.map { URL(fileURLWithPath: $0) } ?? dataDirectory.appending(path: "signing.key")
    }

    func signer(dataDirectory: URL, create: Bool) throws -> HeadSigner {
        guard SignedHead.isValidLedgerName(ledgerName) else {
            throw ValidationError("--ledger-name must be 1–64 of A–Z a–z 0–9 . _ -")
        }
        // Only the default location is made on demand: a named key that is missing is a mistake.
        if create, signingKey == nil {
            try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let key = try HeadSigner.loadKey(from: keyURL(dataDirectory: dataDirectory), create: create && signingKey == nil)
        return HeadSigner(ledger: ledgerName, key: key)
    }
}

struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "The key heads are signed with.", subcommands: [Show.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the public key (64 hex digits) that auditors check signed heads with.")

        @Option(help: "The daemon's --data-dir.") var dataDir: String = "./.recoveryd"
        @OptionGroup var signing: SigningOptions

        func run() throws {
            let dataDirectory = URL(fileURLWithPath: dataDir).standardizedFileURL
            do {
                print(try signing.signer(dataDirectory: dataDirectory, create: false).publicKeyHex)
            } catch let error as SigningKeyError {
                throw ValidationError("\(error.description) (the daemon makes it on first start)")
            }
        }
    }
}
