/// An event as a client sent it, validated: the fields every event carries plus
/// its typed body.
///
/// An event is one buffer: its canonical content (``content``, the client's
/// fields as canonical JSON, docs/EVENTS.md "Canonical form") written once,
/// in one pass, when the event is decoded or made, and a table of where each
/// field's value lies in it. Fields are read from those bytes when asked for;
/// none is kept as a `String` of its own, so an event passing from its line
/// through the decider, the rows and the writer's batch to its receipt is one
/// reference to count, and the bytes the chain hashes and the store keeps are
/// the ones it already holds. REPLAY's readers, catch-up and rebuild decode
/// recorded payloads into the same representation.
public struct Event: Sendable, Equatable {
    private final class Storage: Sendable {
        let content: [UInt8]
        let spans: FieldSpans
        let type: EventType
        let eventID: EventID
        let occurredAt: Timestamp?

        init(content: [UInt8], spans: FieldSpans, type: EventType, eventID: EventID, occurredAt: Timestamp?) {
            self.content = content
            self.spans = spans
            self.type = type
            self.eventID = eventID
            self.occurredAt = occurredAt
        }
    }

    private var storage: Storage

    /// An event from content written by ``ContentWriter`` (the decoder's and
    /// ``init(eventID:agentID:caseID:occurredAt:ref:body:)``'s one way in).
    init(content: [UInt8], spans: FieldSpans, type: EventType, eventID: EventID, occurredAt: Timestamp?) {
        storage = Storage(content: content, spans: spans, type: type, eventID: eventID, occurredAt: occurredAt)
    }

    /// An event from typed values (what tests, the bench and the daemon's own
    /// opening events make); its content is written here, as a decoded one's is.
    public init(
        eventID: EventID, agentID: String, caseID: String?, occurredAt: (text: String, instant: Timestamp)? = nil,
        ref: String? = nil, body: EventBody
    ) {
        var writer = ContentWriter(capacity: 256)
        CanonicalEvent.members(eventID: eventID, agentID: agentID, caseID: caseID, occurredAt: occurredAt?.text, ref: ref, body: body)
            .write(into: &writer)
        let (content, spans) = writer.finish()
        self.init(content: content, spans: spans, type: body.type, eventID: eventID, occurredAt: occurredAt?.instant)
    }

    /// The client's fields as canonical JSON: equal bytes mean the same
    /// content, whatever order or spacing the client used.
    public var content: [UInt8] { storage.content }

    public var type: EventType { storage.type }

    public var eventID: EventID {
        get { storage.eventID }
        set { self = rebuilt(eventID: newValue) }
    }
    public var agentID: String {
        get { string(.agentID) ?? "" }
        set { self = rebuilt(agentID: newValue) }
    }
    public var caseID: String? {
        get { string(.caseID) }
        set { self = rebuilt(caseID: .some(newValue)) }
    }
    /// `occurred_at` as the client wrote it, and its instant.
    public var occurredAt: (text: String, instant: Timestamp)? {
        get { storage.occurredAt.map { (string(.occurredAt) ?? "", $0) } }
        set { self = rebuilt(occurredAt: .some(newValue)) }
    }
    /// `occurred_at`'s instant, without its text.
    public var occurredInstant: Timestamp? { storage.occurredAt }
    public var ref: String? {
        get { string(.ref) }
        set { self = rebuilt(ref: .some(newValue)) }
    }

    /// What the event says, by type, made from the content when asked for (the
    /// hot paths read single fields instead: ``customerID``, ``amount``, …).
    public var body: EventBody {
        get { makeBody() }
        set { self = rebuilt(body: newValue) }
    }

    // MARK: Single fields, without making the body

    /// A complaint's `customer_id`.
    public var customerID: String? { string(.customerID) }
    /// A complaint's `category`.
    public var category: String? { string(.category) }
    /// A compensation's `amount` (minor units).
    public var amount: Int64? { type == .compensation ? integer(.amount) : nil }
    /// A complaint's `channel`.
    public var channel: Channel? { string(.channel).flatMap(Channel.init(rawValue:)) }
    /// A complaint's `severity`.
    public var severity: Int? { integer(.severity).map(Int.init) }
    /// A complaint's `baseline`.
    public var baseline: Int? { integer(.baseline).map(Int.init) }
    /// Whether a compensation carries an `override_reason`.
    public var hasOverrideReason: Bool { storage.spans[.overrideReason] != nil }
    /// A follow-up's `satisfaction`.
    public var satisfaction: Int? { integer(.satisfaction).map(Int.init) }
    /// A follow-up's `would_recommend`.
    public var wouldRecommend: Int? { integer(.wouldRecommend).map(Int.init) }
    /// A follow-up's `resolved` (absent means true).
    public var isResolved: Bool { bool(.resolved) ?? true }
    /// A compensation's `approved_by`.
    public var approvedBy: String? { string(.approvedBy) }
    /// An escalation's `to_agent_id`.
    public var toAgentID: String? { string(.toAgentID) }
    /// A compensation reversal's `reverses`.
    public var reverses: EventID? {
        guard let range = storage.spans[.reverses] else { return nil }
        return storage.content.withUnsafeBufferPointer { EventID(utf8: UnsafeBufferPointer(rebasing: $0[range])) }
    }

