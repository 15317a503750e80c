import CoreMetrics
import EtcdAPI
import EtcdWire
import Foundation
import GRPCServer
public import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Prometheus
import Raft
public import ServiceLifecycle
import Storage
import StoreServer

/// A failure that stops a store node before or while it serves, said as one line for the
/// operator (`cannot listen for peers on 127.0.0.1:2380: ...`).
public struct StoreNodeError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One store member as a process runs it: the member with its durable log, its peer
/// transport, the client port (the etcd v3 API over gRPC), metrics and health, the periodic
/// jobs (auto-compaction, the consistency check). A `Service`: it serves until its service
/// group shuts down gracefully (SIGINT/SIGTERM), the member is removed from the cluster, or the
/// client port ends; then it stops everything in order.
public final class StoreNode: Service, Sendable {
    public let config: StoreNodeConfig
    let logger: Logger

    public init(config: StoreNodeConfig, logger: Logger? = nil) {
        self.config = config
        var base = logger ?? Logger(label: "capstan.store")
        base[metadataKey: "member"] = "\(config.name)"
        self.logger = base
    }

    var memberDirectory: String { "\(config.dataDirectory)/member" }

    public func run() async throws {
        let tls = try makeTLS()
        let identity = try await resolveIdentity(peerClientTLS: tls.peerClient)
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let parts = try await start(identity: identity, tls: tls, loops: loops)
        defer {
            parts.compactor?.stop()
            parts.checker?.stop()
            parts.faults?.stop()
            parts.metrics?.shutdown()
        }
        await serve(parts)
        // The member first: stopping fails the calls still waiting on it, whose answers go to
        // the client port's loop (shut down first, NIO refused them with an error line each).
        parts.member.stop()
        parts.peers.shutdown()
        try? await loops.shutdownGracefully()
    }

    /// The TLS contexts, made first: a certificate that cannot be used stops the node before it starts.
    struct TLSContexts {
        var client: NIOSSLContext?
        var peerServer: NIOSSLContext?
        var peerClient: NIOSSLContext?
    }

    func makeTLS() throws -> TLSContexts {
        do {
            return TLSContexts(
                client: try config.clientTLS?.serverContext(applicationProtocols: ["h2"]),
                peerServer: config.peerListenSecure ? try config.peerTLS?.serverContext() : nil,
                peerClient: try config.peerTLS?.clientContext())
        } catch {
            throw StoreNodeError("\(error)")
        }
    }

    /// What the node knows of itself before the member starts.
    struct Identity {
        var ids: NodeIdentity
        /// A member added to a running cluster: the members the cluster told it of.
        var join: Bool
        var known: [ClusterMember]
    }

    /// A restart keeps the IDs the member was created with; a member joining a running cluster
    /// asks the others who it is; a new one derives them from the flags. Written down before
    /// the member starts.
    func resolveIdentity(peerClientTLS: NIOSSLContext?) async throws -> Identity {
        let path = "\(memberDirectory)/identity"
        var identity = Identity(
            ids: NodeIdentity.derived(
                name: config.name, cluster: config.initialCluster,
                token: config.initialClusterToken),
            join: false, known: [])
        if FileManager.default.fileExists(atPath: "\(memberDirectory)/wal") {
            if let saved = NodeIdentity.read(path) { identity.ids = saved }
        } else if config.joinsExistingCluster {
            let others = config.initialCluster.filter { $0.key != config.name }.flatMap(\.value).compactMap(Self.peerAddress)
            logger.info("joining the cluster through \(others.map(\.description).joined(separator: ","))")
            do {
                let found = try await PeerTransport.discover(
                    peerURLs: config.initialCluster[config.name] ?? [], at: others,
                    tls: peerClientTLS)
                identity = Identity(
                    ids: NodeIdentity(memberID: found.memberID.rawValue, clusterID: found.clusterID),
                    join: true, known: found.members)
            } catch {
                throw StoreNodeError("cannot join the cluster: \(error)")
            }
        }
        do {
            try FileManager.default.createDirectory(atPath: memberDirectory, withIntermediateDirectories: true)
            try identity.ids.writeIfAbsent(path)
        } catch {
            throw StoreNodeError("cannot write \(path): \(error.localizedDescription)")
        }
        return identity
    }

    /// The member's configuration from the node's: the Raft node ID is the etcd member ID, so
    /// Status can report the leader as etcd does.
    func memberConfig(
        _ identity: Identity, loop: any EventLoop, disk: SlowDiskFileSystem,
        registry: PrometheusCollectorRegistry
    ) -> MemberConfig {
        let initial = NodeIdentity.initialMembers(config.initialCluster, token: config.initialClusterToken)
        var member = MemberConfig(
            id: NodeID(identity.ids.memberID), initialMembers: initial.map(\.id),
            dataDirectory: memberDirectory, watchEncoder: EtcdWatchEncoder())
        member.bootstrapMembers = initial
        member.join = identity.join
        member.plantedBugs = config.plantedBugs
        if config.faultControlPath != nil { member.fileSystem = disk }
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = MemberMetrics.durationBuckets
        member.metrics = MemberMetrics(factory: factory)
        member.name = config.name
        member.clientURLs = config.advertiseClientURLs
        member.tick = .milliseconds(config.heartbeatMilliseconds)
        member.electionTicks = max(config.electionTimeoutMilliseconds / config.heartbeatMilliseconds, 2)
        member.limits.maxTxnOps = config.maxTxnOps
        member.snapshotCount = max(config.snapshotCount, 1)
        member.maxRequestBytes = config.maxRequestBytes
        // etcd's minimum lease TTL: one and a half election timeouts, in whole seconds rounded up.
        member.limits.minLeaseTTL = Int64((3 * config.electionTimeoutMilliseconds / 2 + 999) / 1000)
        if config.quotaBackendBytes > 0 { member.limits.quotaBytes = config.quotaBackendBytes }
        // One event loop runs the member's turns and serves its peer and client connections: a
        // request read from a client is proposed, sent to the peers, and answered on the thread
        // that read it (each hand-off between threads costs a wake-up; Member.swift).
        member.eventLoop = loop
        member.walWritesOnLoop = config.walWritesOnLoop
        member.logger = logger
        return member
    }

    /// The host and port an http or https URL names (`localhost` as 127.0.0.1): where the
    /// node listens and where it dials its peers.
    public static func hostPort(_ url: String) throws(StoreNodeError) -> (host: String, port: Int) {
        guard let u = URLComponents(string: url), let host = u.host, let port = u.port else {
            throw StoreNodeError("'\(url)' is not a URL with a host and a port")
        }
        guard u.scheme == "http" || u.scheme == "https" else { throw StoreNodeError("'\(url)': the scheme must be http or https") }
        return (host == "localhost" ? "127.0.0.1" : host, port)
    }

    /// Where a peer URL is dialled (https: over TLS), or nil when it is not a URL.
    static func peerAddress(_ url: String) -> PeerTransport.Address? {
        guard let (host, port) = try? hostPort(url) else { return nil }
        return .init(host: host, port: port, secure: url.hasPrefix("https://"))
    }

    /// Points the transport at every other member's first peer URL (removed members are
    /// forgotten by the caller, from the membership's removed IDs).
    static func connect(_ peers: PeerTransport, to members: [ClusterMember], selfID: NodeID) {
        for m in members where m.id != selfID {
            guard let address = m.peerURLs.first.flatMap(peerAddress) else { continue }
            peers.setPeer(m.id, address: address)
        }
    }
}
