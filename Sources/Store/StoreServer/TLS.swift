import Foundation
public import Logging
public import NIOCore
public import NIOSSL

/// One side's certificate files, as etcd's flags name them (`--cert-file --key-file
/// --trusted-ca-file --client-cert-auth`, and the `--peer-` equivalents), turned into TLS
/// contexts: TLS 1.2 at least, as etcd.
public struct TLSFiles: Sendable, Equatable {
    public var certFile: String
    public var keyFile: String
    /// The CA that signs the certificates this side accepts from the other end (nil: the
    /// system's trust roots).
    public var trustedCAFile: String?
    /// Whether a server asks every client for a certificate signed by the trusted CA and
    /// refuses the connection without one.
    public var clientCertAuth: Bool
    /// The flag names, for errors ("--cert-file" or "--peer-cert-file").
    public var flagPrefix: String

    public init(
        certFile: String, keyFile: String, trustedCAFile: String? = nil, clientCertAuth: Bool = false,
        flagPrefix: String = ""
    ) {
        self.certFile = certFile
        self.keyFile = keyFile
        self.trustedCAFile = trustedCAFile
        self.clientCertAuth = clientCertAuth
        self.flagPrefix = flagPrefix
    }

    /// A server's context: this side's certificate and key; with client-cert-auth, clients
    /// must present a certificate the trusted CA signed (no host name check: clients have none).
    public func serverContext(applicationProtocols: [String] = []) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try certificates(certFile, flag: "cert-file").map { .certificate($0) },
            privateKey: .privateKey(try privateKey()))
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = applicationProtocols
        if clientCertAuth {
            configuration.certificateVerification = .noHostnameVerification
            configuration.trustRoots = try trustRoots()
            configuration.sendCANameList = true
        }
        return try context(configuration)
    }

    /// A client's context: presents this side's certificate, and checks the server's against
    /// the trusted CA and the address dialled (an IP address must be among its IP SANs).
    public func clientContext(applicationProtocols: [String] = []) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateChain = try certificates(certFile, flag: "cert-file").map { .certificate($0) }
        configuration.privateKey = .privateKey(try privateKey())
        configuration.trustRoots = try trustRoots()
        configuration.certificateVerification = .fullVerification
        configuration.applicationProtocols = applicationProtocols
        return try context(configuration)
    }

    private func trustRoots() throws -> NIOSSLTrustRoots {
        guard let trustedCAFile else { return .default }
        return .certificates(try certificates(trustedCAFile, flag: "trusted-ca-file"))
    }

    private func certificates(_ path: String, flag: String) throws -> [NIOSSLCertificate] {
        try readable(path, flag: flag)
        let certificates: [NIOSSLCertificate]
        do { certificates = try NIOSSLCertificate.fromPEMFile(path) } catch {
            throw TLSFileError(flag: "--\(flagPrefix)\(flag)", path: path, problem: "not a PEM certificate (\(error))")
        }
        guard !certificates.isEmpty else {
            throw TLSFileError(flag: "--\(flagPrefix)\(flag)", path: path, problem: "holds no PEM certificate")
        }
        return certificates
    }

    private func privateKey() throws -> NIOSSLPrivateKey {
        try readable(keyFile, flag: "key-file")
        do { return try NIOSSLPrivateKey(file: keyFile, format: .pem) } catch {
            throw TLSFileError(flag: "--\(flagPrefix)key-file", path: keyFile, problem: "not a PEM private key (\(error))")
        }
    }

    private func readable(_ path: String, flag: String) throws {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw TLSFileError(flag: "--\(flagPrefix)\(flag)", path: path, problem: "no such readable file")
        }
    }

    private func context(_ configuration: TLSConfiguration) throws -> NIOSSLContext {
        do { return try NIOSSLContext(configuration: configuration) } catch {
            // BoringSSL checks that the key belongs to the certificate here.
            throw TLSFileError(
                flag: "--\(flagPrefix)cert-file/--\(flagPrefix)key-file", path: "\(certFile), \(keyFile)",
                problem: "cannot be used together (\(error))")
        }
    }
}

/// A certificate flag's file that cannot be used, with the flag and the path.
public struct TLSFileError: Error, CustomStringConvertible {
    public var flag: String
    public var path: String
    public var problem: String
    public var description: String { "\(flag) \(path): \(problem)" }
}

/// Reports a TLS handshake that failed on an accepted connection (a peer or client without a
/// valid certificate), as etcd logs "rejected connection", then lets the error go on.
public final class TLSRejectionReporter: ChannelInboundHandler, Sendable {
    public typealias InboundIn = ByteBuffer
    private let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    /// Makes an accepted connection a TLS server with `context`, handshake failures reported.
    /// Call on the channel's event loop (from a child channel initializer).
    public static func addServerTLS(_ context: NIOSSLContext, to channel: any Channel, logger: Logger) throws {
        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
        try channel.pipeline.syncOperations.addHandler(TLSRejectionReporter(logger: logger))
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOSSLError || error is BoringSSLError {
            let from = context.channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "an unknown address"
            logger.warning("rejected connection from \(from): TLS handshake failed: \(error)")
        }
        context.fireErrorCaught(error)
    }
}
