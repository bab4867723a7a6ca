import RecoveryDomain

/// A range of the log read by one query, as the reader wants it: `COPY (SELECT
/// position, payload, hash …) TO STDOUT` in binary, pulled a page at a time.
/// PostgreSQL runs the query once and streams ahead into the socket's buffers,
/// so there is no query per page and reading overlaps whatever the caller does
/// with the page before. Memory is one page. What the query sees is the log as
/// it was when the stream opened (one snapshot), which is what `REPLAY`'s window
/// and a rebuild under the writer's lock want.
///
/// Used by one thread at a time, like its ``PGConnection``. A stream closed
/// before its end leaves the connection in the middle of a `COPY`: drop it
/// (``PGConnection/abandon()``) rather than reuse it; one that ran to its end
/// (``isFinished``) leaves the connection as it found it.
public final class LogStream {
    public let connection: PGConnection
    /// The position the next row is expected at: `from`, then one past the last row read.
    public private(set) var next: Int64
    /// True once the copy has ended and the connection is free for other statements.
    public private(set) var isFinished = false
    private let through: Int64?
    private var sawHeader = false
    private var waiting: [StoredEvent] = []

    /// Starts the query over `from…through` (`nil`: to the end as it is now).
    public init(connection: PGConnection, from: Int64, through: Int64?) throws(StoreError) {
        self.connection = connection
        next = max(from, 1)
        self.through = through
        let upper = through.map { " AND position <= \($0)" } ?? ""
        // The range is read in index order however much of the table it
        // covers: a sort of millions of rows would hold the first row back
        // until the last was read.
        try connection.execute("SET enable_sort = off")
        try connection.beginCopyOut(
            "COPY (SELECT position, payload, hash FROM events WHERE position >= \(next)\(upper) ORDER BY position) TO STDOUT (FORMAT binary)")
    }

    /// Up to `limit` events, in position order; fewer only at the end of the range.
    public func read(limit: Int) throws -> [StoredEvent] {
        precondition(limit > 0, "a page holds at least one event")
        var events = waiting
        waiting = []
        events.reserveCapacity(limit)
        while events.count < limit, !isFinished {
            guard let more = try connection.nextCopyRow({ try self.parse($0) }) else {
                try finish()
                break
            }
            events.append(contentsOf: more)
        }
        if events.count > limit {
            waiting = Array(events[limit...])
            events.removeSubrange(limit...)
        }
        if let last = events.last { next = last.position + 1 }
        // The range's last row read: take the end of the copy now, so the
        // connection is free as soon as the reader has its last page.
        if !isFinished, waiting.isEmpty, let through, next > through {
            while let more = try connection.nextCopyRow({ try self.parse($0) }) { waiting.append(contentsOf: more) }
            try finish()
        }
        return events
    }

    private func finish() throws(StoreError) {
        isFinished = true
        try connection.execute("RESET enable_sort")
    }

    /// Calls `body` with every event of the range, in order, a page in memory at a time.
    public func forEach(pageSize: Int = EventReader.defaultPageSize, _ body: (StoredEvent) throws -> Void) throws {
        while !isFinished || !waiting.isEmpty {
            for event in try read(limit: pageSize) { try body(event) }
        }
    }

    // MARK: The binary copy format

    /// PostgreSQL's binary `COPY` signature (docs: "COPY", "Binary Format").
    private static let signature: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00]

    /// The rows of one copy message: the file header comes before the first
    /// row, and the trailer (a field count of −1) ends the data.
    private func parse(_ bytes: UnsafeRawBufferPointer) throws(StoreError) -> [StoredEvent] {
        var cursor = BinaryCursor(bytes)
        if !sawHeader {
            guard cursor.take(Self.signature.count).map({ $0.elementsEqual(Self.signature) }) == true,
                cursor.int32() != nil, let extensionLength = cursor.int32(), extensionLength >= 0,
                cursor.take(Int(extensionLength)) != nil
            else { throw StoreError(.corrupt, "the log's COPY did not start with PostgreSQL's binary header") }
            sawHeader = true
        }
        var events: [StoredEvent] = []
        while !cursor.isAtEnd {
            guard let fields = cursor.int16() else { throw Self.unreadable(next) }
            if fields == -1 { break }
            guard fields == 3, cursor.int32() == 8, let position = cursor.int64(),
                let payload = cursor.field(), let hash = cursor.field()
            else { throw Self.unreadable(next) }
            events.append(StoredEvent(position: position, payload: Array(payload), hash: Array(hash)))
        }
        return events
    }

    private static func unreadable(_ position: Int64) -> StoreError {
        StoreError(.corrupt, "unreadable events row in the log's COPY at or after position \(position)")
    }
}

/// Big-endian reads from the front of a buffer; each returns nil past its end.
private struct BinaryCursor {
    private let bytes: UnsafeRawBufferPointer
    private var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var isAtEnd: Bool { offset >= bytes.count }

    mutating func take(_ count: Int) -> UnsafeRawBufferPointer? {
        guard count >= 0, bytes.count - offset >= count else { return nil }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count])
    }

    mutating func int16() -> Int16? { take(2).map { Int16(bitPattern: UInt16($0[0]) << 8 | UInt16($0[1])) } }

    mutating func int32() -> Int32? {
        take(4).map { raw in Int32(bitPattern: raw.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }) }
    }

    mutating func int64() -> Int64? {
        take(8).map { raw in Int64(bitPattern: raw.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }) }
    }

    /// A non-null field: its 32-bit length, then its bytes.
    mutating func field() -> UnsafeRawBufferPointer? {
        guard let length = int32(), length >= 0 else { return nil }
        return take(Int(length))
    }
}
