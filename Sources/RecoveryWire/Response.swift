import RecoveryDomain

/// One line the server sends: a final `OK`/`ERR`, or an `EVENT` of a stream.
public enum Response: Sendable, Equatable {
    case ok([String: JSONValue]?)
    case error(ProtocolError)
    /// A stored payload, sent byte for byte.
    case event([UInt8])
    /// An append's receipt: `OK {"duplicate":…,"hash":"…","position":…}`,
    /// written without building an object.
    /// A recorded compensation's also carries `"remaining"` and `"warning"`
    /// for the person charged (`spending`).
    case receipt(position: Int64, hash: [UInt8], duplicate: Bool, spending: Spending? = nil)

    public static func error(_ code: ErrorCode, _ message: String) -> Response { .error(ProtocolError(code, message)) }

    /// The line's bytes, LF-terminated. JSON is written in canonical form; an
    /// error message has any line breaks replaced so it stays one line.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        write(into: &out)
        return out
    }

    public func write(into out: inout [UInt8]) {
        switch self {
        case .ok(nil):
            out.append(contentsOf: "OK".utf8)
        case .ok(let object?):
            out.append(contentsOf: "OK ".utf8)
            CanonicalJSON.write(.object(object), into: &out)
        case .error(let error):
            out.append(contentsOf: "ERR \(error.code.rawValue) ".utf8)
            for byte in error.message.utf8 { out.append(byte == 0x0A || byte == 0x0D ? 0x20 : byte) }
        case .event(let payload):
            out.append(contentsOf: "EVENT ".utf8)
            out.append(contentsOf: payload)
        case .receipt(let position, let hash, let duplicate, let spending):
            out.append(contentsOf: (duplicate ? #"OK {"duplicate":true,"hash":""# : #"OK {"duplicate":false,"hash":""#).utf8)
            Hex.append(hash, to: &out)
            out.append(contentsOf: #"","position":"#.utf8)
            CanonicalJSON.writeInteger(position, into: &out)
            if let spending {
                out.append(contentsOf: #","remaining":"#.utf8)
                CanonicalJSON.writeInteger(spending.remaining, into: &out)
                out.append(contentsOf: (spending.warning ? #","warning":true"# : #","warning":false"#).utf8)
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(0x0A)
    }
}
