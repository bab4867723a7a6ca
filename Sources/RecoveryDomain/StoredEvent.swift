/// An event as read back: its position, stored payload and chain hash.
public struct StoredEvent: Sendable, Equatable {
    public var position: Int64
    public var payload: [UInt8]
    public var hash: [UInt8]

    public init(position: Int64, payload: [UInt8], hash: [UInt8]) {
        self.position = position
        self.payload = payload
        self.hash = hash
    }
}
