import RecoveryDomain

/// A one-dimensional PostgreSQL array in the binary format `array_recv`
/// reads: how a batch's column of rows goes as one parameter, with no
/// quoting, escaping or hex for the server to undo. Every number is
/// big-endian: the header (dimensions 1, a has-nulls flag, the element's
/// type OID, the length and lower bound 1), then each element as its byte
/// length (−1 for NULL) and its bytes in that type's binary form.
struct PGBinaryArray {
    /// The element types the ledger's columns use (`pg_type.oid`), by the
    /// name a column is declared with.
    enum Element: UInt32 {
        case bool = 16
        case bytea = 17
        case int8 = 20
        case int2 = 21
        case int4 = 23
        case text = 25
        case date = 1082
        case timestamptz = 1184
        case uuid = 2950

        init(declared name: String) {
            switch name {
            case "boolean": self = .bool
            case "bytea": self = .bytea
            case "bigint": self = .int8
            case "smallint": self = .int2
            case "integer": self = .int4
            case "text": self = .text
            case "date": self = .date
            case "timestamptz": self = .timestamptz
            case "uuid": self = .uuid
            default: preconditionFailure("no binary form for column type \(name)")
            }
        }
    }

    let element: Element
    private var bytes: [UInt8] = []
    private var count: Int32 = 0
    private var hasNull = false
    /// True once a text element held a NUL, which PostgreSQL's text refuses.
    private(set) var containsNUL = false
    /// True once an integer did not fit its column (it went as NULL; the batch must not be sent).
    private(set) var outOfRange = false

    init(_ element: Element, reservingBytes capacity: Int = 64) {
        self.element = element
        bytes.reserveCapacity(20 + capacity)
        for word in [1, 0, element.rawValue, 0, 1] as [UInt32] { appendBigEndian(word) }
    }

    private mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func appendNull() {
        appendBigEndian(Int32(-1))
        count += 1
        hasNull = true
    }

    /// A `text` or `bytea` element: the bytes as they are.
    mutating func append(_ value: UnsafeBufferPointer<UInt8>, text: Bool) {
        if text, value.contains(0) { containsNUL = true }
        appendBigEndian(Int32(value.count))
        bytes.append(contentsOf: value)
        count += 1
    }

    mutating func append(_ value: [UInt8], text: Bool) {
        value.withUnsafeBufferPointer { append($0, text: text) }
    }

    mutating func append(_ value: String?) {
        guard var value else { return appendNull() }
        value.withUTF8 { append($0, text: true) }
    }

    /// An integer in the width of the column's type (`smallint`, `integer`, `bigint`).
    mutating func append(_ value: (some BinaryInteger)?) {
        guard let value else { return appendNull() }
        switch element {
        case .int2:
            guard let narrow = Int16(exactly: value) else { return refuse() }
            appendBigEndian(Int32(2))
            appendBigEndian(narrow)
        case .int4:
            guard let narrow = Int32(exactly: value) else { return refuse() }
            appendBigEndian(Int32(4))
            appendBigEndian(narrow)
        case .int8:
            guard let wide = Int64(exactly: value) else { return refuse() }
            appendBigEndian(Int32(8))
            appendBigEndian(wide)
        default:
            preconditionFailure("an integer for a \(element) column")
        }
        count += 1
    }

    private mutating func refuse() {
        outOfRange = true
        appendNull()
    }

    mutating func append(_ value: Bool?) {
        guard let value else { return appendNull() }
        appendBigEndian(Int32(1))
        bytes.append(value ? 1 : 0)
        count += 1
    }

    /// A `timestamptz` element: microseconds since 2000-01-01 00:00:00 UTC.
    mutating func append(_ value: Timestamp?) {
        guard let value else { return appendNull() }
        appendBigEndian(Int32(8))
        appendBigEndian(value.microseconds - Self.microsecondsFrom1970To2000)
        count += 1
    }

    /// A `date` element: days since 2000-01-01.
    mutating func append(_ value: BusinessDay?) {
        guard let value else { return appendNull() }
        guard let days = Int32(exactly: value.daysSinceEpoch - Self.daysFrom1970To2000) else { return refuse() }
        appendBigEndian(Int32(4))
        appendBigEndian(days)
        count += 1
    }

    /// PostgreSQL's epoch (2000-01-01) since 1970-01-01.
    static let daysFrom1970To2000: Int64 = 10_957
    static let microsecondsFrom1970To2000: Int64 = daysFrom1970To2000 * 86_400_000_000

