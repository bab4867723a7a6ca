import RecoveryDomain

/// Membership filters of the `event_id`s in the log and the `case_id`s and
/// `customer_id`s in the projection tables, read with `COPY … TO STDOUT` (docs/ARCHITECTURE.md, "The writer": new ids skip
/// the writer's look-ups).
public struct KnownIdentifiers: Sendable {
    public var events: MembershipFilter
    public var cases: MembershipFilter
    /// The customers with a case: a complaint of anyone else is a first failure.
    public var customers: MembershipFilter

    /// Empty filters sized for a log of `position` events and its growth.
    public init(sizedFor position: Int64) {
        let capacity = Int(clamping: max(1_000_000, 2 * position))
        events = MembershipFilter(capacity: capacity)
        cases = MembershipFilter(capacity: capacity)
        customers = MembershipFilter(capacity: capacity)
    }

    /// Reads every `event_id` up to `position` and every `case_id` into
    /// filters sized for `position`.
    public static func load(connection: PGConnection, through position: Int64) throws -> KnownIdentifiers {
        var known = KnownIdentifiers(sizedFor: position)
        try connection.copyOut("COPY (SELECT event_id FROM events WHERE position <= \(position)) TO STDOUT") { row in
            // Each row is a UUID's text and a newline; the filter holds its 16 bytes.
            let text = UnsafeRawBufferPointer(rebasing: row.dropLast()).assumingMemoryBound(to: UInt8.self)
            guard let id = EventID(utf8: text) else {
                throw StoreError(.corrupt, "event_id \(String(decoding: text, as: UTF8.self)) read for the filter is not a UUID")
            }
            known.events.insert(id)
        }
        try connection.copyOut("COPY (SELECT case_id, customer_id FROM cases) TO STDOUT") { row in
            let fields = row.dropLast().split(separator: 0x09, maxSplits: 1, omittingEmptySubsequences: false)
            CopyText.unescaped(fields[0]).withUnsafeBytes { known.cases.insert($0) }
            if fields.count == 2 { CopyText.unescaped(fields[1]).withUnsafeBytes { known.customers.insert($0) } }
        }
        return known
    }

    public mutating func formUnion(_ other: KnownIdentifiers) {
        events.formUnion(other.events)
        cases.formUnion(other.cases)
        customers.formUnion(other.customers)
    }
}

extension CopyText {
    /// A COPY text-format field back to its bytes (the escapes ``appendEscaped(_:to:)`` writes, and `\\`).
    static func unescaped(_ field: some Collection<UInt8>) -> [UInt8] {
        guard field.contains(UInt8(ascii: "\\")) else { return Array(field) }
        var bytes: [UInt8] = []
        var escaped = false
        for byte in field {
            if escaped {
                switch byte {
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "r"): bytes.append(0x0D)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0C)
                case UInt8(ascii: "v"): bytes.append(0x0B)
                default: bytes.append(byte)
                }
                escaped = false
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
            } else {
                bytes.append(byte)
            }
        }
        return bytes
    }
}
