import RecoveryDomain

/// One row of the `events` table, ready to write: its position in the chain,
/// the columns SQL users query by, and the canonical payload the chain covers.
public struct EventRow: Sendable, Equatable {
    public var position: Int64
    public var eventID: EventID
    public var type: String
    public var caseID: String?
    public var agentID: String
    public var recordedAt: Timestamp
    public var payload: [UInt8]
    /// SHA-256 of the canonical client fields (idempotency's comparison).
    public var contentDigest: [UInt8]

    public init(
        position: Int64, eventID: EventID, type: String, caseID: String?, agentID: String, recordedAt: Timestamp,
        payload: [UInt8], contentDigest: [UInt8]
    ) {
        self.position = position
        self.eventID = eventID
        self.type = type
        self.caseID = caseID
        self.agentID = agentID
        self.recordedAt = recordedAt
        self.payload = payload
        self.contentDigest = contentDigest
    }

    /// The row of a recorded domain event, with its canonical payload (made
    /// from the event's content). `contentDigest`, when the caller has it
    /// already, saves computing it again. `recordedAtText`, when given, is
    /// `recorded.recordedAt` written out (the events of a batch share it).
    public init(_ recorded: RecordedEvent, contentDigest: [UInt8]? = nil, recordedAtText: String? = nil) {
        let recordedAtText = recordedAtText ?? recorded.recordedAt.description
        self.init(
            position: recorded.position, eventID: recorded.event.eventID, type: recorded.event.type.rawValue,
            caseID: recorded.event.caseID, agentID: recorded.event.agentID, recordedAt: recorded.recordedAt,
            payload: EventCodec.payload(of: recorded, recordedAtText: recordedAtText),
            contentDigest: contentDigest ?? HashChain.digest(recorded.event.content))
    }
}
