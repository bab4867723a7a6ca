/// A head of the chain signed by the daemon (docs/EVENTS.md, "Signed heads",
/// contract): the bytes signed with Ed25519 are the ASCII text
/// `recoveryd-head:v1:<ledger>:<position>:<hash hex>:<signed_at>`.
/// The signing itself is the server's, and checking it the client's; both
/// build the text here.
public struct SignedHead: Sendable, Equatable {
    public var ledger: String
    public var position: Int64
    /// The chain hash at ``position``, 64 lowercase hex digits.
    public var hash: String
    /// RFC 3339 in UTC, as written in the answer.
    public var signedAt: String
    /// 128 hex digits.
    public var signature: String

    public init(ledger: String, position: Int64, hash: String, signedAt: String, signature: String) {
        self.ledger = ledger
        self.position = position
        self.hash = hash
        self.signedAt = signedAt
        self.signature = signature
    }

    /// The exact bytes signed.
    public static func message(ledger: String, position: Int64, hash: String, signedAt: String) -> [UInt8] {
        Array("recoveryd-head:v1:\(ledger):\(position):\(hash):\(signedAt)".utf8)
    }

    public var message: [UInt8] { Self.message(ledger: ledger, position: position, hash: hash, signedAt: signedAt) }

    /// True for a ledger name the signed text can carry unambiguously:
    /// 1–64 of `A–Z a–z 0–9 . _ -` (no colon).
    public static func isValidLedgerName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                    true
                default: false
                }
            }
    }
}
