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
    /// (Concrete, not generic: it runs on every byte a connection sends.)
    public mutating func feed(_ chunk: UnsafeRawBufferPointer) -> [Frame] {
        var frames: [Frame] = []
        var start = 0
        while start < chunk.count {
            var newline = start
            while newline < chunk.count && chunk[newline] != 0x0A { newline += 1 }
            let complete = newline < chunk.count
            if !discarding {
                // Room for the limit plus a CR that a CRLF ending will strip.
                if partial.count + (newline - start) > maxLine + 1 {
                    discarding = true
                    partial.removeAll(keepingCapacity: false)
                } else {
                    partial.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[start..<newline]))
                }
            }
            guard complete else { break }
            if !discarding, partial.last == 0x0D { partial.removeLast() }
            if discarding || partial.count > maxLine {
                frames.append(.tooLong)
            } else {
                frames.append(.line(partial))
            }
            discarding = false
            partial.removeAll(keepingCapacity: true)
            start = newline + 1
        }
        return frames
    }

    public mutating func feed(_ bytes: [UInt8]) -> [Frame] {
        bytes.withUnsafeBytes { feed($0) }
    }
}
