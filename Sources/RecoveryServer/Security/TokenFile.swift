import Crypto
import Foundation
import LedgerStore
import RecoveryDomain

/// The token file (docs/OPERATIONS.md, "Roles and tokens"): one line per token,
/// `<role> <sha256 hex of the token> [agent=<agent_id>] [<name>]`. Only hashes
/// are stored; blank lines and lines starting with `#` are ignored. A token
/// with `agent=` is bound to that person (docs/OPERATIONS.md, "Who may act as
/// whom"). The file is read at start and again on SIGHUP, and is refused when
/// anyone but its owner may write it.
public struct TokenFile: Sendable {
    public struct Entry: Sendable, Equatable {
        public var role: ClientRole
        public var digest: String
        /// The one `agent_id` this token may record events as, if bound.
        public var agent: String?
        public var name: String?

        public init(role: ClientRole, digest: String, agent: String? = nil, name: String? = nil) {
            self.role = role
            self.digest = digest
            self.agent = agent
            self.name = name
        }

        /// The line this entry is written as.
        var line: String {
            var words = [role.rawValue, digest]
            if let agent { words.append("agent=\(agent)") }
            if let name { words.append(name) }
            return words.joined(separator: " ")
        }
    }

    public private(set) var entries: [Entry]
    private var byDigest: [String: Entry]

    public init(entries: [Entry]) {
        self.entries = entries
        byDigest = Dictionary(entries.map { ($0.digest, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Reads and checks a token file; a malformed line is an error naming it.
    public static func load(from url: URL) throws -> TokenFile {
        try checkPermissions(of: url)
        return try parse(String(contentsOf: url, encoding: .utf8), path: url.path)
    }

    /// Parses the file's text (`path` names it in errors).
    public static func parse(_ text: String, path: String) throws -> TokenFile {
        var entries: [Entry] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            entries.append(try parseLine(trimmed, at: "\(path):\(number + 1)"))
        }
        return TokenFile(entries: entries)
    }

    private static func parseLine(_ line: String, at place: String) throws -> Entry {
        var words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard words.count >= 2, let role = ClientRole(rawValue: words[0]), words[1].count == 64, Hex.decode(words[1]) != nil else {
            throw TokenFileError(
                "\(place): expected `<role> <sha256 hex> [agent=<agent_id>] [<name>]` with role one of \(ClientRole.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        var entry = Entry(role: role, digest: words[1].lowercased())
        words.removeFirst(2)
        if let first = words.first, first.hasPrefix("agent=") {
            let agent = String(first.dropFirst("agent=".count))
            guard Identifier.isValid(agent) else {
                throw TokenFileError("\(place): `\(first)` is not a valid agent_id (1–64 of A–Z a–z 0–9 . _ : @ -)")
            }
            entry.agent = agent
            words.removeFirst()
        }
        if !words.isEmpty { entry.name = words.joined(separator: " ") }
        return entry
    }

    /// Refuses a file that its group or anyone else may write: whoever can
    /// edit it can grant themselves any role.
    static func checkPermissions(of url: URL) throws {
        var status = stat()
        guard stat(url.path, &status) == 0 else {
            throw TokenFileError("cannot read \(url.path): \(String(cString: strerror(errno)))")
        }
        let mode = status.st_mode & 0o777
        if mode & 0o022 != 0 {
            throw TokenFileError(
                "\(url.path) may be written by its group or by others (mode \(String(mode, radix: 8))); refusing it: run `chmod go-w \(url.path)`"
            )
        }
    }

    /// The entry of `token`, if the file has it.
    public func entry(for token: String) -> Entry? { byDigest[Self.digest(of: token)] }

    /// The entry with this digest, if any.
    public func entry(digest: String) -> Entry? { byDigest[digest] }

    /// The role bound to `token`, if any.
    public func role(for token: String) -> ClientRole? { entry(for: token)?.role }

    public static func digest(of token: String) -> String { Hex.encode(digestBytes(of: token)) }

    /// The SHA-256 of `token`, as bytes.
    public static func digestBytes(of token: String) -> [UInt8] { Array(SHA256.hash(data: Array(token.utf8))) }

    /// A new random token: 32 bytes from the system's generator, in hex.
    public static func newToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    /// Appends a line for `token` to the file (created with mode 0600 if absent).
    public static func append(token: String, role: ClientRole, agent: String? = nil, name: String?, to url: URL) throws {
        let line = Entry(role: role, digest: digest(of: token), agent: agent, name: name).line + "\n"
        if !FileManager.default.fileExists(atPath: url.path) {
            do { try SecretFile.create(url, contents: "") } catch { throw TokenFileError("\(error)") }
        }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(line.utf8))
    }

    /// Removes every line whose name is `name`, or whose hash starts with
    /// `name` (at least 8 hex digits), keeping comments and other lines as
    /// they are. The file is replaced atomically with the same mode. Returns
    /// the removed entries; nothing is written when none match.
    public static func revoke(_ name: String, in url: URL) throws -> [Entry] {
        try checkPermissions(of: url)
        let text = try String(contentsOf: url, encoding: .utf8)
        let isPrefix = name.count >= 8 && name.count <= 64 && name.allSatisfy(\.isHexDigit)
        var kept: [Substring] = []
        var removed: [Entry] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if !trimmed.isEmpty, !trimmed.hasPrefix("#") {
                let entry = try parseLine(trimmed, at: "\(url.path):\(number + 1)")
                if entry.name == name || (isPrefix && entry.digest.hasPrefix(name.lowercased())) {
                    removed.append(entry)
                    continue
                }
            }
            kept.append(line)
        }
        guard !removed.isEmpty else { return [] }
        var status = stat()
        _ = stat(url.path, &status)
        let replacement = url.deletingLastPathComponent().appending(path: ".\(url.lastPathComponent).new")
        guard FileManager.default.createFile(
            atPath: replacement.path, contents: Data(kept.joined(separator: "\n").utf8),
            attributes: [.posixPermissions: Int(status.st_mode & 0o777)])
        else { throw TokenFileError("cannot write \(replacement.path)") }
        _ = chown(replacement.path, status.st_uid, status.st_gid)
        guard rename(replacement.path, url.path) == 0 else {
            throw TokenFileError("cannot replace \(url.path): \(String(cString: strerror(errno)))")
        }
        return removed
    }
}

public struct TokenFileError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
