import EtcdAPI
import Foundation
import GRPCServer
import Logging
import MVCC
import NIOCore
import NIOPosix
import Prometheus
import Raft
import ServiceLifecycle
import Storage
import StoreServer

extension StoreNode {
    /// What a running node is made of, stopped in `run` once `serve` returns.
    struct Parts {
        var member: Member
        var peers: PeerTransport
        var server: CallServer
        var metrics: HTTPEndpoint?
        var compactor: AutoCompactor?
        var checker: ConsistencyChecker?
        var faults: FaultControl?
        /// Yields once when this member is removed from the cluster.
        var removed: AsyncStream<Void>
    }

    /// Starts the peer transport, the member, the periodic jobs, the client port and the
    /// metrics port, in that order; a failure stops what had started and says what failed.
    func start(identity: Identity, tls: TLSContexts, loops: MultiThreadedEventLoopGroup) async throws -> Parts {
        for bug in config.plantedBugs.sorted(by: { $0.rawValue < $1.rawValue }) {
            logger.warning("PLANTED BUG \(bug.rawValue): this member is wrong on purpose")
        }
        let selfID = NodeID(identity.ids.memberID)
        let disk = SlowDiskFileSystem()
        let registry = PrometheusCollectorRegistry()
        let memberConfig = memberConfig(identity, loop: loops.next(), disk: disk, registry: registry)
        let peers = PeerTransport(
            id: selfID, clusterID: identity.ids.clusterID, clientTLS: tls.peerClient, group: loops,
            logger: logger)
        if identity.join { Self.connect(peers, to: identity.known, selfID: selfID) }
        let faults = config.faultControlPath.map { FaultControl(path: $0, peers: peers, disk: disk, logger: logger) }
        let (peerHost, peerPort) = config.peerListen
        do { _ = try await peers.listen(host: peerHost, port: peerPort, tls: tls.peerServer) } catch {
            faults?.stop()
            throw StoreNodeError("cannot listen for peers on \(peerHost):\(peerPort): \(error)")
        }
        let removed = AsyncStream<Void>.makeStream()
        let member: Member
        do {
            member = try Member(config: memberConfig, transport: peers) { members in
                Self.connect(peers, to: members.sorted, selfID: selfID)
                for id in members.removed { peers.removePeer(id) }
                if members.removed.contains(selfID) { removed.continuation.yield() }
            }
        } catch {
            faults?.stop()
            peers.shutdown()
            throw StoreNodeError("\(error)")
        }
        peers.setReceiver { member.receive($0) }
        peers.setFrameReceiver { member.receive($0, from: $1) }
        peers.setMembershipSource { member.members }
        peers.setRemovedHandler { removed.continuation.yield() }
        let compactor = config.autoCompaction.map { AutoCompactor(member: member, mode: $0, logger: logger) }
        compactor?.start()
        let checker = config.corruptCheckInterval.map { ConsistencyChecker(member: member, interval: $0, logger: logger) }
        checker?.start()
        let parts: Parts
        do {
            let server = try await listenForClients(member, identity, tls, loops)
            let metrics: HTTPEndpoint?
            do { metrics = try await listenForMetrics(member, registry: registry) } catch {
                server.close()
                throw error
            }
            parts = Parts(
                member: member, peers: peers, server: server, metrics: metrics, compactor: compactor, checker: checker,
                faults: faults, removed: removed.stream)
        } catch {
            compactor?.stop()
            checker?.stop()
            faults?.stop()
            member.stop()
            peers.shutdown()
            throw error
        }
        let scheme = tls.client == nil ? "" : "https://"
        logger.info(
            "member \(config.name) (\(String(identity.ids.memberID, radix: 16))) serving clients on \(scheme)\(config.clientListen.host):\(parts.server.port), data in \(memberDirectory)"
        )
        return parts
    }

