/// Strict decoding of events from JSON and their encoding back to the client's
/// fields and to the recorded canonical payload (docs/EVENTS.md).
public enum EventCodec {
    /// Named limits on text fields, in Unicode scalars.
    public enum Limits {
        public static let category = 64
        public static let ref = 128
        /// `summary`, `note` and `reason`.
        public static let text = 2_000
    }

    /// Decodes a request's JSON text into an event, checking every field.
    /// `currency` is the ledger's: a compensation in any other is refused.
    public static func decode(json bytes: [UInt8], currency: String) -> Result<Event, Rejection> {
        let fields: EventFields
        do {
            guard let object = try JSONParser.parseEventFields(bytes) else {
                let value = try JSONParser.parse(bytes)
                return .failure(Rejection(.badRequest, "an event must be a JSON object, not \(value.typeName)"))
            }
            fields = object
        } catch {
            return .failure(Rejection(.badRequest, "malformed JSON: \(error)"))
        }
        return decode(fields, currency: currency)
    }

    /// Decodes an event from its JSON object (written out and read as the
    /// bytes a line would bring).
    public static func decode(fields: [String: JSONValue], currency: String) -> Result<Event, Rejection> {
        decode(json: CanonicalJSON.encode(.object(fields)), currency: currency)
    }

    private static func decode(_ fields: EventFields, currency: String) -> Result<Event, Rejection> {
        Result { () throws(Rejection) -> Event in
            var reader = FieldReader(fields, newInput: true)
            let event = try readEvent(&reader, currency: currency)
            try reader.finish()
            return event
        }
    }

    /// Decodes a stored payload: the client's fields plus `position` and
    /// `recorded_at`. Currency is not re-checked against configuration: what was
    /// recorded stays readable.
    public static func decodeRecorded(payload bytes: [UInt8]) -> Result<RecordedEvent, Rejection> {
        let object: EventFields
        do {
            guard let fields = try JSONParser.parseEventFields(bytes) else { return .failure(.invalid("payload is not an object")) }
            object = fields
        } catch {
            return .failure(Rejection(.badRequest, "malformed payload: \(error)"))
        }
        return Result { () throws(Rejection) -> RecordedEvent in
            var reader = FieldReader(object, newInput: false)
            let position = try reader.integer(.position, in: 1...Int64.max)
            let recordedText = try reader.string(.recordedAt)
            guard let recordedAt = reader.withBytes(recordedText, { Timestamp(rfc3339: $0) }) else {
                throw .invalid("recorded_at is not RFC 3339")
            }
            let event = try readEvent(&reader, currency: nil)
            try reader.finish()
            return RecordedEvent(position: position, recordedAt: recordedAt, event: event)
        }
    }

