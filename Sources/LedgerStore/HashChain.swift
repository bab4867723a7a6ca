import RecoveryDomain
import Crypto
import Foundation

/// The ledger's hash chain (DESIGN.md §4, contract):
/// `hash(n) = SHA-256(hash(n-1) ‖ payload(n))`, `hash(0)` = 32 zero bytes.
public enum HashChain {
    public static let genesis = [UInt8](repeating: 0, count: 32)

    public static func next(after previous: [UInt8], payload: some DataProtocol) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: previous)
        hasher.update(data: payload)
        return Array(hasher.finalize())
    }

    public static func digest(_ bytes: some DataProtocol) -> [UInt8] { Array(SHA256.hash(data: bytes)) }
}

/// The end of the chain: the last position and its hash.
public struct ChainHead: Sendable, Equatable, CustomStringConvertible {
    public var position: Int64
    public var hash: [UInt8]

    public init(position: Int64, hash: [UInt8]) {
        self.position = position
        self.hash = hash
    }

    public static let empty = ChainHead(position: 0, hash: HashChain.genesis)

    public var description: String { "\(position):\(Hex.encode(hash))" }
}
