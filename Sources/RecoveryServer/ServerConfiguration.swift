import Crypto
import Foundation
import LedgerStore
import LineProtocol
import RecoveryWire
import RecoveryDomain

/// Everything the server needs to run: where to listen, how to reach
/// PostgreSQL, what a new ledger opens with, the protocol's limits and the
/// tokens. The ledger's settings are not here: they are in its log.
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// libpq conninfo or URI ("" uses the PG* environment).
    public var conninfo: String
    /// `serve`'s settings flags: a new ledger's opening events; on an existing
    /// ledger, compared with its log (a difference refuses the start).
    public var seed: LedgerSeed
    public var limits: Limits
    public var tokens: TokenFile
    /// Where ``tokens`` came from: read again on SIGHUP (nil: never).
    public var tokenFile: URL?
    /// What this daemon is (docs/OPERATIONS.md, "High availability").
    public enum Mode: String, Sendable {
        /// Holds the writer's lock and records appends.
        case writer
        /// On the writer's database: serves reads, takes over when the lock frees.
        case standby
        /// On a hot-standby replica: serves reads only, never writes.
        case follower
    }

    public var mode: Mode = .writer
    /// Where clients reach this daemon (`HOST:PORT`), as a standby names the
    /// writer in `ERR read_only`: `--advertise`, else the listen address.
    public var advertise: String?
    /// `--metrics-listen`: where `/metrics`, `/healthz` and `/readyz` are served (nil: nowhere).
    public var metrics: MetricsListen?
    /// TLS for the listener; nil: plain TCP.
    public var tls: ServerTLS?
    /// Signs heads (`HEAD`, and periodically while appends flow).
    public var signer: HeadSigner
    /// How often the head is signed and kept while it moves.
    public var headInterval: Duration
    /// `--head-witness`: where every signed head is also written, outside the database.
    public var headWitness: HeadWitness?
    /// Connections to PostgreSQL for queries (besides the writer's own).
    public var readConnections: Int
    /// The deadline of every wait on PostgreSQL.
    public var timeouts: PGTimeouts
    /// How long SIGTERM waits for connections to be answered and the writer to
    /// finish; what is left then is answered `ERR unavailable`.
    public var shutdownGrace: Duration

    public init(
        host: String = "127.0.0.1", port: Int = 7411, conninfo: String, seed: LedgerSeed = LedgerSeed(),
        limits: Limits = Limits(), tokens: TokenFile, tokenFile: URL? = nil, tls: ServerTLS? = nil,
        signer: HeadSigner = HeadSigner(ledger: "default", key: .init()), headInterval: Duration = .seconds(10), readConnections: Int = 4, timeouts: PGTimeouts = PGTimeouts(),
        shutdownGrace: Duration = .seconds(15)
    ) {
        self.timeouts = timeouts
        self.shutdownGrace = shutdownGrace
        self.host = host
        self.port = port
        self.conninfo = conninfo
        self.seed = seed
        self.limits = limits
        self.tokens = tokens
        self.tokenFile = tokenFile
        self.signer = signer
        self.tls = tls
        self.headInterval = headInterval
        self.readConnections = readConnections
    }
}

/// Where the HTTP API listens (docs/HTTP.md), with the line port's tokens,
/// roles, limits and TLS.
public struct HTTPListen: Sendable {
    public var host: String
    public var port: Int
    /// `--http-cors-origin`: the web origins whose pages may call the API
    /// (none by default: a browser then refuses cross-origin calls).
    public var corsOrigins: [String]

    public init(host: String, port: Int, corsOrigins: [String] = []) {
        self.host = host
        self.port = port
        self.corsOrigins = corsOrigins
    }
}

/// The server's version, as `HELLO` reports it.
public let recoverydVersion = "0.1.0"
