import RecoveryDomain

/// The `signed_heads` table (schema 0006): the heads the daemon signed.
public struct SignedHeads {
    public let connection: PGConnection

    public init(connection: PGConnection) { self.connection = connection }

    /// Keeps `head`, signed with `signingKey` (a second copy is ignored).
    /// Its commit waits for the local disk only, never for a synchronous
    /// standby: a missing standby must not hold up `HEAD` or a shutdown, and
    /// the head is logged as well.
    public func insert(_ head: SignedHead, signingKey: [UInt8]) throws {
        guard let hash = Hex.decode(head.hash), let signature = Hex.decode(head.signature) else {
            throw StoreError(.corrupt, "a signed head with malformed hex")
        }
        try connection.execute("BEGIN; SET LOCAL synchronous_commit TO local")
        do {
            try insertRow(head, hash: hash, signature: signature, signingKey: signingKey)
            try connection.execute("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }

    private func insertRow(_ head: SignedHead, hash: [UInt8], signature: [UInt8], signingKey: [UInt8]) throws {
        try connection.query(
            """
            INSERT INTO signed_heads (position, hash, ledger, signed_at, signing_key, signature)
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING
            """,
            [.int(head.position), .bytes(hash), .text(head.ledger), .text(head.signedAt), .bytes(signingKey), .bytes(signature)])
    }

    /// Every kept head, oldest first (with the key that signed it, in hex).
    public func all() throws -> [(head: SignedHead, signingKey: String)] {
        let rows = try connection.query(
            "SELECT position, hash, ledger, signed_at, signing_key, signature FROM signed_heads ORDER BY position, signed_at")
        return try (0..<rows.rowCount).map { row in
            guard let position = rows.int64(row, 0), let hash = try rows.bytea(row, 1), let ledger = rows.string(row, 2),
                let signedAt = rows.string(row, 3), let key = try rows.bytea(row, 4), let signature = try rows.bytea(row, 5)
            else { throw StoreError(.corrupt, "unreadable signed_heads row") }
            return (
                SignedHead(ledger: ledger, position: position, hash: Hex.encode(hash), signedAt: signedAt, signature: Hex.encode(signature)),
                Hex.encode(key)
            )
        }
    }
}
