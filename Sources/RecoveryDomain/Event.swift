/// An event as a client sent it, validated: the fields every event carries plus
/// its typed body. ``fields`` gives back exactly the client's fields (with
/// `event_id` in lowercase), the part of the payload the client owns.
///
/// The fields live in one shared, copy-on-write storage: an event passes
/// through many hands between its line and its receipt (the submission, the
/// decider, the rows, the writer's in-flight batch), and each copy of it is
/// then one reference to count, not one per text field.
public struct Event: Sendable, Equatable {
    private final class Storage: @unchecked Sendable {
        // Changed only through `mutable`, which first makes the storage
        // unique to the event changing it (copy on write).
        var eventID: EventID
        var agentID: String
        var caseID: String?
        var occurredAt: (text: String, instant: Timestamp)?
        var ref: String?
        var body: EventBody

        init(
            eventID: EventID, agentID: String, caseID: String?, occurredAt: (text: String, instant: Timestamp)?, ref: String?,
            body: EventBody
        ) {
            self.eventID = eventID
            self.agentID = agentID
            self.caseID = caseID
            self.occurredAt = occurredAt
            self.ref = ref
            self.body = body
        }

        func copy() -> Storage {
            Storage(eventID: eventID, agentID: agentID, caseID: caseID, occurredAt: occurredAt, ref: ref, body: body)
        }
    }

    private var storage: Storage

    /// The storage, made unique to this event first.
    private var mutable: Storage {
        mutating get {
            if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
            return storage
        }
    }

    public var eventID: EventID {
        get { storage.eventID }
        set { mutable.eventID = newValue }
    }
    public var agentID: String {
        get { storage.agentID }
        set { mutable.agentID = newValue }
    }
    public var caseID: String? {
        get { storage.caseID }
        set { mutable.caseID = newValue }
    }
    /// `occurred_at` as the client wrote it, and its instant.
    public var occurredAt: (text: String, instant: Timestamp)? {
        get { storage.occurredAt }
        set { mutable.occurredAt = newValue }
    }
    public var ref: String? {
        get { storage.ref }
        set { mutable.ref = newValue }
    }
    public var body: EventBody {
        get { storage.body }
        set { mutable.body = newValue }
    }

    public var type: EventType { storage.body.type }

    public init(
        eventID: EventID, agentID: String, caseID: String?, occurredAt: (text: String, instant: Timestamp)? = nil,
        ref: String? = nil, body: EventBody
    ) {
        storage = Storage(eventID: eventID, agentID: agentID, caseID: caseID, occurredAt: occurredAt, ref: ref, body: body)
    }

    public static func == (lhs: Event, rhs: Event) -> Bool {
        if lhs.storage === rhs.storage { return true }
        return lhs.eventID == rhs.eventID && lhs.agentID == rhs.agentID && lhs.caseID == rhs.caseID
            && lhs.occurredAt?.text == rhs.occurredAt?.text && lhs.ref == rhs.ref && lhs.body == rhs.body
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
    public var occurredAt: Timestamp { event.occurredAt?.instant ?? recordedAt }
}
