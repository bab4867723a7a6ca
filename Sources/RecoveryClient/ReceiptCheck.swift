import Foundation

/// Checks `APPEND` receipts against the chain hashes of a replay: every
/// receipt's position must be in the replay with the same hash.
public enum ReceiptCheck {
    public struct Result: Sendable {
        public var checked = 0
        /// One line per receipt that does not match, naming its line.
        public var mismatches: [String] = []
        public var isClean: Bool { mismatches.isEmpty }
    }

    /// `text` holds one receipt per line: the `OK {…}` answer or its JSON.
    public static func check(_ text: String, against hashes: [Int64: String]) -> Result {
        var result = Result()
        for (index, line) in text.split(separator: "\n").enumerated() {
            let json = line.hasPrefix("OK ") ? String(line.dropFirst(3)) : String(line)
            guard let receipt = try? Reply.decode(Reply.Receipt.self, from: json) else {
                result.mismatches.append("receipt line \(index + 1): not a receipt")
                continue
            }
            result.checked += 1
            switch hashes[receipt.position] {
            case nil:
                result.mismatches.append("receipt line \(index + 1): position \(receipt.position) is not in the replay")
            case let hash? where hash != receipt.hash:
                result.mismatches.append("receipt line \(index + 1): position \(receipt.position) has hash \(hash), the receipt says \(receipt.hash)")
            default:
                break
            }
        }
        return result
    }
}