    /// Checks every field of an event where it lies in the input, then writes
    /// the event's canonical content in one pass over the fields read, in
    /// canonical order; no field becomes a `String` unless a check needs one
    /// (an escaped text, an error message).
    private static func readEvent(_ reader: inout FieldReader, currency: String?) throws(Rejection) -> Event {
        let typeName = try reader.string(.type)
        guard let type = reader.withBytes(typeName, EventType.named) else {
            throw .invalid(
                "type \"\(reader.text(typeName))\" is not one of \(EventType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let rawID = try reader.string(.eventID)
        guard let eventID = reader.withBytes(rawID, EventID.init(utf8:)) else {
            throw .invalid("event_id must be a UUID (8-4-4-4-12 hex digits)")
        }
        _ = try reader.identifier(.agentID)
        // Allowances and settings belong to no case: a new one with `case_id` is
        // refused as an unknown field (by `finish`); one stored before that rule still reads.
        if !type.isLedgerWide {
            _ = try reader.identifier(.caseID)
        } else if !reader.newInput {
            _ = try reader.optionalIdentifier(.caseID)
        }
        var occurredAt: Timestamp?
        if let text = try reader.optionalString(.occurredAt) {
            // RFC 3339's grammar separates date and time with `T`: a space
            // (which some writers use) is refused in new events; stored ones still read.
            let parsed = reader.withBytes(text) { b -> Timestamp? in
                guard let instant = Timestamp(rfc3339: b), !reader.newInput || b.dropFirst(10).first != UInt8(ascii: " ") else { return nil }
                return instant
            }
            guard let instant = parsed else { throw .invalid("occurred_at must be an RFC 3339 time such as 2026-11-22T09:15:00Z") }
            guard instant.microseconds >= 0 || !reader.newInput else {
                throw .invalid("occurred_at must not be before 1970-01-01T00:00:00Z")
            }
            occurredAt = instant
        }
        _ = try reader.optionalText(.ref, length: 1...Limits.ref)
        switch type {
        case .complaint:
            _ = try reader.identifier(.customerID)
            _ = try reader.enumeration(.channel, Channel.self)
            _ = try reader.text(.category, length: 1...Limits.category)
            _ = try reader.integer(.severity, in: 1...5)
            _ = try reader.optionalInteger(.baseline, in: 0...10)
            _ = try reader.optionalText(.summary, length: 0...Limits.text, freeText: true)
        case .apology:
            _ = try reader.optionalText(.note, length: 0...Limits.text, freeText: true)
        case .compensation:
            _ = try reader.integer(.amount, in: 1...Money.maximumAmount)
            let code = try reader.string(.currency)
            guard reader.withBytes(code, Money.isCurrencyCode) else { throw .invalid("currency must be an ISO 4217 code such as USD") }
            if let currency, !reader.withBytes(code, { $0.elementsEqual(currency.utf8) }) {
                throw .invalid("currency \(reader.text(code)) is not this ledger's currency (\(currency))")
            }
            _ = try reader.enumeration(.kind, CompensationKind.self)
            let approvedBy = try reader.optionalIdentifier(.approvedBy)
            let overrideReason = try reader.optionalText(.overrideReason, length: 1...Limits.text, freeText: true)
            if overrideReason != nil && approvedBy == nil {
                throw .invalid("override_reason goes with approved_by: only a supervisor's approval lifts a customer's daily cap")
            }
            _ = try reader.optionalText(.note, length: 0...Limits.text, freeText: true)
        case .compensationReversal:
            let raw = try reader.string(.reverses)
            guard reader.withBytes(raw, EventID.init(utf8:)) != nil else {
                throw .invalid("reverses must be the event_id (a UUID) of a compensation")
            }
            _ = try reader.text(.reason, length: 1...Limits.text, freeText: true)
        case .escalation:
            _ = try reader.identifier(.toAgentID)
            _ = try reader.text(.reason, length: 1...Limits.text, freeText: true)
        case .followUp:
            _ = try reader.integer(.satisfaction, in: 0...10)
            _ = try reader.optionalBool(.resolved)
            _ = try reader.optionalInteger(.wouldRecommend, in: 0...10)
            _ = try reader.optionalText(.note, length: 0...Limits.text, freeText: true)
        case .defection:
            _ = try reader.optionalText(.reason, length: 0...Limits.text, freeText: true)
        case .allowance:
            let dailyLimit = try reader.optionalInteger(.dailyLimit, in: 0...Money.maximumAmount)
            let role = try reader.optionalEnumeration(.role, StaffRole.self)
            if dailyLimit == nil && role == nil {
                throw .invalid("daily_limit is required (or role: without daily_limit the person follows their role's default allowance)")
            }
        case .ledgerSetting:
            let raw = try reader.string(.name)
            guard let name = reader.withBytes(raw, SettingName.named) else {
                throw .invalid(
                    "name \"\(reader.text(raw).prefix(64))\" is not one of \(SettingName.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let value: SettingValue
            switch try reader.nullable(.value) {
            case nil: throw .invalid("value is required")
            case .null?: value = .none
            case .integer(let number)?: value = .integer(number)
            case .string(let text)?: value = .text(text)
            case let other?: throw .invalid("value must be an integer, a string or null, not \(other.typeName)")
            }
            try LedgerSettings.check(name, value)
        }
        let (content, spans) = reader.writeContent(eventID: eventID)
        return Event(content: content, spans: spans, type: type, eventID: eventID, occurredAt: occurredAt)
    }

    /// The client's fields of `event` (what idempotency compares).
    public static func fields(of event: Event) -> [String: JSONValue] {
        var fields: [String: JSONValue] = [
            "event_id": .string(event.eventID.text),
            "type": .string(event.type.rawValue),
            "agent_id": .string(event.agentID),
        ]
        fields["case_id"] = event.caseID.map(JSONValue.string)
        fields["occurred_at"] = event.occurredAt.map { .string($0.text) }
        fields["ref"] = event.ref.map(JSONValue.string)
        switch event.body {
        case .complaint(let c):
            fields["customer_id"] = .string(c.customerID)
            fields["channel"] = .string(c.channel.rawValue)
            fields["category"] = .string(c.category)
            fields["severity"] = .integer(Int64(c.severity))
            fields["baseline"] = c.baseline.map { .integer(Int64($0)) }
            fields["summary"] = c.summary.map(JSONValue.string)
        case .apology(let a):
            fields["note"] = a.note.map(JSONValue.string)
        case .compensation(let c):
            fields["amount"] = .integer(c.amount)
            fields["currency"] = .string(c.currency)
            fields["kind"] = .string(c.kind.rawValue)
            fields["approved_by"] = c.approvedBy.map(JSONValue.string)
            fields["override_reason"] = c.overrideReason.map(JSONValue.string)
            fields["note"] = c.note.map(JSONValue.string)
        case .compensationReversal(let r):
            fields["reverses"] = .string(r.reverses.text)
            fields["reason"] = .string(r.reason)
        case .escalation(let e):
            fields["to_agent_id"] = .string(e.toAgentID)
            fields["reason"] = .string(e.reason)
        case .followUp(let f):
            fields["satisfaction"] = .integer(Int64(f.satisfaction))
            fields["resolved"] = f.resolved.map(JSONValue.bool)
            fields["would_recommend"] = f.wouldRecommend.map { .integer(Int64($0)) }
            fields["note"] = f.note.map(JSONValue.string)
        case .defection(let d):
            fields["reason"] = d.reason.map(JSONValue.string)
        case .allowance(let a):
            fields["daily_limit"] = a.dailyLimit.map(JSONValue.integer)
            fields["role"] = a.role.map { .string($0.rawValue) }
        case .ledgerSetting(let s):
            fields["name"] = .string(s.name.rawValue)
            switch s.value {
            case .integer(let number): fields["value"] = .integer(number)
            case .text(let text): fields["value"] = .string(text)
            case .none: fields["value"] = JSONValue.null
            }
        }
        return fields
    }

    /// Canonical bytes of the client's fields alone: equal bytes mean the same
    /// content, whatever order or spacing the client used (``Event/content``).
    public static func canonicalContent(of event: Event) -> [UInt8] { event.content }

    /// The recorded payload: the client's fields plus `position` and
    /// `recorded_at`, as canonical JSON. These are the bytes the chain hashes.
    public static func payload(of recorded: RecordedEvent) -> [UInt8] {
        payload(of: recorded, recordedAtText: recorded.recordedAt.description)
    }

    /// ``payload(of:)`` from the event's canonical content (``canonicalContent(of:)``),
    /// which it copies with `position` and `recorded_at` put in their places:
    /// one pass over bytes already written, instead of writing them again.
    public static func payload(content: [UInt8], position: Int64, recordedAtText: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(content.count + recordedAtText.utf8.count + 48)
        var inserted = (position: false, recordedAt: false)
        func insertBefore(_ key: ArraySlice<UInt8>?) {
            // Members are in canonical order: each extra goes before the first key after it.
            if !inserted.position, key.map({ !$0.lexicographicallyPrecedes("position".utf8) }) ?? true {
                if out.last != UInt8(ascii: "{") { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: #""position":"#.utf8)
                CanonicalJSON.writeInteger(position, into: &out)
                inserted.position = true
            }
            if !inserted.recordedAt, key.map({ !$0.lexicographicallyPrecedes("recorded_at".utf8) }) ?? true {
                if out.last != UInt8(ascii: "{") { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: #""recorded_at":"#.utf8)
                CanonicalJSON.writeString(recordedAtText, into: &out)
                inserted.recordedAt = true
            }
        }
        precondition(content.first == UInt8(ascii: "{") && content.last == UInt8(ascii: "}"), "canonical content is one object")
        out.append(UInt8(ascii: "{"))
        var index = 1
        while index < content.count - 1 {
            // A member: "key":value, then a comma or the end. Keys have no escapes.
            let keyStart = index + 1
            var keyEnd = keyStart
            while content[keyEnd] != UInt8(ascii: "\"") { keyEnd += 1 }
            insertBefore(content[keyStart..<keyEnd])
            var end = keyEnd + 2  // past `":`
            if content[end] == UInt8(ascii: "\"") {
                end += 1
                while content[end] != UInt8(ascii: "\"") { end += content[end] == UInt8(ascii: "\\") ? 2 : 1 }
                end += 1
            } else {
                while content[end] != UInt8(ascii: ",") && content[end] != UInt8(ascii: "}") { end += 1 }
            }
            if out.last != UInt8(ascii: "{") { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: content[index..<end])
            index = end + (content[end] == UInt8(ascii: ",") ? 1 : 0)
        }
        insertBefore(nil)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// ``payload(of:)`` with `recorded_at` already written out (a batch shares it).
    public static func payload(of recorded: RecordedEvent, recordedAtText: String) -> [UInt8] {
        payload(content: recorded.event.content, position: recorded.position, recordedAtText: recordedAtText)
    }
}

/// An event's fields as parsed: a slot per key an event can have
/// (``CanonicalEvent/Key``), and any other keys apart. A string stays in the
/// input's bytes, as where it lies there.
struct EventFields {
    enum Value {
        /// A string's text between its quotes in the input; `escaped` when
        /// it holds an escape (so is not its own text).
        case string(Range<Int>, escaped: Bool)
        case value(JSONValue)

        var typeName: String {
            switch self {
            case .string: "string"
            case .value(let value): value.typeName
            }
        }
    }

    /// The input the strings lie in.
    let bytes: [UInt8]
    /// A value as kept: plain bits (so copying the fields counts no
    /// references); the rare value of another kind is kept in `otherValues`.
    private enum Slot {
        case absent
        case string(start: UInt32, end: UInt32, escaped: Bool)
        case integer(Int64)
        case bool(Bool)
        case null
        case other(Int)
    }
    private var slots = InlineArray<30, Slot>(repeating: .absent)
    private var otherValues: [JSONValue] = []
    private(set) var others: [String: JSONValue] = [:]
    /// The keys set, one bit each.
    private(set) var present = KeySet()

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Sets an unknown key; false if it was set already (a duplicate key).
    mutating func set(_ value: JSONValue, for key: String) -> Bool {
        if let known = CanonicalEvent.Key(name: key) {
            // A known key written with escapes: its value as a value.
            return set(.value(value), for: known)
        }
        return others.updateValue(value, forKey: key) == nil
    }

    /// Sets a known key; false if it was set already (a duplicate key).
    mutating func set(_ value: Value, for key: CanonicalEvent.Key) -> Bool {
        guard !present.contains(key) else { return false }
        present.insert(key)
        switch value {
        case .string(let range, let escaped):
            slots[key.rawValue] = .string(start: UInt32(range.lowerBound), end: UInt32(range.upperBound), escaped: escaped)
        case .value(.integer(let number)): slots[key.rawValue] = .integer(number)
        case .value(.bool(let flag)): slots[key.rawValue] = .bool(flag)
        case .value(.null): slots[key.rawValue] = .null
        case .value(let other):
            slots[key.rawValue] = .other(otherValues.count)
            otherValues.append(other)
        }
        return true
    }

    subscript(key: CanonicalEvent.Key) -> Value? {
        switch slots[key.rawValue] {
        case .absent: nil
        case .string(let start, let end, let escaped): .string(Int(start)..<Int(end), escaped: escaped)
        case .integer(let number): .value(.integer(number))
        case .bool(let flag): .value(.bool(flag))
        case .null: .value(.null)
        case .other(let index): .value(otherValues[index])
        }
    }

    /// The first key (in canonical order) set but not in `read`, if any.
    func firstLeft(read: KeySet) -> String? {
        if others.isEmpty && present.isSubset(of: read) { return nil }
        var known: String?
        for key in CanonicalEvent.Key.allCases where present.contains(key) && !read.contains(key) {
            known = key.text
            break
        }
        return ([known].compactMap { $0 } + others.keys).min { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// A set of keys, one bit each.
    struct KeySet {
        private var bits: UInt32 = 0
        func contains(_ key: CanonicalEvent.Key) -> Bool { bits & 1 << key.rawValue != 0 }
        func isSubset(of other: KeySet) -> Bool { bits & ~other.bits == 0 }
        /// The keys in canonical order.
        var keys: some Sequence<CanonicalEvent.Key> {
            sequence(state: bits) { (rest: inout UInt32) -> CanonicalEvent.Key? in
                guard rest != 0 else { return nil }
                let next = rest.trailingZeroBitCount
                rest &= rest - 1
                return CanonicalEvent.Key(rawValue: next)
            }
        }
        mutating func insert(_ key: CanonicalEvent.Key) { bits |= 1 << key.rawValue }
    }
}

/// A string field's text: where it lies in the input, or (written with
/// escapes, or given as a JSON value) its own bytes.
struct FieldText {
    fileprivate enum Source {
        case input(Range<Int>)
        case own([UInt8])
    }
    fileprivate let source: Source
}

/// Reads an event's fields one by one, marking each as it is read, so that
/// whatever is left unread at the end is an unknown field; then writes the
/// fields read as the event's canonical content. The fields are never
/// changed (so never copied).
struct FieldReader {
    private let fields: EventFields
    private var read = EventFields.KeySet()
    /// A client's new event (every rule applies), or a recorded payload: rules
    /// added since it was recorded are not applied to it, so what was recorded
    /// stays readable.
    let newInput: Bool

    init(_ fields: EventFields, newInput: Bool) {
        self.fields = fields
        self.newInput = newInput
    }

    mutating func finish() throws(Rejection) {
        if let unknown = fields.firstLeft(read: read) {
            throw .invalid("unknown field \"\(unknown)\" for this event type")
        }
    }

    /// The bytes of `text`, to look at without a `String`.
    func withBytes<T>(_ text: FieldText, _ body: (UnsafeBufferPointer<UInt8>) throws(Rejection) -> T) throws(Rejection) -> T {
        switch text.source {
        case .input(let range):
            return try fields.bytes.withUnsafeBufferPointer { (b) throws(Rejection) -> T in
                try body(UnsafeBufferPointer(rebasing: b[range]))
            }
        case .own(let bytes):
            return try bytes.withUnsafeBufferPointer { (b) throws(Rejection) -> T in try body(b) }
        }
    }

    func withBytes<T>(_ text: FieldText, _ body: (UnsafeBufferPointer<UInt8>) -> T) -> T {
        switch text.source {
        case .input(let range): fields.bytes.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[range])) }
        case .own(let bytes): bytes.withUnsafeBufferPointer(body)
        }
    }

    /// `text` as a `String` (for messages and the rare field that needs one).
    func text(_ text: FieldText) -> String { withBytes(text) { String(decoding: $0, as: UTF8.self) } }

    /// The read fields as the event's canonical content: each in canonical
    /// order, a string copied from the input when it has no escape (its
    /// canonical form then), `event_id` and `reverses` in lowercase;
    /// `position` and `recorded_at` (a recorded payload's) left out.
    func writeContent(eventID: EventID) -> ([UInt8], FieldSpans) {
        var writer = ContentWriter(capacity: fields.bytes.count + 16)
        for key in read.keys where key != .position && key != .recordedAt {
            switch (fields[key], key) {
            case (.string, .eventID): writer.eventID(key, eventID)
            case (.string(let range, let escaped), .reverses):
                let id = withBytes(text(at: range, escaped: escaped), EventID.init(utf8:))
                writer.eventID(key, id ?? eventID)
            case (.string(let range, let escaped), _):
                withBytes(text(at: range, escaped: escaped)) { writer.string(key, utf8: $0) }
            case (.value(.string(let string)), .eventID): writer.eventID(key, EventID(string) ?? eventID)
            case (.value(.string(let string)), .reverses): writer.eventID(key, EventID(string) ?? eventID)
            case (.value(.string(let string)), _): writer.string(key, string)
            case (.value(.integer(let number)), _): writer.integer(key, number)
            case (.value(.bool(let flag)), _): writer.bool(key, flag)
            case (.value(.null), _): writer.null(key)
            case (.value, _), (nil, _): break  // refused by the reading
            }
        }
        return writer.finish()
    }

    private func text(at range: Range<Int>, escaped: Bool) -> FieldText {
        guard escaped else { return FieldText(source: .input(range)) }
        return FieldText(source: .own(Array(JSONParser.string(in: fields.bytes, at: range.lowerBound - 1).utf8)))
    }

    private mutating func take(_ key: CanonicalEvent.Key) throws(Rejection) -> EventFields.Value? {
        guard !read.contains(key), let value = fields[key] else { return nil }
        read.insert(key)
        if case .value(.null) = value { throw .invalid("\(key) must not be null (leave it out instead)") }
        return value
    }

    private func missing(_ key: CanonicalEvent.Key) -> Rejection { .invalid("\(key) is required") }

    /// A field that may be `null` (only a setting's `value`): nil when absent.
    mutating func nullable(_ key: CanonicalEvent.Key) throws(Rejection) -> JSONValue? {
        guard !read.contains(key), let value = fields[key] else { return nil }
        read.insert(key)
        switch value {
        case .value(let value):
            if case .string(let text) = value, newInput, let control = Self.firstControl(in: text, allowingWhitespace: false) {
                throw .invalid("\(key) must not contain control characters (found \(String(format: "U+%04X", control)))")
            }
            return value
        case .string(let range, let escaped):
            let text = self.text(text(at: range, escaped: escaped))
            if newInput, let control = Self.firstControl(in: text, allowingWhitespace: false) {
                throw .invalid("\(key) must not contain control characters (found \(String(format: "U+%04X", control)))")
            }
            return .string(text)
        }
    }

    /// A string field. No string holds U+0000 or another control character;
    /// only free text (`summary`, `note`, `reason`, `override_reason`) may hold
    /// tab, LF and CR — so every accepted value stores, loads and replays
    /// (docs/EVENTS.md, "Values"). A string without an escape cannot hold one
    /// (the parser refuses it raw), so only escaped ones are scanned.
    mutating func optionalString(_ key: CanonicalEvent.Key, freeText: Bool = false) throws(Rejection) -> FieldText? {
        guard let value = try take(key) else { return nil }
        let text: FieldText
        switch value {
        case .string(let range, let escaped): text = self.text(at: range, escaped: escaped)
        case .value(.string(let string)): text = FieldText(source: .own(Array(string.utf8)))
        case .value(let other): throw .invalid("\(key) must be a string, not \(other.typeName)")
        }
        if newInput, case .own = text.source, let control = withBytes(text, { Self.firstControl(in: $0, allowingWhitespace: freeText) }) {
            let which = String(format: "U+%04X", control)
            throw .invalid(
                freeText
                    ? "\(key) must not contain control characters other than tab, LF and CR (found \(which))"
                    : "\(key) must not contain control characters (found \(which))")
        }
        return text
    }

    /// The first control character (below U+0020) of `text`, save tab, LF
    /// and CR when `allowingWhitespace`.
    static func firstControl(in text: String, allowingWhitespace: Bool) -> UInt8? {
        var text = text
        return text.withUTF8 { firstControl(in: $0, allowingWhitespace: allowingWhitespace) }
    }

    static func firstControl(in bytes: UnsafeBufferPointer<UInt8>, allowingWhitespace: Bool) -> UInt8? {
        for byte in bytes where byte < 0x20 && !(allowingWhitespace && (byte == 0x09 || byte == 0x0A || byte == 0x0D)) {
            return byte
        }
        return nil
    }

    mutating func string(_ key: CanonicalEvent.Key) throws(Rejection) -> FieldText {
        guard let text = try optionalString(key) else { throw missing(key) }
        return text
    }

    mutating func optionalText(_ key: CanonicalEvent.Key, length: ClosedRange<Int>, freeText: Bool = false) throws(Rejection) -> FieldText? {
        guard let text = try optionalString(key, freeText: freeText) else { return nil }
        // Unicode scalars: UTF-8 bytes that do not continue one.
        let count = withBytes(text) { b in b.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) } }
        guard length.contains(count) else {
            throw .invalid("\(key) must be \(length.lowerBound)–\(length.upperBound) characters, not \(count)")
        }
        return text
    }

    mutating func text(_ key: CanonicalEvent.Key, length: ClosedRange<Int>, freeText: Bool = false) throws(Rejection) -> FieldText {
        guard let text = try optionalText(key, length: length, freeText: freeText) else { throw missing(key) }
        return text
    }

    mutating func optionalIdentifier(_ key: CanonicalEvent.Key) throws(Rejection) -> FieldText? {
        guard let text = try optionalString(key) else { return nil }
        guard withBytes(text, Identifier.isValid) else {
            throw .invalid("\(key) must be 1–\(Identifier.maximumLength) characters of A-Z a-z 0-9 . _ : @ -")
        }
        return text
    }

    mutating func identifier(_ key: CanonicalEvent.Key) throws(Rejection) -> FieldText {
        guard let text = try optionalIdentifier(key) else { throw missing(key) }
        return text
    }

    mutating func optionalInteger(_ key: CanonicalEvent.Key, in range: ClosedRange<Int64>) throws(Rejection) -> Int64? {
        guard let value = try take(key) else { return nil }
        guard case .value(.integer(let number)) = value else {
            if case .value(.fraction(let written)) = value {
                throw .invalid("\(key) must be an integer (amounts in minor units: 1000, not 1e3 or 10.00), not \(written.prefix(32))")
            }
            throw .invalid("\(key) must be an integer, not \(value.typeName)")
        }
        guard range.contains(number) else {
            let upper = range.upperBound == .max ? "" : " to \(range.upperBound)"
            throw .invalid("\(key) must be from \(range.lowerBound)\(upper), not \(number)")
        }
        return number
    }

    mutating func integer(_ key: CanonicalEvent.Key, in range: ClosedRange<Int64>) throws(Rejection) -> Int64 {
        guard let number = try optionalInteger(key, in: range) else { throw missing(key) }
        return number
    }

    mutating func optionalBool(_ key: CanonicalEvent.Key) throws(Rejection) -> Bool? {
        guard let value = try take(key) else { return nil }
        guard case .value(.bool(let flag)) = value else { throw .invalid("\(key) must be true or false, not \(value.typeName)") }
        return flag
    }

    mutating func optionalEnumeration<E: WireName>(_ key: CanonicalEvent.Key, _: E.Type) throws(Rejection) -> E? {
        guard let text = try optionalString(key) else { return nil }
        guard let value = withBytes(text, E.named) else {
            throw .invalid("\(key) must be one of \(E.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(self.text(text))\"")
        }
        return value
    }

    mutating func enumeration<E: WireName>(_ key: CanonicalEvent.Key, _ type: E.Type) throws(Rejection) -> E {
        guard let value = try optionalEnumeration(key, type) else { throw missing(key) }
        return value
    }
}
