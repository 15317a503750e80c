public import Logging
public import MVCC
public import StoreServer

/// Everything a store node is started with: etcd's member flags, parsed and checked (the
/// `capstan store` command turns flags into this; `capstan dev up` builds several).
public struct StoreNodeConfig: Sendable {
    public var name: String
    /// `<data-dir>`: the member's files are in `<data-dir>/member`, as etcd's.
    public var dataDirectory: String
    /// The first `--listen-client-urls` entry, as host and port (one listener today).
    public var clientListen: (host: String, port: Int)
    public var advertiseClientURLs: [String]
    public var peerListen: (host: String, port: Int)
    /// Whether the peer listener is https.
    public var peerListenSecure: Bool
    /// `--initial-cluster`: every member's name and peer URLs.
    public var initialCluster: [String: [String]]
    public var initialClusterToken: String
    /// `--initial-cluster-state existing`: a member added to a running cluster.
    public var joinsExistingCluster: Bool
    public var clientTLS: TLSFiles?
    public var peerTLS: TLSFiles?
    public var heartbeatMilliseconds: Int
    public var electionTimeoutMilliseconds: Int
    public var snapshotCount: Int
    /// 0: the default quota.
    public var quotaBackendBytes: Int64
    public var maxRequestBytes: Int
    public var maxTxnOps: Int
    public var autoCompaction: AutoCompactor.Mode?
    /// The first `--listen-metrics-urls` entry, when given.
    public var metricsListen: (host: String, port: Int)?
    public var watchProgressNotifyInterval: Duration
    /// nil: the periodic consistency check is off.
    public var corruptCheckInterval: Duration?
    public var plantedBugs: Set<PlantedBug>
    /// The robustness harness's fault file (hidden flag).
    public var faultControlPath: String?
    public var walWritesOnLoop: Bool
    /// How long the calls in flight get once a graceful shutdown begins (watch and keep-alive
    /// streams never end by themselves; etcd cuts them too).
    public var shutdownGrace: Duration = .seconds(2)
    public var logLevel: Logger.Level = .info

    public init(
        name: String, dataDirectory: String, clientListen: (host: String, port: Int), advertiseClientURLs: [String],
        peerListen: (host: String, port: Int), peerListenSecure: Bool, initialCluster: [String: [String]],
        initialClusterToken: String
    ) {
        self.name = name
        self.dataDirectory = dataDirectory
        self.clientListen = clientListen
        self.advertiseClientURLs = advertiseClientURLs
        self.peerListen = peerListen
        self.peerListenSecure = peerListenSecure
        self.initialCluster = initialCluster
        self.initialClusterToken = initialClusterToken
        joinsExistingCluster = false
        heartbeatMilliseconds = 100
        electionTimeoutMilliseconds = 1000
        snapshotCount = 100_000
        quotaBackendBytes = 0
        maxRequestBytes = 1_572_864
        maxTxnOps = 128
        watchProgressNotifyInterval = .seconds(600)
        plantedBugs = []
        walWritesOnLoop = false
    }
}
