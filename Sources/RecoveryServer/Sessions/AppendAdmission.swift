import LineProtocol
import RecoveryDomain
import RecoveryWire

/// What an `APPEND` passes before it reaches the writer, on the connection's
/// loop: the event decodes (in the ledger's currency), the token's role may
/// send its type, and a token bound to a person records only as that person.
/// The daemon and the in-process server (RecoveryTesting) both admit this way.
package enum AppendAdmission {
    package static func admit(json: [UInt8], role: ClientRole, agent: String?, currency: String) -> Result<(Event, Authority), ProtocolError> {
        let event: Event
        switch EventCodec.decode(json: json, currency: currency) {
        case .failure(let rejection): return .failure(ProtocolError(rejection))
        case .success(let decoded): event = decoded
        }
        if let refusal = Permissions.check(event.body.type, by: role) ?? agent.flatMap({ Permissions.check(event, boundTo: $0) }) {
            return .failure(refusal)
        }
        return .success((event, agent.map(Authority.person) ?? .app))
    }
}
