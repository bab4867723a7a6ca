import Crypto
import Foundation
import RecoveryWire

/// Checks signed heads on the auditor's side (docs/EVENTS.md, "Signed heads"): the Ed25519
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

    /// Nil when `head` is fresh — signed no more than `maxAge` before `now`,
    /// and not behind `position` (what `HELLO` said the log holds) — else why
    /// not. A stale head, or one behind the log, is what a server replaying an
    /// old signature would give.
    public static func freshnessProblem(_ head: Reply.Head, helloPosition position: Int64?, now: Date, maxAge: TimeInterval) -> String? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        guard let signed = formatter.date(from: head.signedAt) ?? ISO8601DateFormatter().date(from: head.signedAt) else {
            return "its signed_at \(head.signedAt) is not an RFC 3339 time"
        }
        let age = now.timeIntervalSince(signed)
        if age > maxAge {
            return "it was signed \(Int(age)) s ago (at \(head.signedAt)), more than the \(Int(maxAge)) s allowed (--max-age): a stale head"
        }
        if age < -300 { return "it was signed in the future (\(head.signedAt))" }
        if let position, head.position < position {
            return "it is at position \(head.position), behind the \(position) the server's HELLO reported: an old head"
        }
        return nil
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
