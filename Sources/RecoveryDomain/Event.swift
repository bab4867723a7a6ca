/// An event as a client sent it, validated: the fields every event carries plus
/// its typed body. ``fields`` gives back exactly the client's fields (with
/// `event_id` in lowercase), the part of the payload the client owns.
public struct Event: Sendable, Equatable {
    public var eventID: EventID
    public var agentID: String
    public var caseID: String?
    /// `occurred_at` as the client wrote it, and its instant.
    public var occurredAt: (text: String, instant: Timestamp)?
    public var ref: String?
    public var body: EventBody

    public var type: EventType { body.type }

    public init(
        eventID: EventID, agentID: String, caseID: String?, occurredAt: (text: String, instant: Timestamp)? = nil,
        ref: String? = nil, body: EventBody
    ) {
        self.eventID = eventID
        self.agentID = agentID
        self.caseID = caseID
        self.occurredAt = occurredAt
        self.ref = ref
        self.body = body
    }

    public static func == (lhs: Event, rhs: Event) -> Bool {
        lhs.eventID == rhs.eventID && lhs.agentID == rhs.agentID && lhs.caseID == rhs.caseID
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
