/// The keys an event can have, in canonical order (docs/EVENTS.md, "Canonical
/// form"), and the writing of an event made from typed values: known keys,
/// so no dictionary to sort. Gives the same bytes as
/// `CanonicalJSON.encode(.object(EventCodec.fields(of:)))`, which the tests
/// check for every type of event.
enum CanonicalEvent {
    /// Every key an event or its recorded payload can have, in canonical
    /// order (sorted by UTF-8 bytes).
    enum Key: Int, CaseIterable, CustomStringConvertible {
        case agentID, amount, approvedBy, baseline, caseID, category, channel, currency, customerID, dailyLimit, eventID,
            kind, name, note, occurredAt, overrideReason, position, reason, recordedAt, ref, resolved, reverses, role,
            satisfaction, severity, summary, toAgentID, type, value, wouldRecommend

        /// The key by its name in JSON.
        init?(name: String) {
            guard let key = Self.byName[name] else { return nil }
            self = key
        }

        private static let byName: [String: Key] = Dictionary(uniqueKeysWithValues: allCases.map { ($0.text, $0) })

        /// The key spelled by `b` (a key as it stands between its quotes,
        /// without escapes): picked by its length and a letter or two, then
        /// compared byte by byte, so no `String` is made and nothing is hashed.
        init?(utf8 b: UnsafeBufferPointer<UInt8>) {
            guard b.count >= 3 else { return nil }
            func ascii(_ character: Unicode.Scalar) -> UInt8 { UInt8(ascii: character) }
            let candidate: Key? =
                switch (b.count, b[0]) {
                case (3, _): .ref
                case (4, ascii("k")): .kind
                case (4, ascii("n")): b[1] == ascii("a") ? .name : .note
                case (4, ascii("r")): .role
                case (4, ascii("t")): .type
                case (5, ascii("v")): .value
                case (6, ascii("a")): .amount
                case (6, ascii("r")): .reason
                case (7, ascii("c")): b[1] == ascii("a") ? .caseID : .channel
                case (7, ascii("s")): .summary
                case (8, ascii("a")): .agentID
                case (8, ascii("b")): .baseline
                case (8, ascii("c")): b[1] == ascii("a") ? .category : .currency
                case (8, ascii("e")): .eventID
                case (8, ascii("p")): .position
                case (8, ascii("r")): b[2] == ascii("s") ? .resolved : .reverses
                case (8, ascii("s")): .severity
                case (11, ascii("a")): .approvedBy
                case (11, ascii("c")): .customerID
                case (11, ascii("d")): .dailyLimit
                case (11, ascii("o")): .occurredAt
                case (11, ascii("r")): .recordedAt
                case (11, ascii("t")): .toAgentID
                case (12, _): .satisfaction
                case (15, ascii("o")): .overrideReason
                case (15, ascii("w")): .wouldRecommend
                default: nil
                }
            guard let candidate else { return nil }
            let name = candidate.name
            guard name.utf8CodeUnitCount == b.count else { return nil }
            for i in 0..<b.count where name.utf8Start[i] != b[i] { return nil }
            self = candidate
        }

        var text: String { name.description }
        var description: String { text }

        var name: StaticString {
            switch self {
            case .agentID: "agent_id"
            case .amount: "amount"
            case .approvedBy: "approved_by"
            case .baseline: "baseline"
            case .caseID: "case_id"
            case .category: "category"
            case .channel: "channel"
            case .currency: "currency"
            case .customerID: "customer_id"
            case .dailyLimit: "daily_limit"
            case .eventID: "event_id"
            case .kind: "kind"
            case .name: "name"
            case .note: "note"
            case .occurredAt: "occurred_at"
            case .overrideReason: "override_reason"
            case .position: "position"
            case .reason: "reason"
            case .recordedAt: "recorded_at"
            case .ref: "ref"
            case .resolved: "resolved"
            case .reverses: "reverses"
            case .role: "role"
            case .satisfaction: "satisfaction"
            case .severity: "severity"
            case .summary: "summary"
            case .toAgentID: "to_agent_id"
            case .type: "type"
            case .value: "value"
            case .wouldRecommend: "would_recommend"
            }
        }
    }

    enum Value {
        case string(String)
        case eventID(EventID)
        case integer(Int64)
        case bool(Bool)
        case null
    }

    /// The members present, in canonical order.
    struct Members {
        private var slots: [(Key, Value)] = []

        init() { slots.reserveCapacity(14) }

        mutating func add(_ key: Key, _ value: Value) {
            // Keys come in nearly sorted: insert from the end.
            var index = slots.count
            while index > 0 && slots[index - 1].0.rawValue > key.rawValue { index -= 1 }
            slots.insert((key, value), at: index)
        }

        mutating func add(_ key: Key, _ value: String?) {
            if let value { add(key, .string(value)) }
        }

        mutating func add(_ key: Key, _ value: Int?) {
            if let value { add(key, .integer(Int64(value))) }
        }

        func write(into writer: inout ContentWriter) {
            for (key, value) in slots {
                switch value {
                case .string(let text): writer.string(key, text)
                case .eventID(let id): writer.eventID(key, id)
                case .integer(let number): writer.integer(key, number)
                case .bool(let flag): writer.bool(key, flag)
                case .null: writer.null(key)
                }
            }
        }
    }

    static func members(
        eventID: EventID, agentID: String, caseID: String?, occurredAt: String?, ref: String?, body: EventBody
    ) -> Members {
        var members = Members()
        members.add(.agentID, .string(agentID))
        members.add(.caseID, caseID)
        members.add(.eventID, .eventID(eventID))
        members.add(.occurredAt, occurredAt)
        members.add(.ref, ref)
        switch body {
        case .complaint(let c):
            members.add(.baseline, c.baseline)
            members.add(.category, .string(c.category))
            members.add(.channel, .string(c.channel.rawValue))
            members.add(.customerID, .string(c.customerID))
            members.add(.severity, .integer(Int64(c.severity)))
            members.add(.summary, c.summary)
        case .apology(let a):
            members.add(.note, a.note)
        case .compensation(let c):
            members.add(.amount, .integer(c.amount))
            members.add(.approvedBy, c.approvedBy)
            members.add(.currency, .string(c.currency))
            members.add(.kind, .string(c.kind.rawValue))
            members.add(.note, c.note)
            members.add(.overrideReason, c.overrideReason)
        case .compensationReversal(let r):
            members.add(.reason, .string(r.reason))
            members.add(.reverses, .eventID(r.reverses))
        case .escalation(let e):
            members.add(.reason, .string(e.reason))
            members.add(.toAgentID, .string(e.toAgentID))
        case .followUp(let f):
            members.add(.note, f.note)
            if let resolved = f.resolved { members.add(.resolved, .bool(resolved)) }
            members.add(.satisfaction, .integer(Int64(f.satisfaction)))
            members.add(.wouldRecommend, f.wouldRecommend)
        case .defection(let d):
            members.add(.reason, d.reason)
        case .allowance(let a):
            if let limit = a.dailyLimit { members.add(.dailyLimit, .integer(limit)) }
            members.add(.role, a.role?.rawValue)
        case .ledgerSetting(let s):
            members.add(.name, .string(s.name.rawValue))
            switch s.value {
            case .integer(let number): members.add(.value, .integer(number))
            case .text(let text): members.add(.value, .string(text))
            case .none: members.add(.value, .null)
            }
        }
        members.add(.type, .string(body.type.rawValue))
        return members
    }
}
