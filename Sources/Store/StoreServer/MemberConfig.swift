public import Base
public import Logging
public import MVCC
public import NIOCore
public import Raft
public import Storage

/// Delivers Raft messages to other members. Must not block: queue and return.
public protocol MessageTransport: Sendable {
    func send(_ messages: [Message])
    /// Sends a frame that is not a Raft message (lease calls and answers) to one peer.
    func send(_ frame: PeerFrame, to peer: NodeID)
    /// Writes what was sent and is still queued now, where that can be done without waiting
    /// (before a member blocks its loop on an fsync, so that followers sync in parallel).
    func flushQueued()
}

extension MessageTransport {
    public func flushQueued() {}
}

public struct MemberConfig: Sendable {
    public var id: NodeID
    /// Every voter of a new cluster (this member included); ignored when the data exists.
    public var initialMembers: [NodeID]
    public var dataDirectory: String
    /// Writes the watch hub's responses: the client port's wire format (the store knows none).
    public var watchEncoder: any WatchResponseEncoder
    /// etcd's `--heartbeat-interval` (one tick) and `--election-timeout` (in ticks here).
    public var tick: Duration = .milliseconds(100)
    public var electionTicks = 10
    public var heartbeatTicks = 1
    /// How long a client waits for its write or read before `timedOut` (etcd: request timed out).
    public var requestTimeout: Duration = .seconds(7)
    public var limits = MVCCLimits()
    public var watchLimits = WatchLimits()
    /// Proposals and reads waiting at once; more are refused (`overloaded`) rather than queued.
    public var maxPending = 100_000
    /// Applied entries between snapshots; each snapshot compacts the log (etcd's `--snapshot-count`).
    public var snapshotCount = 100_000
    /// The largest write (as it goes into the log) accepted (etcd's `--max-request-bytes`).
    public var maxRequestBytes = 1_572_864
    /// Where the member's metrics go (none by default).
    public var metrics: MemberMetrics = .none
    /// The initial members with their names and peer URLs (etcd's `--initial-cluster`): when
    /// set, the bootstrap membership entries carry them, and `initialMembers` is ignored.
    public var bootstrapMembers: [ClusterMember] = []
    /// What this member publishes through the log once it runs (etcd's `--name` and
    /// `--advertise-client-urls`); nothing is published while `clientURLs` is empty.
    public var name = ""
    public var clientURLs: [String] = []
    /// A member added to a running cluster, starting with no data: it writes no bootstrap
    /// membership and learns everything from the leader's log.
    public var join = false
    /// Bugs planted on purpose, for the robustness checkers' own tests (none by default).
    public var plantedBugs: Set<PlantedBug> = []
    /// Where the WAL and snapshots live (the robustness harness's slow disk wraps the real one).
    public var fileSystem: any FileSystem = PosixFileSystem()
    /// The event loop the member's turns run on. A process gives its member the loop that also
    /// serves its client and peer connections, so that a request read there is proposed, and its
    /// answer written, without a hand-off between threads (each costs a wake-up); nil: a loop of
    /// the member's own.
    public var eventLoop: (any EventLoop)? = nil
    /// The WAL is written and synced by the member's turn itself (no writer thread: a round
    /// costs no wake-ups, but the loop waits for each fsync); false: by a WAL thread.
    public var walWritesOnLoop = false
    /// The clock the member's deadlines, lease clock and retries follow (the system's; a test
    /// or simulation gives one it moves itself). The tick itself comes from the event loop.
    public var clock: any MonotonicClock = SystemClock()
    /// Seeds the member's randomness (election timeouts, where its ReadIndex round IDs start);
    /// nil: seeded from the member ID and the time, so members and restarts differ.
    public var randomSeed: UInt64? = nil
    /// Where the member reports what an operator should know (a failed snapshot); the node
    /// gives it the member's name as metadata.
    public var logger = Logger(label: "capstan.store")

    public init(id: NodeID, initialMembers: [NodeID], dataDirectory: String, watchEncoder: any WatchResponseEncoder) {
        self.id = id
        self.watchEncoder = watchEncoder
        self.initialMembers = initialMembers
        self.dataDirectory = dataDirectory
    }
}

public enum MemberError: Error, Equatable, Sendable, CustomStringConvertible {
    case mvcc(MVCCError)
    case noLeader
    case timedOut
    case stopped
    case overloaded
    case storage(String)
    case cluster(ClusterError)
    case requestTooLarge
    case timedOutDueToLeaderFail

    public var description: String {
        switch self {
        case .mvcc(let e): e.description
        case .noLeader: "etcdserver: no leader"
        case .timedOut: "etcdserver: request timed out"
        case .stopped: "etcdserver: server stopped"
        case .overloaded: "etcdserver: too many requests"
        case .storage(let s): "etcdserver: storage failure: \(s)"
        case .cluster(let e): e.rawValue
        case .requestTooLarge: "etcdserver: request is too large"
        case .timedOutDueToLeaderFail: "etcdserver: request timed out, possibly due to previous leader failure"
        }
    }
}

/// Why a membership change or a leader transfer was refused, as etcd words it.
public enum ClusterError: String, Error, Equatable, Sendable {
    case memberExists = "etcdserver: member ID already exist"
    case peerURLExists = "etcdserver: Peer URLs already exists"
    case badURLs = "etcdserver: given member URLs are invalid"
    case memberNotFound = "etcdserver: member not found"
    case notLearner = "etcdserver: can only promote a learner member"
    case learnerNotReady = "etcdserver: can only promote a learner member which is in sync with leader"
    case tooManyLearners = "etcdserver: too many learner members in cluster"
    case notLeader = "etcdserver: not leader"
    case badLeaderTransferee = "etcdserver: bad leader transferee"
    case leaderTransferTimedOut = "etcdserver: request timed out, leader transfer took too long"
}

/// The member's named limits and periods that are not etcd flags (those are in `MemberConfig`).
public enum MemberLimits {
    /// A ReadIndex round or a forwarded lease call unanswered this long is asked again (etcd: 500 ms).
    public static let readRetry: Duration = .milliseconds(500)
    /// A snapshot sent and not acknowledged within this many election timeouts is reported lost.
    public static let snapshotAckElectionTimeouts = 3
    /// An expired lease whose revoke was proposed and not applied within this is proposed again.
    public static let leaseRevokeRetry: Duration = .seconds(3)
    /// Expired leases the leader proposes to revoke in one tick.
    public static let revokesPerTick = 500
    /// A learner is ready for promotion once its log reaches this share of the leader's (etcd: 90%).
    public static let learnerReadyShare = 0.9
    /// Between attempts to publish this member's name and client URLs through the log.
    public static let publishRetry: Duration = .milliseconds(500)
    /// Between catch-up rounds for unsynced watchers while some remain.
    public static let catchUpInterval: Duration = .milliseconds(10)
}

public struct MemberStatus: Equatable, Sendable {
    public var leader: NodeID? = nil
    public var term: Term = 0
    public var role: Role = .follower
    public var appliedIndex: LogIndex = 0
    public var commitIndex: LogIndex = 0
    public var revision: Int64 = 1
    /// The state machine's accounted size (what Status reports as the database size).
    public var dbSize: Int64 = 0
    public var alarms: [AlarmMember] = []
}
