/// A Bloom filter over identifiers: "certainly not seen" or "maybe seen".
/// The writer keeps one for `event_id`s and one for `case_id`s, so that a new
/// id — nearly every append — needs no look-up in PostgreSQL. A false
/// positive only costs that look-up; there are no false negatives for what
/// was inserted.
public struct MembershipFilter: Sendable {
    private var words: [UInt64]
    private let mask: UInt64
    /// Bits set per identifier.
    public static let probes = 7

    /// Room for about `capacity` identifiers at a false-positive rate near 1%
    /// (about 10 bits per identifier, rounded up to a power of two).
    public init(capacity: Int) {
        var bits = 1 << 16
        while bits < max(1, capacity) * 10 { bits <<= 1 }
        words = Array(repeating: 0, count: bits / 64)
        mask = UInt64(bits - 1)
    }

    /// The memory it holds, in bytes.
    public var byteCount: Int { words.count * 8 }

    public mutating func insert(_ identifier: String) {
        var text = identifier
        text.withUTF8 { insert(UnsafeRawBufferPointer($0)) }
    }

    public func mightContain(_ identifier: String) -> Bool {
        var text = identifier
        return text.withUTF8 { mightContain(UnsafeRawBufferPointer($0)) }
    }

    /// An event's id, by its 16 bytes (no text to write out): a filter of
    /// event ids holds them only this way.
    public mutating func insert(_ id: EventID) {
        id.withBits { insert($0) }
    }

    public func mightContain(_ id: EventID) -> Bool {
        id.withBits { mightContain($0) }
    }

    public mutating func insert(_ identifier: UnsafeRawBufferPointer) {
        var (h1, h2) = Self.hashes(identifier)
        for _ in 0..<Self.probes {
            let bit = h1 & mask
            words[Int(bit >> 6)] |= 1 << (bit & 63)
            h1 &+= h2
        }
    }

    public func mightContain(_ identifier: UnsafeRawBufferPointer) -> Bool {
        var (h1, h2) = Self.hashes(identifier)
        for _ in 0..<Self.probes {
            let bit = h1 & mask
            if words[Int(bit >> 6)] & (1 << (bit & 63)) == 0 { return false }
            h1 &+= h2
        }
        return true
    }

    /// Adds everything `other` holds; both must have been made with the same capacity.
    public mutating func formUnion(_ other: MembershipFilter) {
        precondition(other.words.count == words.count, "filters of one size")
        for index in words.indices { words[index] |= other.words[index] }
    }

    /// Two independent 64-bit hashes (FNV-1a, then two different finalisers),
    /// for double hashing: probe i is h1 + i·h2.
    private static func hashes(_ bytes: UnsafeRawBufferPointer) -> (UInt64, UInt64) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return (mix(hash), mix(hash ^ 0x9e37_79b9_7f4a_7c15) | 1)
    }

    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
