import ArgumentParser
import Foundation
import Logging
import MVCC
import ServiceLifecycle
import StoreNode
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
    @Option(
        name: .customLong("listen-client-urls"), help: "URL to listen on for client traffic (https: TLS, with --cert-file and --key-file).")
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
    @Option(
        name: .customLong("auto-compaction-retention"),
        help: "periodic: history to keep (e.g. 1h, 30m; a bare number is hours); revision: revisions to keep; 0 turns it off.")
    var autoCompactionRetention = "0"
    @Option(
        name: .customLong("experimental-corrupt-check-time"),
        help: "How often the leader compares HashKV with every member and raises CORRUPT on a mismatch (0s: never).")
    var corruptCheckTime = "0s"
    @Option(
        name: .customLong("listen-metrics-urls"),
        help: "URL to serve /metrics (Prometheus) and /health on (http only; TLS is not built for it).")
    var listenMetricsURLs: String?
    @Option(
        name: .customLong("experimental-watch-progress-notify-interval"),
        help: "How often watchers that asked for progress notifications get one (e.g. 10m, 5s).")
    var watchProgressNotifyInterval = "10m"
    @Flag(
        name: .customLong("experimental-wal-on-loop"),
        help:
            "Write and fsync the WAL on the member's event loop instead of a WAL thread: less CPU per write with many lightly loaded clients (no thread wake-ups per round), but the member's client and peer connections wait during each of its fsyncs."
    )
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
    @Option(name: .customLong("logger"), help: "Accepted for etcd compatibility (zap); Capstan logs lines to standard error.") var logger =
        "zap"
    @Option(name: .customLong("log-level"), help: "debug, info, warn, error, panic or fatal (etcd's levels).") var logLevel = "info"
    @Option(name: .customLong("log-outputs"), help: "Accepted for etcd compatibility.") var logOutputs = "stderr"

    func validate() throws {
        guard ["new", "existing"].contains(initialClusterState) else {
            throw ValidationError("--initial-cluster-state must be 'new' or 'existing', not '\(initialClusterState)'")
        }
        guard heartbeatInterval > 0, electionTimeout >= 5 * heartbeatInterval else {
            throw ValidationError(
                "--election-timeout (\(electionTimeout) ms) must be at least 5 times --heartbeat-interval (\(heartbeatInterval) ms)")
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
            throw ValidationError(
                "--initial-cluster gives \(name) the peer URLs \(mine.joined(separator: ",")), but "
                    + "--initial-advertise-peer-urls says \(advertised.joined(separator: ","))")
        }
        for (_, urls) in cluster { for u in urls { _ = try Self.hostPort(u) } }
        for (flag, list) in [
            ("--listen-client-urls", listenClientURLs), ("--listen-peer-urls", listenPeerURLs),
            ("--listen-metrics-urls", listenMetricsURLs ?? "")
        ] where Self.urls(list).count > 1 {
            throw ValidationError(
                "\(flag) names \(Self.urls(list).count) URLs; listening on more than one is not supported yet "
                    + "(use one address, e.g. http://0.0.0.0:PORT)")
        }
        _ = try Self.hostPort(Self.urls(listenClientURLs).first ?? "")
        _ = try Self.hostPort(Self.urls(listenPeerURLs).first ?? "")
        for u in Self.urls(advertiseClientURLs) { _ = try Self.hostPort(u) }
        if let m = listenMetricsURLs {
            let url = Self.urls(m).first ?? ""
            _ = try Self.hostPort(url)
            if Self.isSecure(url) {
                throw ValidationError("--listen-metrics-urls \(url): https is not served on the metrics port yet (use http)")
            }
        }
        _ = try clientTLSFiles()
        _ = try peerTLSFiles()
        _ = try plantedBugs()
        _ = try Self.duration(watchProgressNotifyInterval)
        _ = try autoCompaction()
        if corruptCheckTime != "0s" && corruptCheckTime != "0" { _ = try Self.duration(corruptCheckTime) }
        _ = try Self.logLevel(logLevel)
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
            if peerClientCertAuth {
                throw ValidationError("--peer-client-cert-auth needs https peer URLs (--listen-peer-urls is \(listen))")
            }
            return nil
        }
        guard let peerCertFile, let peerKeyFile else {
            throw ValidationError("peer URLs are https: give this member's certificate with --peer-cert-file and --peer-key-file")
        }
        return TLSFiles(
            certFile: peerCertFile, keyFile: peerKeyFile, trustedCAFile: peerTrustedCAFile,
            clientCertAuth: peerClientCertAuth, flagPrefix: "peer-")
    }

    static func isSecure(_ url: String) -> Bool { url.hasPrefix("https://") }

    /// The bugs `--inject-bug` plants (hidden: for the robustness checkers' own tests).
    func plantedBugs() throws -> Set<PlantedBug> {
        Set(
            try injectBugs.map { name in
                guard let bug = PlantedBug(rawValue: name) else {
                    throw ValidationError(
                        "--inject-bug: '\(name)' is not one of \(PlantedBug.allCases.map(\.rawValue).joined(separator: ", "))")
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
                throw ValidationError(
                    "--auto-compaction-retention must be a number of revisions in revision mode, not '\(autoCompactionRetention)'")
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

    /// `StoreNode.hostPort`, its refusal as the parser's error.
    static func hostPort(_ url: String) throws -> (host: String, port: Int) {
        do { return try StoreNode.hostPort(url) } catch { throw ValidationError(error.description) }
    }

    /// The node's configuration from the flags (already checked by `validate`).
    func nodeConfig() throws -> StoreNodeConfig {
        let client = try Self.hostPort(Self.urls(listenClientURLs).first ?? "")
        let peerURL = Self.urls(listenPeerURLs).first ?? ""
        var config = StoreNodeConfig(
            name: name, dataDirectory: dataDir ?? "\(name).etcd", clientListen: client,
            advertiseClientURLs: Self.urls(advertiseClientURLs), peerListen: try Self.hostPort(peerURL),
            peerListenSecure: Self.isSecure(peerURL), initialCluster: try parseCluster(),
            initialClusterToken: initialClusterToken)
        config.joinsExistingCluster = initialClusterState == "existing"
        config.clientTLS = try clientTLSFiles()
        config.peerTLS = try peerTLSFiles()
        config.heartbeatMilliseconds = heartbeatInterval
        config.electionTimeoutMilliseconds = electionTimeout
        config.snapshotCount = snapshotCount
        config.quotaBackendBytes = quotaBackendBytes
        config.maxRequestBytes = maxRequestBytes
        config.maxTxnOps = maxTxnOps
        config.autoCompaction = try autoCompaction()
        config.metricsListen = try listenMetricsURLs.map { try Self.hostPort(Self.urls($0).first ?? "") }
        config.watchProgressNotifyInterval = try Self.duration(watchProgressNotifyInterval)
        config.corruptCheckInterval = corruptCheckTime == "0s" || corruptCheckTime == "0" ? nil : try Self.duration(corruptCheckTime)
        config.plantedBugs = try plantedBugs()
        config.faultControlPath = faultControl
        config.walWritesOnLoop = walOnLoop
        config.logLevel = try Self.logLevel(logLevel)
        return config
    }

    /// etcd's `--log-level` names, as swift-log's levels.
    static func logLevel(_ name: String) throws -> Logger.Level {
        switch name {
        case "debug": .debug
        case "info": .info
        case "warn": .warning
        case "error": .error
        case "panic", "fatal": .critical
        default: throw ValidationError("--log-level must be one of debug, info, warn, error, panic, fatal, not '\(name)'")
        }
    }

    /// Flags that are given but do nothing with the others, said once at start.
    func warnings() -> [String] {
        guard (try? clientTLSFiles()) == nil, certFile != nil || keyFile != nil else { return [] }
        return ["--listen-client-urls is http: --cert-file and --key-file are ignored"]
    }

    func run() async throws {
        let config = try nodeConfig()
        Logs.bootstrap(level: config.logLevel)
        let node = StoreNode(config: config)
        var logger = Logger(label: "capstan.store")
        logger[metadataKey: "member"] = "\(name)"
        for line in warnings() { logger.warning("\(line)") }
        try await Logs.exitOnFailure(logger) {
            try await ServiceGroup(configuration: .serve([node], logger: logger)).run()
        }
    }
}
