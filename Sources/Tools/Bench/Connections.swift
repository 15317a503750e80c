import Base
import Foundation

/// The benchmark's connections: `count` lean HTTP/2 connections (`UnaryConnection`) spread
/// round-robin over the endpoints, as etcd's benchmark tool spreads `--conns`. Client `i` uses
/// connection `i % count`.
public final class Connections: Sendable {
    public let endpoints: [String]
    /// Each endpoint as an IPv4 address and port, checked when the benchmark is set up.
    public let addresses: [(host: String, port: Int)]
    public let count: Int
    private let connections = Locked<[UnaryConnection]>([])

    public init(endpoints: [String], count: Int) throws {
        precondition(!endpoints.isEmpty && count > 0)
        self.endpoints = endpoints
        self.count = count
        addresses = try endpoints.map(Self.parse)
    }

    /// Opens the connections (before a workload starts).
    public func connect() async throws {
        var made: [UnaryConnection] = []
        for i in 0..<count {
            let (host, port) = addresses[i % addresses.count]
            do {
                made.append(try await UnaryConnection.connect(host: host, port: port))
            } catch {
                for m in made { await m.close() }
                throw BenchError.invalid("cannot connect to \(endpoints[i % endpoints.count]): \(error)")
            }
        }
        connections.withLock { $0 = made }
    }

    /// The connection client `i` uses.
    public func connection(_ i: Int) -> UnaryConnection {
        connections.withLock { $0[i % $0.count] }
    }

    /// Closes every connection.
    public func close() async {
        for c in connections.withLock({ $0 }) { await c.close() }
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