    /// The client port: etcd's methods on the gRPC server, on the member's own event loop (the
    /// calls' handlers too, see `EventLoopTaskExecutor`: no thread hop between a connection
    /// and its calls).
    private func listenForClients(
        _ member: Member, _ identity: Identity, _ tls: TLSContexts,
        _ loops: MultiThreadedEventLoopGroup
    ) async throws -> CallServer {
        var limits = CallServer.Limits()
        // As etcd: gRPC takes up to 512 KiB more, so that a request over --max-request-bytes
        // gets etcd's "request is too large" from the member rather than gRPC's limit.
        limits.maxRequestMessageBytes = config.maxRequestBytes + 512 * 1024
        limits.maxBufferedRequestBytesPerConnection = max(limits.maxBufferedRequestBytesPerConnection, 4 * limits.maxRequestMessageBytes)
        let apiIdentity = MemberIdentity(clusterID: identity.ids.clusterID, memberID: identity.ids.memberID, name: config.name)
        let token = config.initialClusterToken
        let routes = EtcdRoutes.make(member: member, identity: apiIdentity, progressInterval: config.watchProgressNotifyInterval) { urls in
            NodeIdentity.id(urls.sorted() + [token, String(UInt64(Date().timeIntervalSince1970 * 1e9))])
        }
        let (host, port) = config.clientListen
        do {
            let logger = logger
            let prepare = tls.client.map { context in
                { @Sendable channel in try TLSRejectionReporter.addServerTLS(context, to: channel, logger: logger) }
            }
            return try await CallServer.bind(host: host, port: port, group: loops, routes: routes, limits: limits, prepare: prepare)
        } catch {
            throw StoreNodeError("cannot listen for clients on \(host):\(port): \(error)")
        }
    }

    /// `/metrics` and `/health` on `--listen-metrics-urls`, when given.
    private func listenForMetrics(_ member: Member, registry: PrometheusCollectorRegistry) async throws -> HTTPEndpoint? {
        guard let (host, port) = config.metricsListen else { return nil }
        do {
            let (endpoint, bound) = try await HTTPEndpoint.serve(host: host, port: port) { path, _ in
                await HealthEndpoint.answer(path: path, member: member, registry: registry)
            }
            logger.info("serving /metrics and /health on \(host):\(bound)")
            return endpoint
        } catch {
            throw StoreNodeError("cannot listen for metrics on \(host):\(port): \(error)")
        }
    }

    /// Serves until the service group shuts down gracefully (the calls in flight then get
    /// `shutdownGrace`: watches and keep-alive streams never end by themselves), the member is
    /// removed from the cluster (as etcd does, a removed member stops serving), or the client
    /// port ends on its own.
    func serve(_ parts: Parts) async {
        enum Finished { case served, stopping, forced }
        let (server, grace, logger) = (parts.server, config.shutdownGrace, logger)
        await withTaskGroup(of: Finished.self) { group in
            group.addTask {
                await server.waitUntilClosed()
                return .served
            }
            group.addTask {
                do { try await gracefulShutdown() } catch { return .stopping }
                server.beginGracefulShutdown()
                try? await Task.sleep(for: grace)
                return Task.isCancelled ? .stopping : .forced
            }
            group.addTask {
                for await _ in parts.removed {
                    logger.warning("the member has been permanently removed from the cluster")
                    server.beginGracefulShutdown()
                    break
                }
                return .stopping
            }
            // The server ends after a graceful shutdown or on its own: either way, stop waiting.
            while let finished = await group.next() {
                if finished == .forced { server.close() }
                if finished == .served { group.cancelAll() }
            }
        }
    }
}

/// `/metrics`: the Prometheus text format. `/health`: etcd's answer — unhealthy (503) with an
/// alarm raised, without a leader, or when a linearizable read fails (the member's request
/// timeout bounds the wait).
enum HealthEndpoint {
    static func answer(path: String, member: Member, registry: PrometheusCollectorRegistry) async -> HTTPEndpoint.Response {
        switch path {
        case "/metrics":
            member.refreshMetrics()
            return .init(status: 200, contentType: "text/plain; version=0.0.4", body: registry.emitToBuffer())
        case "/health":
            func health(_ healthy: Bool, _ reason: String) -> HTTPEndpoint.Response {
                .init(
                    status: healthy ? 200 : 503, contentType: "application/json",
                    body: Array("{\"health\":\"\(healthy)\",\"reason\":\"\(reason)\"}".utf8))
            }
            let status = member.status
            if let alarm = status.alarms.first { return health(false, "ALARM \(alarm.alarm == .noSpace ? "NOSPACE" : "CORRUPT")") }
            if status.leader == nil { return health(false, "RAFT NO LEADER") }
            do {
                _ = try await member.range(RangeRequest(key: Array("health".utf8)))
                return health(true, "")
            } catch {
                return health(false, "QGET ERROR:\(error)")
            }
        default:
            return .init(status: 404, contentType: "text/plain", body: Array("404 page not found\n".utf8))
        }
    }
}
