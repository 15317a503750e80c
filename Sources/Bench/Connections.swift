import EtcdClient
import Foundation
import Synchronization
public import GRPCCore
public import GRPCNIOTransportHTTP2Posix

/// The benchmark's gRPC connections: `count` HTTP/2 connections spread round-robin over the
/// endpoints, as etcd's benchmark tool spreads `--conns`. Client `i` uses connection `i % count`.
public final class Connections: Sendable {
    public typealias Transport = HTTP2ClientTransport.Posix

    public let endpoints: [String]
    private let clients: [GRPCClient<Transport>]
    private let runners: [Task<Void, Never>]

    public init(endpoints: [String], count: Int) throws {
        precondition(!endpoints.isEmpty && count > 0)
        self.endpoints = endpoints
        var clients: [GRPCClient<Transport>] = []
        for i in 0..<count {
            let (host, port) = try Self.parse(endpoints[i % endpoints.count])
            let transport = try HTTP2ClientTransport.Posix(
                target: .ipv4(address: host, port: port), transportSecurity: .plaintext,
                config: .defaults { c in
                    c.connection.keepalive = .init(time: .seconds(10), timeout: .seconds(5), allowWithoutCalls: true)
                    c.channelDebuggingCallbacks.onCreateTCPConnection = ServerPingAnswerer.install
                    c.backoff = .init(initial: .milliseconds(50), max: .seconds(1), multiplier: 2, jitter: 0.2)
                })
            clients.append(GRPCClient(transport: transport))
        }
        self.clients = clients
        runners = clients.map { c in Task { try? await c.runConnections() } }
    }

    public var count: Int { clients.count }

    /// The lean unary connections (same layout as the gRPC clients), made by `connectUnary`.
    private let unaryConnections = Mutex<[UnaryConnection]>([])

    /// Opens the unary connections the request workloads use (see `UnaryConnection`).
    public func connectUnary() async throws {
        var made: [UnaryConnection] = []
        for i in 0..<clients.count {
            let (host, port) = try Self.parse(endpoints[i % endpoints.count])
            do {
                made.append(try await UnaryConnection.connect(host: host, port: port))
            } catch {
                for m in made { await m.close() }
                throw BenchError.invalid("cannot connect to \(endpoints[i % endpoints.count]): \(error)")
            }
        }
        unaryConnections.withLock { $0 = made }
    }

    /// The unary connection client `i` uses.
    public func unary(_ i: Int) -> UnaryConnection {
        unaryConnections.withLock { $0[i % $0.count] }
    }

    /// The connection client `i` uses.
    public func client(_ i: Int) -> GRPCClient<Transport> { clients[i % clients.count] }

    /// Closes every connection and waits until they are closed.
    public func close() async {
        for u in unaryConnections.withLock({ $0 }) { await u.close() }
        for c in clients { c.beginGracefulShutdown() }
        for r in runners { await r.value }
    }

    /// `host:port` or `http://host:port` (etcdctl's forms) as an IPv4 address and port.
    public static func parse(_ endpoint: String) throws -> (host: String, port: Int) {
        var s = Substring(endpoint.trimmingCharacters(in: .whitespaces))
        if s.hasPrefix("http://") { s = s.dropFirst(7) }
        if s.hasPrefix("https://") {
            throw BenchError.invalid("endpoint '\(endpoint)': TLS is not supported by capstan bench yet")
        }
        guard let colon = s.lastIndex(of: ":"), let port = Int(s[s.index(after: colon)...]), (1...65535).contains(port) else {
            throw BenchError.invalid("endpoint '\(endpoint)' is not host:port")
        }
        let host = String(s[..<colon])
        return (host == "localhost" ? "127.0.0.1" : host, port)
    }
}

public enum BenchError: Error, CustomStringConvertible, Equatable {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let s): s
        }
    }
}
