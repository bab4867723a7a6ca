import Foundation
import RecoveryWire

/// One or more recoveryd servers (`RECOVERYD_SERVER=a:7411,b:7411`,
/// docs/OPERATIONS.md, "High availability and scale"): a writer and its standbys or followers. A client moves to
/// the next when one refuses (`ERR read_only`, `ERR unavailable`) or
/// disappears.
public struct ServerList: Sendable, Equatable {
    public struct Address: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    public var addresses: [Address]

    /// Parses `HOST:PORT[,HOST:PORT…]` (IPv6 hosts in brackets).
    public init(_ text: String) throws {
        addresses = try text.split(separator: ",").map { item in
            let entry = item.trimmingCharacters(in: .whitespaces)
            guard let colon = entry.lastIndex(of: ":"), let port = Int(entry[entry.index(after: colon)...]), (1...65_535).contains(port) else {
                throw ClientError("a server must be HOST:PORT, not \(entry)")
            }
            var host = String(entry[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { throw ClientError("a server must be HOST:PORT, not \(entry)") }
            return Address(host: host, port: port)
        }
        guard !addresses.isEmpty else { throw ClientError("no server given") }
    }

    /// A connection that said `HELLO`, and the answer.
    public struct Session {
        public var connection: LineConnection
        public var hello: String
        public var address: Address
    }

    /// Connects to each server in turn and says `HELLO`. With `writer`, a
    /// server whose `HELLO` says it is a standby or follower is passed over
    /// while another remains; otherwise the first that answers is used. An
    /// unknown token ends the search (it is unknown everywhere).
    public func connect(token: String, tls: ClientTLS?, timeoutSeconds: Int, writer: Bool) async throws -> Session {
        var failures: [String] = []
        var fallback: Session?
        for address in addresses {
            do {
                let connection = try await LineConnection(host: address.host, port: address.port, timeoutSeconds: timeoutSeconds, tls: tls)
                let hello = try await connection.request("HELLO \(token)")
                if case .error(let code, let message) = try Answer(hello) {
                    if code == "auth_required" { throw ServerRefusal(code: code, message: message) }
                    failures.append("\(address): \(code) \(message)")
                    continue
                }
                let session = Session(connection: connection, hello: hello, address: address)
                let mode = (try? Answer(hello).decode(Reply.Hello.self))?.mode ?? "writer"
                if !writer || mode == "writer" { return session }
                if fallback == nil { fallback = session }
                failures.append("\(address): a \(mode)")
            } catch let refusal as ServerRefusal {
                throw refusal
            } catch {
                failures.append("\(address): \(error)")
            }
        }
        if let fallback { return fallback }
        throw ClientError("no server answered: " + failures.joined(separator: "; "))
    }
}
