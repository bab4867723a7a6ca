import Foundation
import NIOSSL
import RecoveryWire


/// What a client needs to speak TLS to recoveryd (docs/OPERATIONS.md, "TLS"):
/// the CA that signed the server's certificate and, for mutual TLS, its own
/// certificate and key (PEM files).
public struct ClientTLS: Sendable {
    public var caFile: String
    public var certificateFile: String?
    public var keyFile: String?
    /// The name the server's certificate must carry (default: the host connected to).
    public var serverName: String?

    public init(caFile: String, certificateFile: String? = nil, keyFile: String? = nil, serverName: String? = nil) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.serverName = serverName
    }

    func context() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        do {
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            if let certificateFile, let keyFile {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            } else if certificateFile != nil || keyFile != nil {
                throw ClientError("a client certificate needs both its certificate and its key")
            }
            return try NIOSSLContext(configuration: configuration)
        } catch let error as ClientError {
            throw error
        } catch {
            throw ClientError("cannot load the TLS files (\(caFile)\(certificateFile.map { ", \($0)" } ?? "")): \(error)")
        }
    }
}

