/// Whether a host name or address stays on this machine: `localhost`, any
/// 127.0.0.0/8 address, `::1` (or its long and IPv4-mapped forms). Anything
/// else, the wildcard addresses `0.0.0.0` and `::` included, reaches a network.
/// Used to warn when a token would cross a network in clear.
public enum Loopback {
    public static func contains(host: String) -> Bool {
        var text = host.lowercased()
        if text.hasPrefix("[") && text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        if text == "localhost" || text.hasSuffix(".localhost") { return true }
        if text.hasPrefix("::ffff:") { text = String(text.dropFirst(7)) }
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        if octets.count == 4, octets.allSatisfy({ UInt8($0) != nil }) { return octets[0] == "127" }
        let groups = text.split(separator: ":", omittingEmptySubsequences: false)
        guard text.contains(":"), groups.count <= 8, groups.allSatisfy({ $0.count <= 4 && $0.allSatisfy(\.isHexDigit) }) else {
            return false
        }
        // ::1 in any spelling: every group zero but the last, which is 1.
        guard let last = groups.last, UInt16(last, radix: 16) == 1 else { return false }
        return groups.dropLast().allSatisfy { $0.isEmpty || UInt16($0, radix: 16) == 0 }
    }
}
