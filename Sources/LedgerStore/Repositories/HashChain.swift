import RecoveryDomain
import Crypto
import Foundation

/// The ledger's hash chain (docs/EVENTS.md, "Canonical form and hash chain"):
/// `hash(n) = SHA-256(hash(n-1) ‖ payload(n))`, `hash(0)` = 32 zero bytes.
public enum HashChain {
    public static let genesis = [UInt8](repeating: 0, count: 32)

    // Over contiguous bytes, not `DataProtocol`: the generic path looks up
    // type metadata at run time on every call, a tenth of an append's work.
    public static func next(after previous: [UInt8], payload: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        previous.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        payload.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        return hasher.finalize().withUnsafeBytes { Array($0) }
    }

    public static func digest(_ bytes: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        bytes.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        return hasher.finalize().withUnsafeBytes { Array($0) }
    }
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
