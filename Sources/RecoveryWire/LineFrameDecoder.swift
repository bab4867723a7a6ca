import NIOCore

/// One line as framed from the byte stream.
public enum LineFrame: Sendable, Equatable {
    /// The line's bytes, without LF or the CR before it.
    case line([UInt8])
    /// A line longer than the limit was discarded.
    case tooLong
}

/// The framing stage of a connection's pipeline, on both ends (the server's
/// sessions and the client's connections): splits the byte stream into
/// request lines on LF (dropping a CR before it) and enforces `max_line`
/// without ever holding an over-long line: once a line passes the limit its
/// bytes are dropped as they arrive, and one ``LineFrame/tooLong`` is passed on
/// when its LF comes. It remembers how far it has searched, so a line that
/// arrives a byte at a time is scanned once.
public struct LineFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = LineFrame

    public let maxLine: Int
    /// Bytes at the front of the buffer already searched for LF.
    private var scanned = 0
    /// The current line passed the limit; its bytes are being dropped.
    private var discarding = false

    public init(maxLine: Int) {
        precondition(maxLine > 0, "maxLine must be positive")
        self.maxLine = maxLine
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = nextFrame(&buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A last line without its LF is not a request.
        try decode(context: context, buffer: &buffer)
    }

    /// The next complete frame, consuming its bytes; nil when more are needed.
    public mutating func nextFrame(_ buffer: inout ByteBuffer) -> LineFrame? {
        let found = buffer.withUnsafeReadableBytes { bytes -> Int? in
            var index = scanned
            while index < bytes.count {
                if bytes[index] == 0x0A { return index }
                index += 1
            }
            return nil
        }
        guard let newline = found else {
            // Room for the limit plus a CR that a CRLF ending will strip.
            if discarding || buffer.readableBytes > maxLine + 1 {
                discarding = true
                buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                scanned = 0
            } else {
                scanned = buffer.readableBytes
            }
            return nil
        }
        scanned = 0
        if discarding {
            discarding = false
            buffer.moveReaderIndex(forwardBy: newline + 1)
            return .tooLong
        }
        var length = newline
        if length > 0, buffer.getInteger(at: buffer.readerIndex + length - 1, as: UInt8.self) == 0x0D { length -= 1 }
        guard length <= maxLine else {
            buffer.moveReaderIndex(forwardBy: newline + 1)
            return .tooLong
        }
        let line = buffer.readBytes(length: length)!
        buffer.moveReaderIndex(forwardBy: newline + 1 - length)
        return .line(line)
    }
}
