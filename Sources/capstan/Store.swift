import ArgumentParser
import Dispatch
import EtcdAPI
import Foundation
import LeanGRPC
import MVCC
import NIOCore
import NIOPosix
import NIOSSL
import Prometheus
import Raft
import Storage
import StoreServer

/// `capstan store`: one store member, taking etcd's member flags with etcd's meanings.
struct Store: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a store member (etcd's member flags).",
        discussion: """
            Serves etcd's v3 API (KV, Watch and Maintenance today) to etcd clients, and talks to \
            the other members named in --initial-cluster over TCP on the peer URLs. The data \
            lives in <data-dir>/member, as etcd's does.
            """
    )

    @Option(help: "Human-readable name for this member.") var name = "default"
    @Option(name: .customLong("data-dir"), help: "Path to the data directory (default: <name>.etcd).") var dataDir: String?
    @Option(name: .customLong("listen-client-urls"), help: "URL to listen on for client traffic (https: TLS, with --cert-file and --key-file).")
    var listenClientURLs = "http://localhost:2379"
    @Option(name: .customLong("advertise-client-urls"), help: "Client URL to advertise.") var advertiseClientURLs = "http://localhost:2379"
    @Option(name: .customLong("listen-peer-urls"), help: "URL to listen on for peer traffic.") var listenPeerURLs = "http://localhost:2380"
    @Option(name: .customLong("initial-advertise-peer-urls"), help: "This member's peer URLs to advertise.")
    var initialAdvertisePeerURLs = "http://localhost:2380"
    @Option(name: .customLong("initial-cluster"), help: "Initial cluster configuration: name=peer-url,...")
    var initialCluster: String?
    @Option(name: .customLong("initial-cluster-token"), help: "Initial cluster token.") var initialClusterToken = "etcd-cluster"
    @Option(name: .customLong("initial-cluster-state"), help: "new or existing.") var initialClusterState = "new"
    @Option(name: .customLong("heartbeat-interval"), help: "Time (ms) of a heartbeat interval.") var heartbeatInterval = 100
    @Option(name: .customLong("election-timeout"), help: "Time (ms) for an election to time out.") var electionTimeout = 1000
    @Option(name: .customLong("snapshot-count"), help: "Applied entries between snapshots (each compacts the log).")
    var snapshotCount = 100_000
    @Option(name: .customLong("quota-backend-bytes"), help: "Raise the NOSPACE alarm when the store exceeds this size (0: 2 GiB).")
    var quotaBackendBytes: Int64 = 0
    @Option(name: .customLong("max-request-bytes"), help: "Maximum client request size in bytes.") var maxRequestBytes = 1_572_864
    @Option(name: .customLong("max-txn-ops"), help: "Maximum operations in one txn.") var maxTxnOps = 128
    @Option(name: .customLong("auto-compaction-mode"), help: "periodic or revision.") var autoCompactionMode = "periodic"
    @Option(name: .customLong("auto-compaction-retention"),
            help: "periodic: history to keep (e.g. 1h, 30m; a bare number is hours); revision: revisions to keep; 0 turns it off.")
    var autoCompactionRetention = "0"
    @Option(name: .customLong("experimental-corrupt-check-time"),
            help: "How often the leader compares HashKV with every member and raises CORRUPT on a mismatch (0s: never).")
    var corruptCheckTime = "0s"
    @Option(name: .customLong("listen-metrics-urls"), help: "URL to serve /metrics (Prometheus) and /health on (http only; TLS is not built for it).")
    var listenMetricsURLs: String?
    @Option(name: .customLong("experimental-watch-progress-notify-interval"),
            help: "How often watchers that asked for progress notifications get one (e.g. 10m, 5s).")
    var watchProgressNotifyInterval = "10m"
    @Flag(name: .customLong("experimental-wal-on-loop"),
          help: "Write and fsync the WAL on the member's event loop instead of a WAL thread: less CPU per write with many lightly loaded clients (no thread wake-ups per round), but the member's client and peer connections wait during each of its fsyncs.")
    var walOnLoop = false
    @Option(name: .customLong("cert-file"), help: "Client port: the server's TLS certificate (PEM).") var certFile: String?
    @Option(name: .customLong("key-file"), help: "Client port: the server's TLS private key (PEM).") var keyFile: String?
    @Option(name: .customLong("trusted-ca-file"), help: "Client port: the CA that signs client certificates (PEM).")
    var trustedCAFile: String?
    @Flag(name: .customLong("client-cert-auth"), help: "Client port: refuse clients without a certificate the trusted CA signed.")
    var clientCertAuth = false
    @Option(name: .customLong("peer-cert-file"), help: "Peer port: this member's TLS certificate (PEM), served and presented to peers.")
    var peerCertFile: String?
    @Option(name: .customLong("peer-key-file"), help: "Peer port: this member's TLS private key (PEM).") var peerKeyFile: String?
    @Option(name: .customLong("peer-trusted-ca-file"), help: "Peer port: the CA that signs the peers' certificates (PEM).")
    var peerTrustedCAFile: String?
    @Flag(name: .customLong("peer-client-cert-auth"), help: "Peer port: refuse peers without a certificate the peer CA signed.")
    var peerClientCertAuth = false
    @Option(name: .customLong("inject-bug"), help: .hidden) var injectBugs: [String] = []
    /// For the robustness harness: a file read every 50 ms whose words are the faults in force
    /// (`isolate`, `isolate-in`, `isolate-out`: cut off from the peers both ways or one way;
    /// `slow-disk=MS`: every fsync waits MS first).
    @Option(name: .customLong("fault-control"), help: .hidden) var faultControl: String?
    @Option(name: .customLong("logger"), help: "Accepted for etcd compatibility (zap); Capstan logs to standard error.") var logger = "zap"
    @Option(name: .customLong("log-outputs"), help: "Accepted for etcd compatibility.") var logOutputs = "stderr"

    func validate() throws {
        guard ["new", "existing"].contains(initialClusterState) else {
            throw ValidationError("--initial-cluster-state must be 'new' or 'existing', not '\(initialClusterState)'")
        }
        guard heartbeatInterval > 0, electionTimeout >= 5 * heartbeatInterval else {
            throw ValidationError("--election-timeout (\(electionTimeout) ms) must be at least 5 times --heartbeat-interval (\(heartbeatInterval) ms)")
        }
        guard maxTxnOps > 0, maxRequestBytes > 0, quotaBackendBytes >= 0 else {
            throw ValidationError("--max-txn-ops, --max-request-bytes and --quota-backend-bytes must be positive")
        }
        let cluster = try parseCluster()
        guard let mine = cluster[name] else {
            throw ValidationError("--initial-cluster does not name this member ('\(name)')")
        }
        let advertised = Self.urls(initialAdvertisePeerURLs)
        guard Set(mine) == Set(advertised) else {
            throw ValidationError("--initial-cluster gives \(name) the peer URLs \(mine.joined(separator: ",")), but "
                + "--initial-advertise-peer-urls says \(advertised.joined(separator: ","))")
        }
        for (_, urls) in cluster { for u in urls { _ = try Self.hostPort(u) } }
        for (flag, list) in [("--listen-client-urls", listenClientURLs), ("--listen-peer-urls", listenPeerURLs),
                             ("--listen-metrics-urls", listenMetricsURLs ?? "")] where Self.urls(list).count > 1 {
            throw ValidationError("\(flag) names \(Self.urls(list).count) URLs; listening on more than one is not supported yet "
                + "(use one address, e.g. http://0.0.0.0:PORT)")
        }
        _ = try Self.hostPort(Self.urls(listenClientURLs).first ?? "")
        _ = try Self.hostPort(Self.urls(listenPeerURLs).first ?? "")
        for u in Self.urls(advertiseClientURLs) { _ = try Self.hostPort(u) }
        if let m = listenMetricsURLs {
            let url = Self.urls(m).first ?? ""
            _ = try Self.hostPort(url)
            if Self.isSecure(url) { throw ValidationError("--listen-metrics-urls \(url): https is not served on the metrics port yet (use http)") }
        }
        _ = try clientTLSFiles()
        _ = try peerTLSFiles()
        _ = try plantedBugs()
        _ = try Self.duration(watchProgressNotifyInterval)
        _ = try autoCompaction()
        if corruptCheckTime != "0s" && corruptCheckTime != "0" { _ = try Self.duration(corruptCheckTime) }
    }

    /// The client port's certificates when it listens on https (etcd's flags); nil for http.
    func clientTLSFiles() throws -> TLSFiles? {
        let url = Self.urls(listenClientURLs).first ?? ""
        guard Self.isSecure(url) else {
            if clientCertAuth { throw ValidationError("--client-cert-auth needs an https --listen-client-urls (it is \(url))") }
            return nil
        }
        guard let certFile, let keyFile else {
            throw ValidationError("--listen-client-urls \(url) is https: give the server's certificate with --cert-file and --key-file")
        }
        return TLSFiles(certFile: certFile, keyFile: keyFile, trustedCAFile: trustedCAFile, clientCertAuth: clientCertAuth)
    }

    /// The peer certificates, when any peer URL (this member's or another's) is https.
    func peerTLSFiles() throws -> TLSFiles? {
        let listen = Self.urls(listenPeerURLs).first ?? ""
        let cluster = try parseCluster()
        let anySecure = Self.isSecure(listen) || cluster.values.joined().contains(where: Self.isSecure)
        guard anySecure else {
            if peerClientCertAuth { throw ValidationError("--peer-client-cert-auth needs https peer URLs (--listen-peer-urls is \(listen))") }
            return nil
        }
        guard let peerCertFile, let peerKeyFile else {
            throw ValidationError("peer URLs are https: give this member's certificate with --peer-cert-file and --peer-key-file")
        }
        return TLSFiles(certFile: peerCertFile, keyFile: peerKeyFile, trustedCAFile: peerTrustedCAFile,
                        clientCertAuth: peerClientCertAuth, flagPrefix: "peer-")
    }

    static func isSecure(_ url: String) -> Bool { url.hasPrefix("https://") }

    /// The bugs `--inject-bug` plants (hidden: for the robustness checkers' own tests).
    func plantedBugs() throws -> Set<PlantedBug> {
        Set(try injectBugs.map { name in
            guard let bug = PlantedBug(rawValue: name) else {
                throw ValidationError("--inject-bug: '\(name)' is not one of \(PlantedBug.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return bug
        })
    }

    /// The auto-compaction the flags ask for, or nil when it is off.
    func autoCompaction() throws -> AutoCompactor.Mode? {
        switch autoCompactionMode {
        case "periodic":
            if autoCompactionRetention == "0" { return nil }
            if let hours = Double(autoCompactionRetention) {
                guard hours > 0 else { throw ValidationError("--auto-compaction-retention must not be negative") }
                return .periodic(.milliseconds(Int64(hours * 3_600_000)))
            }
            return .periodic(try Self.duration(autoCompactionRetention))
        case "revision":
            guard let keep = Int64(autoCompactionRetention), keep >= 0 else {
                throw ValidationError("--auto-compaction-retention must be a number of revisions in revision mode, not '\(autoCompactionRetention)'")
            }
            return keep == 0 ? nil : .revision(keep)
        default:
            throw ValidationError("--auto-compaction-mode must be 'periodic' or 'revision', not '\(autoCompactionMode)'")
        }
    }

    /// Go's duration syntax as etcd's flags take it, for the common units: 500ms, 5s, 10m, 1h, 1h30m.
    static func duration(_ text: String) throws -> Duration {
        var total: Double = 0
        var rest = Substring(text)
        guard !rest.isEmpty else { throw ValidationError("'\(text)' is not a duration (e.g. 5s, 10m)") }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isLetter }
            rest = rest.dropFirst(unit.count)
            let scale: Double? = ["ms": 0.001, "s": 1, "m": 60, "h": 3600][String(unit)]
            guard let value = Double(number), let scale else { throw ValidationError("'\(text)' is not a duration (e.g. 5s, 10m)") }
            total += value * scale
        }
        guard total > 0 else { throw ValidationError("'\(text)' must be longer than zero") }
        return .milliseconds(Int64(total * 1000))
    }

    static func urls(_ list: String) -> [String] { list.split(separator: ",").map(String.init) }

    func parseCluster() throws -> [String: [String]] {
        try Self.parseCluster(initialCluster ?? "\(name)=\(initialAdvertisePeerURLs)")
    }

    /// `name=url,name=url,...` (a name may appear with several URLs).
    static func parseCluster(_ spec: String) throws -> [String: [String]] {
        var out: [String: [String]] = [:]
        for item in spec.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { throw ValidationError("--initial-cluster: '\(item)' is not name=url") }
            out[String(parts[0]), default: []].append(String(parts[1]))
        }
        return out
    }

    static func hostPort(_ url: String) throws -> (String, Int) {
        guard let u = URLComponents(string: url), let host = u.host, let port = u.port else {
            throw ValidationError("'\(url)' is not a URL with a host and a port")
        }
        guard u.scheme == "http" || u.scheme == "https" else { throw ValidationError("'\(url)': the scheme must be http or https") }
        return (host == "localhost" ? "127.0.0.1" : host, port)
    }

    /// FNV-1a: member and cluster IDs are opaque to clients, but must be stable and distinct.
    static func id(_ parts: [String]) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in parts.joined(separator: "\u{0}").utf8 {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h == 0 ? 1 : h
    }

    /// A member's ID, as etcd derives it: from its peer URLs and the cluster token.
    static func memberID(peerURLs: [String], token: String) -> UInt64 { id(peerURLs.sorted() + [token]) }

    func run() async throws {
        let stop = AsyncStream<Void>.makeStream()
        let sources = Self.onInterrupt { stop.continuation.yield() }
        try await serve(until: stop.stream)
        withExtendedLifetime(sources) {}
    }

    /// Runs the member until `stop` yields (or the server fails), then stops it cleanly.
    func serve(until stop: AsyncStream<Void>) async throws {
        let cluster = try parseCluster()
        let initial = cluster.map { name, urls in
            ClusterMember(id: NodeID(Self.memberID(peerURLs: urls, token: initialClusterToken)), name: name, peerURLs: urls)
        }
        let root = dataDir ?? "\(name).etcd"
        let memberDirectory = "\(root)/member"
        let identityPath = "\(memberDirectory)/identity"
        // TLS contexts first: a certificate that cannot be used stops the member before it starts.
        let clientTLS: NIOSSLContext?
        let peerServerTLS: NIOSSLContext?
        let peerClientTLS: NIOSSLContext?
        do {
            clientTLS = try clientTLSFiles()?.serverContext(applicationProtocols: ["h2"])
            let peerFiles = try peerTLSFiles()
            peerServerTLS = Self.isSecure(Self.urls(listenPeerURLs).first ?? "") ? try peerFiles?.serverContext() : nil
            peerClientTLS = try peerFiles?.clientContext()
        } catch {
            FileHandle.standardError.write(Data("capstan store: \(error)\n".utf8))
            throw ExitCode(1)
        }
        if clientTLS == nil, certFile != nil || keyFile != nil {
            FileHandle.standardError.write(Data("capstan store: \(name): --listen-client-urls is http: --cert-file and --key-file are ignored\n".utf8))
        }
        var memberID = Self.memberID(peerURLs: cluster[name] ?? [], token: initialClusterToken)
        // The cluster ID, as etcd's, follows from the initial members' IDs (and the token through them).
        var clusterID = Self.id(initial.map(\.id.rawValue).sorted().map(String.init))
        var join = false
        var known: [ClusterMember] = []
        if FileManager.default.fileExists(atPath: "\(memberDirectory)/wal") {
            // A restart: the IDs are the ones this member was created with, whatever the flags say now.
            if let saved = Self.readIdentity(identityPath) { (memberID, clusterID) = saved }
        } else if initialClusterState == "existing" {
            // A member added to a running cluster: ask the others who it is.
            let others = cluster.filter { $0.key != name }.flatMap(\.value).compactMap(Self.peerAddress)
            FileHandle.standardError.write(Data("capstan store: \(name): joining the cluster through \(others.map(\.description).joined(separator: ","))\n".utf8))
            do {
                let found = try await PeerTransport.discover(peerURLs: cluster[name] ?? [], at: others, tls: peerClientTLS)
                (memberID, clusterID, known, join) = (found.memberID.rawValue, found.clusterID, found.members, true)
            } catch {
                FileHandle.standardError.write(Data("capstan store: cannot join the cluster: \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
        do {
            try FileManager.default.createDirectory(atPath: memberDirectory, withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: identityPath) {
                try Data("member \(String(memberID, radix: 16))\ncluster \(String(clusterID, radix: 16))\n".utf8)
                    .write(to: URL(fileURLWithPath: identityPath), options: .atomic)
            }
        } catch {
            FileHandle.standardError.write(Data("capstan store: cannot write \(identityPath): \(error.localizedDescription)\n".utf8))
            throw ExitCode(1)
        }
        // The Raft node ID is the etcd member ID, so Status can report the leader as etcd does.
        var config = MemberConfig(id: NodeID(memberID), initialMembers: initial.map(\.id), dataDirectory: memberDirectory)
        config.bootstrapMembers = initial
        config.join = join
        config.plantedBugs = try plantedBugs()
        let disk = SlowDiskFileSystem()
        if faultControl != nil { config.fileSystem = disk }
        for bug in config.plantedBugs.sorted(by: { $0.rawValue < $1.rawValue }) {
            FileHandle.standardError.write(Data("capstan store: \(name): PLANTED BUG \(bug.rawValue): this member is wrong on purpose\n".utf8))
        }
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = MemberMetrics.durationBuckets
        config.metrics = MemberMetrics(factory: factory)
        config.name = name
        config.clientURLs = Self.urls(advertiseClientURLs)
        config.tick = .milliseconds(heartbeatInterval)
        config.electionTicks = max(electionTimeout / heartbeatInterval, 2)
        config.limits.maxTxnOps = maxTxnOps
        config.snapshotCount = max(snapshotCount, 1)
        config.maxRequestBytes = maxRequestBytes
        // etcd's minimum lease TTL: one and a half election timeouts, in whole seconds rounded up.
        config.limits.minLeaseTTL = Int64((3 * electionTimeout / 2 + 999) / 1000)
        if quotaBackendBytes > 0 { config.limits.quotaBytes = quotaBackendBytes }
        // What the member's parts have to say, on standard error with the member's name.
        let say: @Sendable (String) -> Void = { [name] line in FileHandle.standardError.write(Data("capstan store: \(name): \(line)\n".utf8)) }
        // One event loop runs the member's turns and serves its peer and client connections: a
        // request read from a client is proposed, sent to the peers, and answered on the thread
        // that read it (each hand-off between threads costs a wake-up; Member.swift).
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        config.eventLoop = loops.next()
        config.walWritesOnLoop = walOnLoop
        let peers = PeerTransport(id: NodeID(memberID), clusterID: clusterID, clientTLS: peerClientTLS, group: loops, log: say)
        if join { Self.connect(peers, to: known, selfID: NodeID(memberID)) }
        let faults = faultControl.map { FaultControl(path: $0, peers: peers, disk: disk, log: say) }
        defer { faults?.stop() }
        let (peerHost, peerPort) = try Self.hostPort(Self.urls(listenPeerURLs).first ?? "")
        do { _ = try await peers.listen(host: peerHost, port: peerPort, tls: peerServerTLS) } catch {
            FileHandle.standardError.write(Data("capstan store: cannot listen for peers on \(peerHost):\(peerPort): \(error)\n".utf8))
            throw ExitCode(1)
        }
        let member: Member
        let removed = AsyncStream<Void>.makeStream()
        do {
            member = try Member(config: config, transport: peers) { [memberID] members in
                Self.connect(peers, to: members.sorted, selfID: NodeID(memberID))
                for id in members.removed { peers.removePeer(id) }
                if members.removed.contains(NodeID(memberID)) { removed.continuation.yield() }
            }
        } catch {
            FileHandle.standardError.write(Data("capstan store: \(error)\n".utf8))
            peers.shutdown()
            throw ExitCode(1)
        }
        peers.setReceiver { member.receive($0) }
        peers.setFrameReceiver { member.receive($0, from: $1) }
        peers.setMembershipSource { member.members }
        let compactor = try autoCompaction().map { AutoCompactor(member: member, mode: $0) }
        compactor?.start()
        defer { compactor?.stop() }
        let checker = corruptCheckTime == "0s" || corruptCheckTime == "0" ? nil
            : ConsistencyChecker(member: member, interval: try Self.duration(corruptCheckTime), log: say)
        checker?.start()
        defer { checker?.stop() }
        peers.setRemovedHandler { removed.continuation.yield() }
        let identity = MemberIdentity(clusterID: clusterID, memberID: memberID, name: name)
        let (host, port) = try Self.hostPort(Self.urls(listenClientURLs).first ?? "")
        // The calls' handlers run on the client port's loop as well (see EventLoopTaskExecutor):
        // no thread hop between a connection and its calls.
        let clientLoops = loops
        var limits = LeanServer.Limits()
        // As etcd: gRPC takes up to 512 KiB more, so that a request over --max-request-bytes
        // gets etcd's "request is too large" from the member rather than gRPC's limit.
        limits.maxRequestMessageBytes = maxRequestBytes + 512 * 1024
        limits.maxBufferedRequestBytesPerConnection = max(limits.maxBufferedRequestBytesPerConnection, 4 * limits.maxRequestMessageBytes)
        let routes = EtcdRoutes.make(member: member, identity: identity,
                                     progressInterval: try Self.duration(watchProgressNotifyInterval)) { [initialClusterToken] urls in
            Self.id(urls.sorted() + [initialClusterToken, String(UInt64(Date().timeIntervalSince1970 * 1e9))])
        }
        let server: LeanServer
        do {
            let prepare = clientTLS.map { tls in { @Sendable channel in try TLSRejectionReporter.addServerTLS(tls, to: channel, report: say) } }
            server = try await LeanServer.bind(host: host, port: port, group: clientLoops, routes: routes, limits: limits,
                                               prepare: prepare)
        } catch {
            FileHandle.standardError.write(Data("capstan store: cannot listen for clients on \(host):\(port): \(error)\n".utf8))
            member.stop()
            peers.shutdown()
            throw ExitCode(1)
        }
        let announcement = "capstan store: member \(name) (\(String(memberID, radix: 16))) serving clients on"
        let dataDirectory = config.dataDirectory
        var metricsEndpoint: HTTPEndpoint?
        if let m = listenMetricsURLs {
            let (mhost, mport) = try Self.hostPort(Self.urls(m).first ?? "")
            do {
                let (endpoint, bound) = try await HTTPEndpoint.serve(host: mhost, port: mport) { path, _ in
                    await Self.metricsAndHealth(path: path, member: member, registry: registry)
                }
                metricsEndpoint = endpoint
                FileHandle.standardError.write(Data("capstan store: \(name): serving /metrics and /health on \(mhost):\(bound)\n".utf8))
            } catch {
                FileHandle.standardError.write(Data("capstan store: cannot listen for metrics on \(mhost):\(mport): \(error)\n".utf8))
                member.stop()
                peers.shutdown()
                throw ExitCode(1)
            }
        }
        defer { metricsEndpoint?.shutdown() }
        FileHandle.standardError.write(Data("\(announcement) \(clientTLS == nil ? "" : "https://")\(host):\(server.port), data in \(dataDirectory)\n".utf8))
        enum Finished { case served, stopping, forced }
        await withTaskGroup(of: Finished.self) { group in
            group.addTask {
                await server.waitUntilClosed()
                return .served
            }
            group.addTask {
                for await _ in stop { break }
                server.beginGracefulShutdown()
                // Watches and keep-alive streams never end by themselves: like etcd, give the
                // calls in flight a moment, then stop the rest (cancelled if the server ends first).
                try? await Task.sleep(for: .seconds(2))
                return Task.isCancelled ? .stopping : .forced
            }
            group.addTask { [name] in
                for await _ in removed.stream {
                    // As etcd does: a removed member stops serving.
                    FileHandle.standardError.write(Data("capstan store: \(name): the member has been permanently removed from the cluster\n".utf8))
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
        // The member first: stopping fails the calls still waiting on it, whose answers go to
        // the client port's loop (shut down first, NIO refused them with an error line each).
        member.stop()
        peers.shutdown()
        try? await clientLoops.shutdownGracefully()
    }

    /// Turns SIGINT and SIGTERM into calls of `handler` (keep the returned sources alive).
    static func onInterrupt(_ handler: @escaping @Sendable () -> Void) -> [any DispatchSourceSignal] {
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        return [SIGINT, SIGTERM].map { sig in
            let source = DispatchSource.makeSignalSource(signal: sig)
            source.setEventHandler(handler: handler)
            source.resume()
            return source
        }
    }

    /// `/metrics`: the Prometheus text format. `/health`: etcd's answer — unhealthy (503) with an
    /// alarm raised, without a leader, or when a linearizable read fails (the member's request
    /// timeout bounds the wait).
    static func metricsAndHealth(path: String, member: Member, registry: PrometheusCollectorRegistry) async -> HTTPEndpoint.Response {
        switch path {
        case "/metrics":
            member.refreshMetrics()
            return .init(status: 200, contentType: "text/plain; version=0.0.4", body: registry.emitToBuffer())
        case "/health":
            func answer(_ healthy: Bool, _ reason: String) -> HTTPEndpoint.Response {
                .init(status: healthy ? 200 : 503, contentType: "application/json",
                      body: Array("{\"health\":\"\(healthy)\",\"reason\":\"\(reason)\"}".utf8))
            }
            let status = member.status
            if let alarm = status.alarms.first { return answer(false, "ALARM \(alarm.alarm == .noSpace ? "NOSPACE" : "CORRUPT")") }
            if status.leader == nil { return answer(false, "RAFT NO LEADER") }
            do {
                _ = try await member.range(RangeRequest(key: Array("health".utf8)))
                return answer(true, "")
            } catch {
                return answer(false, "QGET ERROR:\(error)")
            }
        default:
            return .init(status: 404, contentType: "text/plain", body: Array("404 page not found\n".utf8))
        }
    }

    /// Reads `<data-dir>/member/identity` (member and cluster IDs in hex), or nil.
    static func readIdentity(_ path: String) -> (UInt64, UInt64)? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        var values: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let v = UInt64(parts[1], radix: 16) { values[String(parts[0])] = v }
        }
        guard let m = values["member"], let c = values["cluster"] else { return nil }
        return (m, c)
    }

    /// Points the transport at every other member's first peer URL (removed members are
    /// forgotten by the caller, from the membership's removed IDs).
    static func connect(_ peers: PeerTransport, to members: [ClusterMember], selfID: NodeID) {
        for m in members where m.id != selfID {
            guard let address = m.peerURLs.first.flatMap(peerAddress) else { continue }
            peers.setPeer(m.id, address: address)
        }
    }

    /// Where a peer URL is dialled (https: over TLS), or nil when it is not a URL.
    static func peerAddress(_ url: String) -> PeerTransport.Address? {
        guard let (host, port) = try? hostPort(url) else { return nil }
        return .init(host: host, port: port, secure: isSecure(url))
    }
}
