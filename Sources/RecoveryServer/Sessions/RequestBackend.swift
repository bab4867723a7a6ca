import LineProtocol
import RecoveryWire

/// What a listener of requests rather than lines (the HTTP API) asks beyond
/// a connection's ``SessionBackend``: the configuration it listens by, and
/// the `HELLO` answer for a token (a request says its token each time).
package protocol RequestBackend: SessionBackend {
    var configuration: ServerConfiguration { get }
    /// The token file's entry for `token`, remembered as `connection`'s (as
    /// ``SessionBackend/hello(_:token:)`` does, without building its answer).
    func authenticate(_ connection: ObjectIdentifier, token: String) -> TokenFile.Entry?
    /// `HELLO`'s answer for a token found with ``authenticate(_:token:)``.
    func helloAnswer(_ entry: TokenFile.Entry) -> Reply.Hello
    /// Whether `connection` has sent a known token (its `hello_timeout` is then over).
    func isAuthenticated(_ connection: ObjectIdentifier) -> Bool
}