    /// A `uuid` element: the 16 bytes the 32 hex digits of `id` spell.
    mutating func append(_ id: EventID) {
        appendBigEndian(Int32(16))
        var high: UInt8?
        for byte in id.text.utf8 where byte != UInt8(ascii: "-") {
            let nibble = byte <= UInt8(ascii: "9") ? byte - UInt8(ascii: "0") : (byte | 0x20) - UInt8(ascii: "a") + 10
            if let first = high {
                bytes.append(first << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        count += 1
    }

    /// The array as a binary parameter, once its element count and has-nulls
    /// flag are written into the header (in place: nothing is copied).
    mutating func parameter() -> PGParameter {
        let (flag, length) = (UInt32(hasNull ? 1 : 0).bigEndian, count.bigEndian)
        bytes.withUnsafeMutableBytes { header in
            header.storeBytes(of: flag, toByteOffset: 4, as: UInt32.self)
            header.storeBytes(of: length, toByteOffset: 12, as: Int32.self)
        }
        return .bytes(bytes)
    }
}

/// Columns of rows as binary array parameters, and the `INSERT … SELECT …
/// FROM unnest(…)` statement that writes them (an upsert when `key` is given).
struct PGColumns {
    struct Column: Sendable {
        var name: String
        var type: String
        /// The value written, from the unnested element's name, when it is not the element itself.
        var expression: (@Sendable (String) -> String)?

        init(_ name: String, _ type: String, _ expression: (@Sendable (String) -> String)? = nil) {
            self.name = name
            self.type = type
            self.expression = expression
        }
    }

    let table: String
    let columns: [Column]
    let key: [String]
    /// One binary array per column, of the column's type.
    var arrays: [PGBinaryArray]
    private(set) var rows = 0

    /// An upsert leaves a row whose values are unchanged alone (no new row version).
    let onlyWhenChanged: Bool

    init(
        table: String, columns: [Column], key: [String] = [], rows: Int, reservingBytes: [Int: Int] = [:],
        onlyWhenChanged: Bool = false
    ) {
        self.table = table
        self.columns = columns
        self.key = key
        self.onlyWhenChanged = onlyWhenChanged
        arrays = columns.indices.map {
            PGBinaryArray(.init(declared: columns[$0].type), reservingBytes: reservingBytes[$0] ?? rows * 16)
        }
    }

    mutating func endRow() { rows += 1 }

    /// Why the rows cannot be sent (SQLSTATE and message), if a value cannot be.
    var invalid: (sqlState: String, message: String)? {
        if arrays.contains(where: \.containsNUL) { return ("22021", "a value for \(table) holds a NUL character") }
        if arrays.contains(where: \.outOfRange) { return ("22003", "a value for \(table) is out of its column's range") }
        return nil
    }

    /// The insert (or upsert), its columns as binary array parameters.
    mutating func statement() -> PGStatement {
        PGStatement(
            Self.sql(table: table, columns: columns, key: key, onlyWhenChanged: onlyWhenChanged), prepared: "recoveryd_write_\(table)",
            arrays.indices.map { arrays[$0].parameter() })
    }

    /// `INSERT INTO table (columns) SELECT … FROM unnest($1::type[], …)`, an
    /// upsert on `key` when given (which skips unchanged rows with `onlyWhenChanged`).
    static func sql(table: String, columns: [Column], key: [String] = [], onlyWhenChanged: Bool = false) -> String {
        let names = columns.map(\.name).joined(separator: ", ")
        let types = columns.enumerated().map { "$\($0.offset + 1)::\($0.element.type)[]" }.joined(separator: ", ")
        let aliases = columns.indices.map { "v\($0)" }
        let values = zip(columns, aliases).map { column, alias in
            column.expression?(alias) ?? alias
        }.joined(separator: ", ")
        var sql = "INSERT INTO \(table) (\(names)) SELECT \(values) FROM unnest(\(types)) AS t(\(aliases.joined(separator: ", ")))"
        if !key.isEmpty {
            let updates = columns.filter { !key.contains($0.name) }.map { "\($0.name) = EXCLUDED.\($0.name)" }
            sql += " ON CONFLICT (\(key.joined(separator: ", "))) DO UPDATE SET \(updates.joined(separator: ", "))"
            if onlyWhenChanged {
                let others = columns.filter { !key.contains($0.name) }.map(\.name)
                sql += " WHERE (\(others.map { "\(table).\($0)" }.joined(separator: ", "))) IS DISTINCT FROM (\(others.map { "EXCLUDED.\($0)" }.joined(separator: ", ")))"
            }
        }
        return sql
    }
}
