/// A strict, bounded JSON parser (RFC 8259) over UTF-8 bytes.
///
/// Stricter than the RFC where the ledger needs it: integers must fit in 64
/// bits (a number with a fraction or an exponent is kept apart as
/// ``JSONValue/fraction(_:)``, for the fields to refuse), duplicate keys are refused, and nesting is limited to
/// ``maximumDepth``.
public struct JSONParser {
    /// Deepest nesting of arrays and objects accepted.
    public static let maximumDepth = 16

    /// Why a text is not acceptable JSON.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public var offset: Int
        public var reason: String
        public var description: String { "\(reason) at byte \(offset)" }
    }

    private let bytes: [UInt8]
    private var index = 0

    private init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Parses one JSON value that must make up the whole text (surrounding
    /// whitespace allowed).
    public static func parse(_ bytes: [UInt8]) throws(Failure) -> JSONValue {
        var parser = JSONParser(bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.index == parser.bytes.count else { throw parser.failure("unexpected text after the JSON value") }
        return value
    }

    public static func parse(_ text: String) throws(Failure) -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// Parses a text that must be one JSON object into an event's fields:
    /// a slot per key an event can have, without building a dictionary (what
    /// every `APPEND` and every replayed payload goes through). Other keys are
    /// kept apart for the reader to refuse. Nil when the text is valid JSON
    /// but not an object; the value is then parsed by ``parse(_:)``.
    static func parseEventFields(_ bytes: [UInt8]) throws(Failure) -> EventFields? {
        var parser = JSONParser(bytes)
        parser.skipWhitespace()
        guard parser.index < bytes.count, bytes[parser.index] == UInt8(ascii: "{") else {
            _ = try parse(bytes)  // the right failure, or not an object
            return nil
        }
        var fields = EventFields(bytes)
        parser.index += 1
        parser.skipWhitespace()
        if parser.index < bytes.count, bytes[parser.index] == UInt8(ascii: "}") {
            parser.index += 1
        } else {
            while true {
                parser.skipWhitespace()
                guard parser.index < bytes.count, bytes[parser.index] == UInt8(ascii: "\"") else {
                    throw parser.failure("expected a string key")
                }
                let keyOffset = parser.index
                // A key an event can have is matched on its bytes; any other
                // (or one written with escapes) is read as a string.
                let known = parser.knownKey()
                let key = known == nil ? try parser.parseString() : nil
                parser.skipWhitespace()
                guard parser.index < bytes.count, bytes[parser.index] == UInt8(ascii: ":") else { throw parser.failure("expected ':'") }
                parser.index += 1
                parser.skipWhitespace()
                let isNew: Bool
                if let known {
                    // A known key's string stays where it is in the input.
                    if parser.index < bytes.count, bytes[parser.index] == UInt8(ascii: "\"") {
                        let (range, escaped) = try parser.scanString()
                        isNew = fields.set(.string(range, escaped: escaped), for: known)
                    } else {
                        isNew = fields.set(.value(try parser.parseValue(depth: 1)), for: known)
                    }
                } else {
                    isNew = fields.set(try parser.parseValue(depth: 1), for: key!)
                }
                guard isNew else {
                    throw Failure(offset: keyOffset, reason: "duplicate key \"\(known?.text ?? key!)\"")
                }
                parser.skipWhitespace()
                guard parser.index < bytes.count else { throw parser.failure("unexpected end of JSON") }
                if bytes[parser.index] == UInt8(ascii: ",") {
                    parser.index += 1
                    continue
                }
                if bytes[parser.index] == UInt8(ascii: "}") {
                    parser.index += 1
                    break
                }
                throw parser.failure("expected ',' or '}'")
            }
        }
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.failure("unexpected text after the JSON value") }
        return fields
    }

    private func failure(_ reason: String) -> Failure { Failure(offset: index, reason: reason) }

    /// At a key's opening quote: the event key its bytes spell, consumed with
    /// both quotes, if it is one and holds no escape; else nil, nothing consumed.
    private mutating func knownKey() -> CanonicalEvent.Key? {
        let start = index + 1
        var end = start
        while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\") { end += 1 }
        guard end < bytes.count, bytes[end] == UInt8(ascii: "\"") else { return nil }
        let key = bytes.withUnsafeBufferPointer { CanonicalEvent.Key(utf8: UnsafeBufferPointer(rebasing: $0[start..<end])) }
        if key != nil { index = end + 1 }
        return key
    }

    private mutating func skipWhitespace() {
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
    }

    private mutating func parseValue(depth: Int) throws(Failure) -> JSONValue {
        guard index < bytes.count else { throw failure("unexpected end of JSON") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw failure("unexpected character")
        }
    }

    private mutating func expectLiteral(_ literal: String) throws(Failure) {
        let expected = Array(literal.utf8)
        guard index + expected.count <= bytes.count, bytes[index..<index + expected.count].elementsEqual(expected) else {
            throw failure("invalid literal")
        }
        index += expected.count
    }

    private mutating func parseObject(depth: Int) throws(Failure) -> JSONValue {
        guard depth <= Self.maximumDepth else { throw failure("JSON nested deeper than \(Self.maximumDepth)") }
        index += 1
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw failure("expected a string key") }
            let keyOffset = index
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw failure("expected ':'") }
            index += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            guard members.updateValue(value, forKey: key) == nil else {
                throw Failure(offset: keyOffset, reason: "duplicate key \"\(key)\"")
            }
            skipWhitespace()
            guard index < bytes.count else { throw failure("unexpected end of JSON") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
            throw failure("expected ',' or '}'")
        }
    }

    private mutating func parseArray(depth: Int) throws(Failure) -> JSONValue {
        guard depth <= Self.maximumDepth else { throw failure("JSON nested deeper than \(Self.maximumDepth)") }
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            guard index < bytes.count else { throw failure("unexpected end of JSON") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
            throw failure("expected ',' or ']'")
        }
    }

    private mutating func parseNumber() throws(Failure) -> JSONValue {
        let start = index
        var negative = false
        if bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        let digitsStart = index
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        guard index > digitsStart else { throw failure("expected a digit") }
        if bytes[digitsStart] == UInt8(ascii: "0"), index - digitsStart > 1 {
            throw Failure(offset: start, reason: "leading zeros are not allowed")
        }
        if index < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[index]) {
            return .fraction(try parseFractionRest(from: start))
        }
        // Accumulate negatively so that Int64.min parses.
        var value: Int64 = 0
        for byte in bytes[digitsStart..<index] {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = times10.subtractingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { throw Failure(offset: start, reason: "integer out of 64-bit range") }
            value = next
        }
        if negative { return .integer(value) }
        guard value != .min else { throw Failure(offset: start, reason: "integer out of 64-bit range") }
        return .integer(-value)
    }

    /// The rest of a number after its integer part: `.digits` and/or an exponent.
    private mutating func parseFractionRest(from start: Int) throws(Failure) -> String {
        func digits(_ parser: inout JSONParser) throws(Failure) {
            let first = parser.index
            while parser.index < parser.bytes.count,
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(parser.bytes[parser.index])
            {
                parser.index += 1
            }
            guard parser.index > first else { throw parser.failure("expected a digit") }
        }
        if bytes[index] == UInt8(ascii: ".") {
            index += 1
            try digits(&self)
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            try digits(&self)
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// At a string's opening quote: where its text lies (between the quotes)
    /// and whether it holds an escape, checked as ``parseString()`` checks it
    /// but without making a `String` unless it has an escape.
    private mutating func scanString() throws(Failure) -> (range: Range<Int>, escaped: Bool) {
        let quote = index
        index += 1
        let start = index
        var high: UInt8 = 0
        while index < bytes.count, bytes[index] != UInt8(ascii: "\""), bytes[index] != UInt8(ascii: "\\"), bytes[index] >= 0x20 {
            high |= bytes[index]
            index += 1
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "\"") {
            if high >= 0x80, String(validUTF8: bytes[start..<index]) == nil { throw failure("invalid UTF-8 in string") }
            index += 1
            return (start..<index - 1, false)
        }
        index = quote
        _ = try parseString()
        return (start..<index - 1, true)
    }

    /// The text of the string whose opening quote is at `quote` in `bytes`,
    /// escapes undone (for a string ``scanString()`` found escaped).
    static func string(in bytes: [UInt8], at quote: Int) -> String {
        var parser = JSONParser(bytes)
        parser.index = quote
        return (try? parser.parseString()) ?? ""
    }

    private mutating func parseString() throws(Failure) -> String {
        index += 1  // opening quote
        let start = index
        // Fast path: no escapes, so the string is the bytes between the quotes.
        while index < bytes.count, bytes[index] != UInt8(ascii: "\""), bytes[index] != UInt8(ascii: "\\"), bytes[index] >= 0x20 {
            index += 1
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "\"") {
            guard let text = String(validUTF8: bytes[start..<index]) else {
                throw failure("invalid UTF-8 in string")
            }
            index += 1
            return text
        }
        // Slow path: collect UTF-8 bytes, decoding escapes, and validate once.
        var utf8 = Array(bytes[start..<index])
        while true {
            guard index < bytes.count else { throw failure("unterminated string") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                guard let text = String(validUTF8: utf8[...]) else { throw failure("invalid UTF-8 in string") }
                return text
            }
            if byte < 0x20 { throw failure("control character in string must be escaped") }
            index += 1
            guard byte == UInt8(ascii: "\\") else {
                utf8.append(byte)
                continue
            }
            guard index < bytes.count else { throw failure("unterminated escape") }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                let first = try parseHex4()
                let scalar: Unicode.Scalar
                if (0xD800...0xDBFF).contains(first) {
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                        throw failure("unpaired surrogate in \\u escape")
                    }
                    index += 2
                    let second = try parseHex4()
                    guard (0xDC00...0xDFFF).contains(second) else { throw failure("unpaired surrogate in \\u escape") }
                    scalar = Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))!
                } else {
                    guard let single = Unicode.Scalar(first) else { throw failure("unpaired surrogate in \\u escape") }
                    scalar = single
                }
                utf8.append(contentsOf: UTF8.encode(scalar)!)
            default:
                throw failure("invalid escape")
            }
        }
    }

    private mutating func parseHex4() throws(Failure) -> UInt32 {
        guard index + 4 <= bytes.count else { throw failure("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("invalid hex digit in \\u escape")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }
}

extension String {
    /// The string `bytes` spell if they are valid UTF-8, else nil — without
    /// the standard library's generic `String(validating:as:)`, which looks
    /// up type metadata at run time on every call (a tenth of an append's
    /// decoding). ASCII is taken as it is; otherwise the bytes are decoded
    /// (invalid sequences would be replaced) and must come back unchanged.
    public init?(validUTF8 bytes: ArraySlice<UInt8>) {
        let decoded = bytes.withUnsafeBufferPointer { buffer -> String? in
            var high: UInt8 = 0
            for byte in buffer { high |= byte }
            let text = String(decoding: buffer, as: UTF8.self)
            return high < 0x80 || text.utf8.elementsEqual(buffer) ? text : nil
        }
        guard let decoded else { return nil }
        self = decoded
    }
}
