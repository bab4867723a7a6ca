import Foundation
import LedgerStore
import Logging
import RecoveryDomain
import Synchronization

/// Signs the writer's head and keeps every signature: in `signed_heads`, in
/// the head witness if there is one (``HeadWitness``), and in the log. A head
/// is signed once per position: asked again for the same position within
/// ``freshFor``, it answers the head it signed, so a client calling `HEAD`
/// in a loop adds no rows (and an idle ledger's head is at most that old).
final class HeadNotary: Sendable {
    let signer: HeadSigner
    let witness: HeadWitness?
    private let cached = Mutex<(head: SignedHead, at: ContinuousClock.Instant)?>(nil)
    static let freshFor = Duration.seconds(60)

    init(signer: HeadSigner, witness: HeadWitness?) {
        self.signer = signer
        self.witness = witness
    }

    /// The position last signed (nil before the first).
    var lastSigned: Int64? { cached.withLock { $0?.head.position } }

    /// A signed head of `head`: the cached one if it is of this position and
    /// fresh, else a new one, kept before it is returned.
    func sign(_ head: ChainHead, on connection: PGConnection, logger: Logger) throws -> SignedHead {
        if let fresh = cached.withLock({ cached -> SignedHead? in
            guard let cached, cached.head.position == head.position, ContinuousClock.now - cached.at < Self.freshFor else { return nil }
            return cached.head
        }) {
            return fresh
        }
        let signed = try signer.sign(head, at: Timestamp(Date()))
        try SignedHeads(connection: connection).insert(signed, signingKey: signer.publicKey)
        do {
            try witness?.append(signed, signingKey: signer.publicKeyHex)
        } catch {
            // The head is kept in the table and the log; the witness's owner must know.
            logger.error("could not write the head witness", metadata: ["error": "\(error)"])
        }
        logger.info(
            "signed head",
            metadata: ["position": "\(signed.position)", "hash": "\(signed.hash)", "signed_at": "\(signed.signedAt)", "signature": "\(signed.signature)"])
        cached.withLock { $0 = (signed, ContinuousClock.now) }
        return signed
    }

    /// Whether the log still holds the daemon's own last signed heads — the
    /// newest in `signed_heads` and the last in the witness — at their
    /// positions with their hashes; nil if it does, else why not. A log that
    /// no longer extends a head it signed was rewritten (or restored from
    /// before it): the daemon then takes no appends.
    static func check(connection: PGConnection, witness: HeadWitness?) throws -> (position: Int64, reason: String)? {
        let reader = EventReader(connection: connection)
        var heads: [(what: String, position: Int64, hash: String)] = []
        let stored = try connection.query("SELECT position, hash FROM signed_heads ORDER BY position DESC LIMIT 1")
        if stored.rowCount == 1, let position = stored.int64(0, 0), let hash = try stored.bytea(0, 1) {
            heads.append(("the newest head in signed_heads", position, Hex.encode(hash)))
        }
        if let witness, let last = try witness.last() {
            heads.append(("the last head in the witness \(witness.path ?? "-")", last.position, last.hash))
        }
        for head in heads {
            guard let hash = try reader.hash(at: head.position) else {
                return (
                    head.position,
                    "the log ends at \(try reader.head().position), before \(head.what) (position \(head.position)): signed history was removed"
                )
            }
            if Hex.encode(hash) != head.hash {
                return (
                    head.position,
                    "the log's hash at position \(head.position) is \(Hex.encode(hash)), but \(head.what) signed \(head.hash): history was rewritten"
                )
            }
        }
        return nil
    }
}
