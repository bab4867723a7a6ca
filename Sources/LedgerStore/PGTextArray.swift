import RecoveryDomain

/// A PostgreSQL array literal in text format (`{"a","b",NULL}`), built as
/// bytes: how a batch's column of values goes as one parameter, for
/// `unnest($1::text[], …)`. Elements are quoted, with `"` and `\` escaped.
struct PGTextArray {
    private var bytes: [UInt8] = [UInt8(ascii: "{")]
    private var empty = true
    /// True once an element held a NUL, which no text parameter can carry.
    private(set) var containsNUL = false

    init(reservingBytes capacity: Int = 64) {
        bytes.reserveCapacity(capacity)
    }

    private mutating func separate() {
        if !empty { bytes.append(UInt8(ascii: ",")) }
        empty = false
    }

    mutating func append(_ value: (some Sequence<UInt8>)?) {
        separate()
        guard let value else {
            bytes.append(contentsOf: "NULL".utf8)
            return
        }
        bytes.append(UInt8(ascii: "\""))
        // Contiguous values (every String, every array) go in runs between
        // the bytes that need escaping, not byte by byte.
        if value.withContiguousStorageIfAvailable({ appendEscaped($0) }) == nil {
            for byte in value { appendEscaped(byte) }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendEscaped(_ buffer: UnsafeBufferPointer<UInt8>) {
        var run = 0
        for index in buffer.indices {
            let byte = buffer[index]
            guard byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == 0 else { continue }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[run..<index]))
            appendEscaped(byte)
            run = index + 1
        }
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[run...]))
    }

    private mutating func appendEscaped(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"):
            bytes.append(UInt8(ascii: "\\"))
            bytes.append(byte)
        case 0:
            containsNUL = true
        default:
            bytes.append(byte)
        }
    }

    mutating func append(_ value: String?) { append(value?.utf8) }

    mutating func append(_ value: some BinaryInteger) {
        separate()
        bytes.append(contentsOf: String(value).utf8)
    }

    mutating func append(_ value: (some BinaryInteger)?) {
        guard let value else { return append(nil as String?) }
        append(value)
    }

    /// A `bytea` element, in hex (`"\\x…"` once quoted).
    mutating func appendBytea(_ value: [UInt8]) {
        separate()
        bytes.append(contentsOf: #""\\x"#.utf8)
        Hex.append(value, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    var parameter: PGParameter { .textBytes(bytes + [UInt8(ascii: "}")]) }

    /// The literal as text.
    var literal: String { String(decoding: bytes + [UInt8(ascii: "}")], as: UTF8.self) }
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

    init(table: String, columns: [Column], key: [String] = [], rows: Int, reservingBytes: [Int: Int] = [:]) {
        self.table = table
        self.columns = columns
        self.key = key
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
            Self.sql(table: table, columns: columns, key: key), prepared: "recoveryd_write_\(table)",
            arrays.indices.map { arrays[$0].parameter() })
    }

    /// `INSERT INTO table (columns) SELECT … FROM unnest($1::type[], …)`, an
    /// upsert on `key` when given.
    static func sql(table: String, columns: [Column], key: [String] = []) -> String {
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
        }
        return sql
    }
}