    public static func == (lhs: Event, rhs: Event) -> Bool {
        lhs.storage === rhs.storage || lhs.storage.content == rhs.storage.content
    }

    // MARK: Reading the content

    /// The string value of `key`, unescaped; nil when absent.
    func string(_ key: CanonicalEvent.Key) -> String? {
        guard let range = storage.spans[key] else { return nil }
        // An escaped one is read as the JSON string it is (its quote opens the span).
        if storage.spans.hasEscape(key) { return JSONParser.string(in: storage.content, at: range.lowerBound - 1) }
        return storage.content.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[range]), as: UTF8.self) }
    }

    /// The integer value of `key`; nil when absent (or not an integer).
    func integer(_ key: CanonicalEvent.Key) -> Int64? {
        guard let range = storage.spans[key] else { return nil }
        let content = storage.content
        guard content[range.lowerBound - 1] != UInt8(ascii: "\""), content[range.lowerBound] != UInt8(ascii: "n") else { return nil }
        var index = range.lowerBound
        let negative = content[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        var value: Int64 = 0
        while index < range.upperBound {
            value = value &* 10 &- Int64(content[index] &- UInt8(ascii: "0"))
            index += 1
        }
        return negative ? value : -value
    }

    /// The boolean value of `key`; nil when absent.
    func bool(_ key: CanonicalEvent.Key) -> Bool? {
        guard let range = storage.spans[key] else { return nil }
        return storage.content[range.lowerBound] == UInt8(ascii: "t")
    }

    private func enumeration<E: RawRepresentable>(_ key: CanonicalEvent.Key, _: E.Type) -> E? where E.RawValue == String {
        string(key).flatMap(E.init(rawValue:))
    }

    private func makeBody() -> EventBody {
        switch type {
        case .complaint:
            .complaint(
                Complaint(
                    customerID: string(.customerID) ?? "", channel: enumeration(.channel, Channel.self) ?? .other,
                    category: string(.category) ?? "", severity: Int(integer(.severity) ?? 0),
                    baseline: integer(.baseline).map(Int.init), summary: string(.summary)))
        case .apology:
            .apology(Apology(note: string(.note)))
        case .compensation:
            .compensation(
                Compensation(
                    amount: integer(.amount) ?? 0, currency: string(.currency) ?? "",
                    kind: enumeration(.kind, CompensationKind.self) ?? .other, approvedBy: string(.approvedBy),
                    overrideReason: string(.overrideReason), note: string(.note)))
        case .compensationReversal:
            .compensationReversal(
                CompensationReversal(reverses: reverses ?? storage.eventID, reason: string(.reason) ?? ""))
        case .escalation:
            .escalation(Escalation(toAgentID: string(.toAgentID) ?? "", reason: string(.reason) ?? ""))
        case .followUp:
            .followUp(
                FollowUp(
                    satisfaction: Int(integer(.satisfaction) ?? 0), resolved: bool(.resolved),
                    wouldRecommend: integer(.wouldRecommend).map(Int.init), note: string(.note)))
        case .defection:
            .defection(Defection(reason: string(.reason)))
        case .allowance:
            .allowance(AllowanceChange(dailyLimit: integer(.dailyLimit), role: enumeration(.role, StaffRole.self)))
        case .ledgerSetting:
            .ledgerSetting(LedgerSetting(name: enumeration(.name, SettingName.self) ?? .currency, value: settingValue))
        }
    }

    /// A setting's `value`: a string, an integer or null.
    private var settingValue: SettingValue {
        guard let range = storage.spans[.value] else { return .none }
        if storage.content[range.lowerBound - 1] == UInt8(ascii: "\"") { return .text(string(.value) ?? "") }
        return integer(.value).map(SettingValue.integer) ?? .none
    }

    /// This event with one part changed, written anew.
    private func rebuilt(
        eventID: EventID? = nil, agentID: String? = nil, caseID: String?? = nil,
        occurredAt: (text: String, instant: Timestamp)?? = nil, ref: String?? = nil, body: EventBody? = nil
    ) -> Event {
        Event(
            eventID: eventID ?? self.eventID, agentID: agentID ?? self.agentID, caseID: caseID ?? self.caseID,
            occurredAt: occurredAt ?? self.occurredAt, ref: ref ?? self.ref, body: body ?? self.body)
    }
}

