import Crypto
import Foundation
import RecoveryWire

/// Recomputes the ledger's hash chain on the client side (docs/EVENTS.md, "Canonical form and hash chain"):
/// `hash(n) = SHA-256(hash(n-1) ‖ payload(n))`, from the hash before the first
/// payload (32 zero bytes before position 1). It also checks that positions
/// follow each other without a gap.
public struct ChainVerifier: Sendable {
    public private(set) var hash: [UInt8]
    public private(set) var lastPosition: Int64?
    public private(set) var count: Int64 = 0

    public init(previousHash: [UInt8] = [UInt8](repeating: 0, count: 32), previousPosition: Int64? = nil) {
        hash = previousHash
        lastPosition = previousPosition
    }

    /// Adds the next payload; returns its position and chain hash.
    @discardableResult
    public mutating func add(_ payload: [UInt8]) throws -> (position: Int64, hash: [UInt8]) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
            let position = (object["position"] as? NSNumber)?.int64Value
        else { throw ClientError("a payload without a position") }
        if let lastPosition, position != lastPosition + 1 {
            throw ClientError("position \(position) follows \(lastPosition): the replay has a gap or is out of order")
        }
        var hasher = SHA256()
        hasher.update(data: hash)
        hasher.update(data: payload)
        hash = Array(hasher.finalize())
        lastPosition = position
        count += 1
        return (position, hash)
    }

    /// The hash before position 1: 32 zero bytes.
    public static let genesis = [UInt8](repeating: 0, count: 32)

    public static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    public static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        var index = 0
        while index < digits.count {
            guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(byte)
            index += 2
        }
        return out
    }
}
