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

    /// Decodes an event from its JSON object.
    public static func decode(fields: [String: JSONValue], currency: String) -> Result<Event, Rejection> {
        var slots = EventFields()
        for (key, value) in fields { _ = slots.set(value, for: key) }
        return decode(slots, currency: currency)
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
            guard let recordedAt = Timestamp(rfc3339: recordedText) else { throw .invalid("recorded_at is not RFC 3339") }
            let event = try readEvent(&reader, currency: nil)
            try reader.finish()
            return RecordedEvent(position: position, recordedAt: recordedAt, event: event)
        }
    }

    private static func readEvent(_ reader: inout FieldReader, currency: String?) throws(Rejection) -> Event {
        let typeName = try reader.string(.type)
        guard let type = EventType(rawValue: typeName) else {
            throw .invalid(
                "type \"\(typeName)\" is not one of \(EventType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let rawID = try reader.string(.eventID)
        guard let eventID = EventID(rawID) else { throw .invalid("event_id must be a UUID (8-4-4-4-12 hex digits)") }
        let agentID = try reader.identifier(.agentID)
        // Allowances and settings belong to no case: a new one with `case_id` is
        // refused as an unknown field (by `finish`); one stored before that rule still reads.
        let caseID = !type.isLedgerWide ? try reader.identifier(.caseID) : reader.newInput ? nil : try reader.optionalIdentifier(.caseID)
        var occurredAt: (String, Timestamp)?
        if let text = try reader.optionalString(.occurredAt) {
            // RFC 3339's grammar separates date and time with `T`: a space
            // (which some writers use) is refused in new events; stored ones still read.
            guard let instant = Timestamp(rfc3339: text), !reader.newInput || text.utf8.dropFirst(10).first != UInt8(ascii: " ") else {
                throw .invalid("occurred_at must be an RFC 3339 time such as 2026-11-22T09:15:00Z")
            }
            guard instant.microseconds >= 0 || !reader.newInput else {
                throw .invalid("occurred_at must not be before 1970-01-01T00:00:00Z")
            }
            occurredAt = (text, instant)
        }
        let ref = try reader.optionalText(.ref, length: 1...Limits.ref)
        let body: EventBody
        switch type {
        case .complaint:
            body = .complaint(
                Complaint(
                    customerID: try reader.identifier(.customerID),
                    channel: try reader.enumeration(.channel, Channel.self),
                    category: try reader.text(.category, length: 1...Limits.category),
                    severity: Int(try reader.integer(.severity, in: 1...5)),
                    baseline: try reader.optionalInteger(.baseline, in: 0...10).map(Int.init),
                    summary: try reader.optionalText(.summary, length: 0...Limits.text, freeText: true)))
        case .apology:
            body = .apology(Apology(note: try reader.optionalText(.note, length: 0...Limits.text, freeText: true)))
        case .compensation:
            let amount = try reader.integer(.amount, in: 1...Money.maximumAmount)
            let code = try reader.string(.currency)
            guard Money.isCurrencyCode(code) else { throw .invalid("currency must be an ISO 4217 code such as USD") }
            if let currency, code != currency {
                throw .invalid("currency \(code) is not this ledger's currency (\(currency))")
            }
            let kind = try reader.enumeration(.kind, CompensationKind.self)
            let approvedBy = try reader.optionalIdentifier(.approvedBy)
            let overrideReason = try reader.optionalText(.overrideReason, length: 1...Limits.text, freeText: true)
            if overrideReason != nil && approvedBy == nil {
                throw .invalid("override_reason goes with approved_by: only a supervisor's approval lifts a customer's daily cap")
            }
            body = .compensation(
                Compensation(
                    amount: amount, currency: code, kind: kind, approvedBy: approvedBy, overrideReason: overrideReason,
                    note: try reader.optionalText(.note, length: 0...Limits.text, freeText: true)))
        case .compensationReversal:
            let raw = try reader.string(.reverses)
            guard let reverses = EventID(raw) else { throw .invalid("reverses must be the event_id (a UUID) of a compensation") }
            body = .compensationReversal(
                CompensationReversal(reverses: reverses, reason: try reader.text(.reason, length: 1...Limits.text, freeText: true)))
        case .escalation:
            body = .escalation(
                Escalation(
                    toAgentID: try reader.identifier(.toAgentID),
                    reason: try reader.text(.reason, length: 1...Limits.text, freeText: true)))
        case .followUp:
            body = .followUp(
                FollowUp(
                    satisfaction: Int(try reader.integer(.satisfaction, in: 0...10)),
                    resolved: try reader.optionalBool(.resolved),
                    wouldRecommend: try reader.optionalInteger(.wouldRecommend, in: 0...10).map(Int.init),
                    note: try reader.optionalText(.note, length: 0...Limits.text, freeText: true)))
        case .defection:
            body = .defection(Defection(reason: try reader.optionalText(.reason, length: 0...Limits.text, freeText: true)))
        case .allowance:
            let change = AllowanceChange(
                dailyLimit: try reader.optionalInteger(.dailyLimit, in: 0...Money.maximumAmount),
                role: try reader.optionalEnumeration(.role, StaffRole.self))
            if change.dailyLimit == nil && change.role == nil {
                throw .invalid("daily_limit is required (or role: without daily_limit the person follows their role's default allowance)")
            }
            body = .allowance(change)
        case .ledgerSetting:
            let raw = try reader.string(.name)
            guard let name = SettingName(rawValue: raw) else {
                throw .invalid("name \"\(raw.prefix(64))\" is not one of \(SettingName.allCases.map(\.rawValue).joined(separator: ", "))")
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
            body = .ledgerSetting(LedgerSetting(name: name, value: value))
        }
        return Event(eventID: eventID, agentID: agentID, caseID: caseID, occurredAt: occurredAt, ref: ref, body: body)
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
    /// content, whatever order or spacing the client used.
    public static func canonicalContent(of event: Event) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        CanonicalEvent.members(of: event).write(into: &out)
        return out
    }

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
        var members = CanonicalEvent.members(of: recorded.event)
        members.add(.position, .integer(recorded.position))
        members.add(.recordedAt, .string(recordedAtText))
        var out: [UInt8] = []
        out.reserveCapacity(320)
        members.write(into: &out)
        return out
    }
}

/// An event's fields as parsed: a slot per key an event can have
/// (``CanonicalEvent/Key``), and any other keys apart.
struct EventFields {
    private(set) var slots: [JSONValue?] = Array(repeating: nil, count: CanonicalEvent.Key.allCases.count)
    private(set) var others: [String: JSONValue] = [:]

    /// Sets `key`; false if it was set already (a duplicate key).
    mutating func set(_ value: JSONValue, for key: String) -> Bool {
        if let known = CanonicalEvent.Key(name: key) { return set(value, for: known) }
        return others.updateValue(value, forKey: key) == nil
    }

    /// Sets a known key; false if it was set already (a duplicate key).
    mutating func set(_ value: JSONValue, for key: CanonicalEvent.Key) -> Bool {
        guard slots[key.rawValue] == nil else { return false }
        slots[key.rawValue] = value
        return true
    }

    subscript(key: CanonicalEvent.Key) -> JSONValue? { slots[key.rawValue] }

    /// The first key (in canonical order) set but not in `read`, if any.
    func firstLeft(read: KeySet) -> String? {
        let known = slots.indices.first { slots[$0] != nil && !read.contains(CanonicalEvent.Key(rawValue: $0)!) }
            .map { CanonicalEvent.Key.allCases[$0].text }
        return ([known].compactMap { $0 } + others.keys).min { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// A set of keys, one bit each.
    struct KeySet {
        private var bits: UInt32 = 0
        func contains(_ key: CanonicalEvent.Key) -> Bool { bits & 1 << key.rawValue != 0 }
        mutating func insert(_ key: CanonicalEvent.Key) { bits |= 1 << key.rawValue }
    }
}

/// Reads an event's fields one by one, marking each as it is read, so that
/// whatever is left unread at the end is an unknown field. The fields are
/// never changed (so never copied).
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

    private mutating func take(_ key: CanonicalEvent.Key) throws(Rejection) -> JSONValue? {
        guard !read.contains(key), let value = fields[key] else { return nil }
        read.insert(key)
        if case .null = value { throw .invalid("\(key) must not be null (leave it out instead)") }
        return value
    }

    private func missing(_ key: CanonicalEvent.Key) -> Rejection { .invalid("\(key) is required") }

    /// A field that may be `null` (only a setting's `value`): nil when absent.
    mutating func nullable(_ key: CanonicalEvent.Key) throws(Rejection) -> JSONValue? {
        guard !read.contains(key), let value = fields[key] else { return nil }
        read.insert(key)
        if case .string(let text) = value, newInput, let control = Self.firstControl(in: text, allowingWhitespace: false) {
            throw .invalid("\(key) must not contain control characters (found \(String(format: "U+%04X", control)))")
        }
        return value
    }

    /// A string field. No string holds U+0000 or another control character;
    /// only free text (`summary`, `note`, `reason`, `override_reason`) may hold
    /// tab, LF and CR — so every accepted value stores, loads and replays
    /// (docs/EVENTS.md, "Values").
    mutating func optionalString(_ key: CanonicalEvent.Key, freeText: Bool = false) throws(Rejection) -> String? {
        guard let value = try take(key) else { return nil }
        guard case .string(let text) = value else { throw .invalid("\(key) must be a string, not \(value.typeName)") }
        if newInput, let control = Self.firstControl(in: text, allowingWhitespace: freeText) {
            let which = String(format: "U+%04X", control)
            throw .invalid(
                freeText
                    ? "\(key) must not contain control characters other than tab, LF and CR (found \(which))"
                    : "\(key) must not contain control characters (found \(which))")
        }
        return text
    }

    /// The first control character (below U+0020) of `text`, save tab, LF
    /// and CR when `allowingWhitespace`; scanned over the contiguous bytes.
    static func firstControl(in text: String, allowingWhitespace: Bool) -> UInt8? {
        func refused(_ byte: UInt8) -> Bool { byte < 0x20 && !(allowingWhitespace && (byte == 0x09 || byte == 0x0A || byte == 0x0D)) }
        let found = text.utf8.withContiguousStorageIfAvailable { bytes -> UInt8? in
            for byte in bytes where refused(byte) { return byte }
            return nil
        }
        return found ?? text.utf8.first(where: refused)
    }

    mutating func string(_ key: CanonicalEvent.Key) throws(Rejection) -> String {
        guard let text = try optionalString(key) else { throw missing(key) }
        return text
    }

    mutating func optionalText(_ key: CanonicalEvent.Key, length: ClosedRange<Int>, freeText: Bool = false) throws(Rejection) -> String? {
        guard let text = try optionalString(key, freeText: freeText) else { return nil }
        let count = text.unicodeScalars.count
        guard length.contains(count) else {
            throw .invalid("\(key) must be \(length.lowerBound)–\(length.upperBound) characters, not \(count)")
        }
        return text
    }

    mutating func text(_ key: CanonicalEvent.Key, length: ClosedRange<Int>, freeText: Bool = false) throws(Rejection) -> String {
        guard let text = try optionalText(key, length: length, freeText: freeText) else { throw missing(key) }
        return text
    }

    mutating func optionalIdentifier(_ key: CanonicalEvent.Key) throws(Rejection) -> String? {
        guard let text = try optionalString(key) else { return nil }
        guard Identifier.isValid(text) else {
            throw .invalid("\(key) must be 1–\(Identifier.maximumLength) characters of A-Z a-z 0-9 . _ : @ -")
        }
        return text
    }

    mutating func identifier(_ key: CanonicalEvent.Key) throws(Rejection) -> String {
        guard let text = try optionalIdentifier(key) else { throw missing(key) }
        return text
    }

    mutating func optionalInteger(_ key: CanonicalEvent.Key, in range: ClosedRange<Int64>) throws(Rejection) -> Int64? {
        guard let value = try take(key) else { return nil }
        guard case .integer(let number) = value else {
            if case .fraction(let written) = value {
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
        guard case .bool(let flag) = value else { throw .invalid("\(key) must be true or false, not \(value.typeName)") }
        return flag
    }

    mutating func optionalEnumeration<E: RawRepresentable & CaseIterable>(_ key: CanonicalEvent.Key, _: E.Type) throws(Rejection) -> E?
    where E.RawValue == String {
        guard let text = try optionalString(key) else { return nil }
        guard let value = E(rawValue: text) else {
            throw .invalid("\(key) must be one of \(E.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(text)\"")
        }
        return value
    }

    mutating func enumeration<E: RawRepresentable & CaseIterable>(_ key: CanonicalEvent.Key, _ type: E.Type) throws(Rejection) -> E
    where E.RawValue == String {
        guard let value = try optionalEnumeration(key, type) else { throw missing(key) }
        return value
    }
}