/// Where each value of an event lies in its canonical content: a string's
/// text between its quotes, a number's or literal's text; and which strings
/// hold an escape (to undo when read).
struct FieldSpans: Sendable {
    /// Per key (``CanonicalEvent/Key``): start << 32 | end; 0 when absent
    /// (no value starts at 0, where the content's `{` is).
    private var bounds = InlineArray<30, UInt64>(repeating: 0)
    private var escapes: UInt32 = 0

    subscript(key: CanonicalEvent.Key) -> Range<Int>? {
        let packed = bounds[key.rawValue]
        guard packed != 0 else { return nil }
        return Int(packed >> 32)..<Int(packed & 0xFFFF_FFFF)
    }

    func hasEscape(_ key: CanonicalEvent.Key) -> Bool { escapes & 1 << key.rawValue != 0 }

    mutating func set(_ key: CanonicalEvent.Key, _ range: Range<Int>, escaped: Bool) {
        bounds[key.rawValue] = UInt64(range.lowerBound) << 32 | UInt64(range.upperBound)
        if escaped { escapes |= 1 << key.rawValue }
    }
}

/// Writes an event's canonical content member by member, keys in canonical
/// order, noting where each value lies.
struct ContentWriter {
    private var out: [UInt8] = []
    private var spans = FieldSpans()

    init(capacity: Int) {
        out.reserveCapacity(capacity)
        out.append(UInt8(ascii: "{"))
    }

    private mutating func key(_ key: CanonicalEvent.Key) {
        if out.count > 1 { out.append(UInt8(ascii: ",")) }
        out.append(UInt8(ascii: "\""))
        key.name.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(UInt8(ascii: "\""))
        out.append(UInt8(ascii: ":"))
    }

    /// A string value, escaped as canonical JSON escapes it.
    mutating func string(_ key: CanonicalEvent.Key, utf8 value: UnsafeBufferPointer<UInt8>) {
        self.key(key)
        out.append(UInt8(ascii: "\""))
        let start = out.count
        let escaped = CanonicalJSON.writeStringContent(value, into: &out)
        spans.set(key, start..<out.count, escaped: escaped)
        out.append(UInt8(ascii: "\""))
    }

    mutating func string(_ key: CanonicalEvent.Key, _ value: String) {
        var value = value
        value.withUTF8 { string(key, utf8: $0) }
    }

    mutating func eventID(_ key: CanonicalEvent.Key, _ id: EventID) {
        self.key(key)
        out.append(UInt8(ascii: "\""))
        let start = out.count
        id.appendText(to: &out)
        spans.set(key, start..<out.count, escaped: false)
        out.append(UInt8(ascii: "\""))
    }

    mutating func integer(_ key: CanonicalEvent.Key, _ value: Int64) {
        self.key(key)
        let start = out.count
        CanonicalJSON.writeInteger(value, into: &out)
        spans.set(key, start..<out.count, escaped: false)
    }

    mutating func bool(_ key: CanonicalEvent.Key, _ value: Bool) {
        literal(key, value ? "true" : "false")
    }

    mutating func null(_ key: CanonicalEvent.Key) { literal(key, "null") }

    private mutating func literal(_ key: CanonicalEvent.Key, _ text: StaticString) {
        self.key(key)
        let start = out.count
        text.withUTF8Buffer { out.append(contentsOf: $0) }
        spans.set(key, start..<out.count, escaped: false)
    }

    /// The content, closed; the writer is left empty.
    mutating func finish() -> ([UInt8], FieldSpans) {
        out.append(UInt8(ascii: "}"))
        defer { out = [] }
        return (out, spans)
    }
}

/// An event as recorded: the client's event plus the server's `position` and
/// `recorded_at`.
public struct RecordedEvent: Sendable, Equatable {
    public var position: Int64
    public var recordedAt: Timestamp
    public var event: Event

    public init(position: Int64, recordedAt: Timestamp, event: Event) {
        self.position = position
        self.recordedAt = recordedAt
        self.event = event
    }

    /// When it happened: `occurred_at` if the client gave one, else `recorded_at`.
    public var occurredAt: Timestamp { event.occurredInstant ?? recordedAt }
}
