import Foundation
import RecoveryDomain

/// A reply of the protocol defined once: the server writes ``json`` and
/// clients read it back with ``init(json:)``. Each type's two directions sit
/// side by side, and a test holds every one to a round trip.
public protocol WireReply: Sendable {
    init(json: [String: JSONValue]) throws(WireError)
    var json: [String: JSONValue] { get }
}

/// A reply that does not say what the protocol says it must.
public struct WireError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// An exact decimal as the server writes it (`0.2500`): the text is kept, so
/// it is written back the same; ``value`` is for arithmetic.
public struct WireDecimal: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var text: String
    public init(_ text: String) { self.text = text }
    public var value: Decimal { Decimal(string: text) ?? 0 }
    public var description: String { text }
}

/// Reads one object's fields by their wire names, with errors that name them.
public struct WireFields {
    public let object: [String: JSONValue]
    public let type: String

    public init(_ object: [String: JSONValue], _ type: String) {
        self.object = object
        self.type = type
    }

    private func missing(_ key: String, _ wanted: String) -> WireError {
        WireError("\(type): \(key) is \(object[key].map { $0.typeName } ?? "missing"), not \(wanted)")
    }

    public func string(_ key: String) throws(WireError) -> String {
        guard case .string(let text) = object[key] else { throw missing(key, "a string") }
        return text
    }

    public func optionalString(_ key: String) throws(WireError) -> String? {
        switch object[key] {
        case nil, .null: return nil
        case .string(let text): return text
        default: throw missing(key, "a string or null")
        }
    }

    public func int64(_ key: String) throws(WireError) -> Int64 {
        guard case .integer(let number) = object[key] else { throw missing(key, "an integer") }
        return number
    }

    public func int(_ key: String) throws(WireError) -> Int { Int(try int64(key)) }

    public func optionalInt64(_ key: String) throws(WireError) -> Int64? {
        switch object[key] {
        case nil, .null: return nil
        case .integer(let number): return number
        default: throw missing(key, "an integer or null")
        }
    }

    public func optionalInt(_ key: String) throws(WireError) -> Int? { try optionalInt64(key).map { Int($0) } }

    public func bool(_ key: String) throws(WireError) -> Bool {
        guard case .bool(let value) = object[key] else { throw missing(key, "true or false") }
        return value
    }

    public func optionalBool(_ key: String) throws(WireError) -> Bool? {
        switch object[key] {
        case nil, .null: return nil
        case .bool(let value): return value
        default: throw missing(key, "true, false or null")
        }
    }

    public func decimal(_ key: String) throws(WireError) -> WireDecimal? {
        switch object[key] {
        case nil, .null: return nil
        case .fraction(let text): return WireDecimal(text)
        case .integer(let number): return WireDecimal(String(number))
        default: throw missing(key, "a number or null")
        }
    }

    public func strings(_ key: String) throws(WireError) -> [String] {
        guard case .array(let items) = object[key] else { throw missing(key, "an array") }
        var strings: [String] = []
        for item in items {
            guard case .string(let text) = item else { throw missing(key, "an array of strings") }
            strings.append(text)
        }
        return strings
    }

    public func objects(_ key: String) throws(WireError) -> [[String: JSONValue]] {
        guard case .array(let items) = object[key] else { throw missing(key, "an array") }
        var objects: [[String: JSONValue]] = []
        for item in items {
            guard case .object(let fields) = item else { throw missing(key, "an array of objects") }
            objects.append(fields)
        }
        return objects
    }

    func list<T: WireReply>(_ key: String, of type: T.Type) throws(WireError) -> [T] {
        var items: [T] = []
        for fields in try objects(key) { items.append(try T(json: fields)) }
        return items
    }

    public func object(_ key: String) throws(WireError) -> [String: JSONValue] {
        guard case .object(let fields) = object[key] else { throw missing(key, "an object") }
        return fields
    }

    public func has(_ key: String) -> Bool { object[key] != nil }
}

extension JSONValue {
    static func optional(_ text: String?) -> JSONValue { text.map(JSONValue.string) ?? .null }
    static func optional(_ number: Int64?) -> JSONValue { number.map(JSONValue.integer) ?? .null }
    static func optional(_ number: Int?) -> JSONValue { number.map { .integer(Int64($0)) } ?? .null }
    static func optional(_ value: Bool?) -> JSONValue { value.map(JSONValue.bool) ?? .null }
    static func optional(_ decimal: WireDecimal?) -> JSONValue { decimal.map { .fraction($0.text) } ?? .null }
    static func int(_ number: Int) -> JSONValue { .integer(Int64(number)) }
}
