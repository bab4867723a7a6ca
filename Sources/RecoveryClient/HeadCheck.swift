import Crypto
import Foundation

/// Checks signed heads on the auditor's side (DESIGN.md §5): the Ed25519
/// signature over `recoveryd-head:v1:<ledger>:<position>:<hash>:<signed_at>`,
/// and, against a replay, that the log still has that hash at that position.
public enum HeadCheck {
    /// The exact bytes a head's signature covers.
    public static func message(_ head: Reply.Head) -> [UInt8] {
        Array("recoveryd-head:v1:\(head.ledger):\(head.position):\(head.hash):\(head.signedAt)".utf8)
    }

    /// Nil when `head` is signed by `key` (64 hex), else why not.
    public static func signatureProblem(_ head: Reply.Head, key: String) -> String? {
        guard let raw = ChainVerifier.bytes(hex: key), raw.count == 32,
            let publicKey = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
        else { return "the signing key \(key) is not 64 hex digits of an Ed25519 public key" }
        guard let signature = ChainVerifier.bytes(hex: head.signature), signature.count == 64 else {
            return "the signature is not 128 hex digits"
        }
        return publicKey.isValidSignature(signature, for: message(head)) ? nil : "the signature does not match (key \(key))"
    }

    /// Reads a heads file: one JSON head per line, as `recoveryctl head` writes them.
    public static func read(_ text: String) throws -> [Reply.Head] {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try text.split(separator: "\n").enumerated().compactMap { index, line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { return nil }
            do {
                return try decoder.decode(Reply.Head.self, from: Data(trimmed.utf8))
            } catch {
                throw ClientError("heads line \(index + 1) is not a signed head: \(error)")
            }
        }
    }

    /// One line for a heads file.
    public static func line(_ head: Reply.Head) throws -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(head), as: UTF8.self)
    }
}
