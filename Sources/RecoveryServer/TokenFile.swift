import Crypto
import Foundation
import LedgerStore
import RecoveryDomain

/// The token file (DESIGN.md §5): one line per token,
/// `<role> <sha256 hex of the token> [<name>]`. Only hashes are stored; blank
/// lines and lines starting with `#` are ignored.
public struct TokenFile: Sendable {
    public struct Entry: Sendable, Equatable {
        public var role: ClientRole
        public var digest: String
        public var name: String?
    }

    public private(set) var entries: [Entry]
    private var byDigest: [String: Entry]

    public init(entries: [Entry]) {
        self.entries = entries
        byDigest = Dictionary(entries.map { ($0.digest, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Reads and checks a token file; a malformed line is an error naming it.
    public static func load(from url: URL) throws -> TokenFile {
        let text = try String(contentsOf: url, encoding: .utf8)
        var entries: [Entry] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let words = trimmed.split(separator: " ", maxSplits: 2).map(String.init)
            guard words.count >= 2, let role = ClientRole(rawValue: words[0]), words[1].count == 64,
                Hex.decode(words[1]) != nil
            else {
                throw TokenFileError(
                    "\(url.path):\(number + 1): expected `<role> <sha256 hex> [<name>]` with role one of \(ClientRole.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            entries.append(Entry(role: role, digest: words[1].lowercased(), name: words.count > 2 ? words[2] : nil))
        }
        return TokenFile(entries: entries)
    }

    /// The role bound to `token`, if any.
    public func role(for token: String) -> ClientRole? { byDigest[Self.digest(of: token)]?.role }

    public static func digest(of token: String) -> String { Hex.encode(SHA256.hash(data: Array(token.utf8))) }

    /// A new random token: 32 bytes from the system's generator, in hex.
    public static func newToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    /// Appends a line for `token` to the file (created with mode 0600 if absent).
    public static func append(token: String, role: ClientRole, name: String?, to url: URL) throws {
        let line = "\(role.rawValue) \(digest(of: token))" + (name.map { " \($0)" } ?? "") + "\n"
        if !FileManager.default.fileExists(atPath: url.path) {
            guard FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw TokenFileError("cannot create \(url.path)")
            }
        }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(line.utf8))
    }
}

public struct TokenFileError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
