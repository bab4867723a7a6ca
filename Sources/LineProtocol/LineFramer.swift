/// Splits a byte stream into request lines (LF, with an optional CR before it)
/// and enforces the line limit without ever holding an over-long line: once a
/// line passes `maxLine` bytes its bytes are dropped as they arrive, and one
/// ``Frame/tooLong`` is reported when its LF comes.
public struct LineFramer: Sendable {
    public enum Frame: Sendable, Equatable {
        case line([UInt8])
        /// A line longer than the limit was discarded.
        case tooLong
    }

    public let maxLine: Int
    private var partial: [UInt8] = []
    private var discarding = false

    public init(maxLine: Int) {
        precondition(maxLine > 0, "maxLine must be positive")
        self.maxLine = maxLine
    }

    /// Bytes held for a line not yet complete (never more than `maxLine + 1`).
    public var buffered: Int { partial.count }

    /// Feeds the next chunk; returns the frames it completes, in order.
    public mutating func feed(_ chunk: some Collection<UInt8>) -> [Frame] {
        var frames: [Frame] = []
        var start = chunk.startIndex
        while start != chunk.endIndex {
            let newline = chunk[start...].firstIndex(of: 0x0A)
            let segment = chunk[start..<(newline ?? chunk.endIndex)]
            if !discarding {
                // Room for the limit plus a CR that a CRLF ending will strip.
                if partial.count + segment.count > maxLine + 1 {
                    discarding = true
                    partial.removeAll(keepingCapacity: false)
                } else {
                    partial.append(contentsOf: segment)
                }
            }
            guard let newline else { break }
            if !discarding, partial.last == 0x0D { partial.removeLast() }
            if discarding || partial.count > maxLine {
                frames.append(.tooLong)
            } else {
                frames.append(.line(partial))
            }
            discarding = false
            partial.removeAll(keepingCapacity: true)
            start = chunk.index(after: newline)
        }
        return frames
    }
}
