import Foundation
import RecoveryDomain
import RecoveryWire

/// Checks `APPEND` receipts against the chain hashes of a replay: every
/// receipt's position must be in the replay with the same hash.
///
/// The receipts file (docs/PROTOCOL.md, "Receipts") holds one receipt a
/// line: an `APPEND` answer as the server gave it (`OK {…}`), or its JSON
/// object, of which only `position` and `hash` are read; other members
/// (`duplicate`, `remaining`, …) may be there or not. Blank lines are skipped.
public enum ReceiptCheck {
    public struct Result: Sendable {
        /// Receipts read (lines that are not blank).
        public var checked = 0
        /// One line per receipt that does not match, naming its line.
        public var mismatches: [String] = []
        public var isClean: Bool { mismatches.isEmpty }
        public var matching: Int { checked - mismatches.count }
    }

    /// What a receipt line must say.
    struct Line: WireReply {
        var position: Int64
        var hash: String

        init(json: [String: JSONValue]) throws(WireError) {
            let fields = WireFields(json, "receipt")
            position = try fields.int64("position")
            hash = try fields.string("hash")
        }

        var json: [String: JSONValue] { ["position": .integer(position), "hash": .string(hash)] }
    }

    public static func check(_ text: String, against hashes: [Int64: String]) -> Result {
        var result = Result()
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !line.isEmpty else { continue }
            result.checked += 1
            let json = line.hasPrefix("OK ") ? String(line.dropFirst(3)) : line
            guard let receipt = try? Reply.decode(Line.self, from: json) else {
                result.mismatches.append("receipt line \(index + 1): not a receipt (a JSON object with \"position\" and \"hash\", or an APPEND answer)")
                continue
            }
            switch hashes[receipt.position] {
            case nil:
                result.mismatches.append("receipt line \(index + 1): position \(receipt.position) is not in the replay")
            case let hash? where hash != receipt.hash.lowercased():
                result.mismatches.append("receipt line \(index + 1): position \(receipt.position) has hash \(hash), the receipt says \(receipt.hash)")
            default:
                break
            }
        }
        return result
    }
}
