import Crypto
import Foundation
import LedgerStore
import RecoveryDomain

/// The daemon's Ed25519 key and the heads it signs (docs/OPERATIONS.md, "The head-signing key"). The key
/// file holds the raw 32-byte private key in hex on one line, mode 0600:
/// `<data-dir>/signing.key`, made on first start, or `--signing-key FILE`.
public struct HeadSigner: Sendable {
    public let ledger: String
    private let key: Curve25519.Signing.PrivateKey

    public init(ledger: String, key: Curve25519.Signing.PrivateKey) {
        precondition(SignedHead.isValidLedgerName(ledger), "a ledger name is 1–64 of A–Z a–z 0–9 . _ -")
        self.ledger = ledger
        self.key = key
    }

    /// The public key, 64 hex digits: what `HELLO` and `recoveryd key show` give.
    public var publicKeyHex: String { Hex.encode(Array(key.publicKey.rawRepresentation)) }
    public var publicKey: [UInt8] { Array(key.publicKey.rawRepresentation) }

    public func sign(_ head: ChainHead, at time: Timestamp) throws -> SignedHead {
        let hash = Hex.encode(head.hash)
        let signedAt = time.description
        let message = SignedHead.message(ledger: ledger, position: head.position, hash: hash, signedAt: signedAt)
        let signature = try key.signature(for: message)
        return SignedHead(ledger: ledger, position: head.position, hash: hash, signedAt: signedAt, signature: Hex.encode(Array(signature)))
    }

    /// Reads the key in `url`; when `create` and the file does not exist,
    /// makes a new key there, created 0600 with `O_EXCL` (never readable by
    /// others, not even for a moment). Refuses a key file others may read.
    public static func loadKey(from url: URL, create: Bool) throws -> Curve25519.Signing.PrivateKey {
        if !FileManager.default.fileExists(atPath: url.path) {
            guard create else { throw SigningKeyError("the signing key \(url.path) does not exist") }
            let key = Curve25519.Signing.PrivateKey()
            do {
                try SecretFile.create(url, contents: Hex.encode(Array(key.rawRepresentation)) + "\n")
            } catch {
                throw SigningKeyError("cannot create the signing key: \(error)")
            }
            return key
        }
        var status = stat()
        guard stat(url.path, &status) == 0 else { throw SigningKeyError("cannot read \(url.path): \(String(cString: strerror(errno)))") }
        if status.st_mode & 0o077 != 0 {
            throw SigningKeyError(
                "the signing key \(url.path) may be read by others (mode \(String(status.st_mode & 0o777, radix: 8))); run `chmod 600 \(url.path)`")
        }
        let text = try String(contentsOf: url, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let raw = Hex.decode(text), raw.count == 32, let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) else {
            throw SigningKeyError("\(url.path) does not hold a signing key (64 hex digits: the raw Ed25519 private key)")
        }
        return key
    }
}

public struct SigningKeyError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
