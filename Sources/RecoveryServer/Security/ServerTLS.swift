import NIOSSL

/// The listener's TLS (docs/OPERATIONS.md, "TLS"): its certificate chain and
/// key, and, for mutual TLS, the CA whose certificates clients must present.
/// TLS 1.2 and later only.
public struct ServerTLS: Sendable {
    public var certificateFile: String
    public var keyFile: String
    public var clientCAFile: String?

    public init(certificateFile: String, keyFile: String, clientCAFile: String? = nil) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.clientCAFile = clientCAFile
    }

    /// Reads the files; an error names the one that failed.
    public func context() throws -> NIOSSLContext {
        let configuration = try serverConfiguration()
        return try Self.load(certificateFile, "TLS certificate and key") { try NIOSSLContext(configuration: configuration) }
    }

    /// The same settings for a listener that makes its own context (the HTTP API's).
    public func serverConfiguration() throws -> TLSConfiguration {
        let chain = try Self.load(certificateFile, "TLS certificate (PEM)") { try NIOSSLCertificate.fromPEMFile(certificateFile) }
        let key = try Self.load(keyFile, "TLS private key (PEM)") { try NIOSSLPrivateKey(file: keyFile, format: .pem) }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        if let clientCAFile {
            let roots = try Self.load(clientCAFile, "client CA (PEM)") { try NIOSSLCertificate.fromPEMFile(clientCAFile) }
            configuration.trustRoots = .certificates(roots)
            // Required: a client without a certificate signed by this CA fails the handshake.
            configuration.certificateVerification = .noHostnameVerification
        }
        return configuration
    }

    private static func load<T>(_ file: String, _ what: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch { throw TLSSetupError(description: "cannot use \(file) as the \(what): \(error)") }
    }
}

public struct TLSSetupError: Error, CustomStringConvertible {
    public var description: String
}
