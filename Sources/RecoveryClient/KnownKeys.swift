import Foundation
import RecoveryWire

/// The signing keys this user has seen, by ledger name, like SSH's
/// known_hosts: the first key a ledger's heads come with is pinned; a later,
/// different one is refused unless the user says the change is expected. A
/// server that swaps its key (or a stranger answering in its place) cannot
/// then vouch for a rewritten history with a key of its own.
///
/// The file is `$RECOVERYD_KNOWN_KEYS`, else `$XDG_CONFIG_HOME/recoveryd/known_keys`,
/// else `~/.config/recoveryd/known_keys`: one `<ledger> <key hex>` a line.
public struct KnownKeys {
    public let url: URL

    public init(url: URL? = nil) {
        let environment = ProcessInfo.processInfo.environment
        if let url {
            self.url = url
        } else if let path = environment["RECOVERYD_KNOWN_KEYS"] {
            self.url = URL(fileURLWithPath: path)
        } else {
            let config = environment["XDG_CONFIG_HOME"].map { URL(fileURLWithPath: $0) }
                ?? FileManager.default.homeDirectoryForCurrentUser.appending(path: ".config")
            self.url = config.appending(path: "recoveryd/known_keys")
        }
    }

    /// What the file says of `ledger`'s key.
    public enum Verdict: Equatable, Sendable {
        /// Never seen: now pinned.
        case pinned
        case matches
        /// Another key was pinned for this ledger.
        case changed(pinned: String)
    }

    /// Checks `key` for `ledger`, pinning it when the ledger is new (or, with
    /// `accept`, when it changed).
    public func check(ledger: String, key: String, accept: Bool = false) throws -> Verdict {
        let key = key.lowercased()
        var lines = (try? String(contentsOf: url, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        if let index = lines.firstIndex(where: { $0.split(separator: " ").first.map(String.init) == ledger }) {
            let pinned = lines[index].split(separator: " ").dropFirst().first.map { String($0).lowercased() } ?? ""
            if pinned == key { return .matches }
            guard accept else { return .changed(pinned: pinned) }
            lines[index] = "\(ledger) \(key)"
            try save(lines)
            return .pinned
        }
        lines.append("\(ledger) \(key)")
        try save(lines)
        return .pinned
    }

    private func save(_ lines: [String]) throws {
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        chmod(url.path, 0o600)
    }
}
