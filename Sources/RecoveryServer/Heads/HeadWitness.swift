import Foundation
import RecoveryDomain

/// `--head-witness PATH|-`: a record of every head the daemon signs, outside
/// its database, one JSON line each (the fields `recoveryctl head` writes, so
/// `recoveryctl verify --heads` reads it as it is). Someone who can rewrite
/// the database — its tables, its triggers, its own copy of the signed heads —
/// cannot rewrite this file too unless they also own its host or log shipper.
/// The daemon checks its log against the last line at start
/// (docs/OPERATIONS.md, "What each party can detect").
public struct HeadWitness: Sendable {
    /// The file, or nil for standard output (`-`, for a log shipper).
    public let path: String?

    public init(_ argument: String) { path = argument == "-" ? nil : argument }

    /// One line for `head` signed with `key`.
    static func line(_ head: SignedHead, signingKey: String) -> String {
        let object: [String: JSONValue] = [
            "ledger": .string(head.ledger), "position": .integer(head.position), "hash": .string(head.hash),
            "signed_at": .string(head.signedAt), "signature": .string(head.signature), "signing_key": .string(signingKey),
        ]
        return String(decoding: CanonicalJSON.encode(.object(object)), as: UTF8.self) + "\n"
    }

    /// Appends `head` and waits until it is on disk.
    public func append(_ head: SignedHead, signingKey: String) throws {
        let line = Array(Self.line(head, signingKey: signingKey).utf8)
        guard let path else {
            _ = line.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
            return
        }
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw WitnessError("cannot open the head witness \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let written = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == line.count, fsync(descriptor) == 0 else {
            throw WitnessError("cannot write the head witness \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// The last head the file holds (position and hash), if any.
    public func last() throws -> (position: Int64, hash: String)? {
        guard let path, FileManager.default.fileExists(atPath: path) else { return nil }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard let line = text.split(separator: "\n").last(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }) else { return nil }
        guard case .object(let object) = try? JSONParser.parse(String(line)), case .integer(let position)? = object["position"],
            case .string(let hash)? = object["hash"]
        else { throw WitnessError("the head witness \(path) ends with a line that is not a signed head") }
        return (position, hash.lowercased())
    }
}

public struct WitnessError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
