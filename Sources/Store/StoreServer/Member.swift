import Base
import Foundation
import Logging
public import MVCC
import NIOCore
import NIOPosix
import Raft
import Storage

/// One store member: the Raft core driven in turns on one event loop (`MemberConfig.eventLoop`),
/// the durable log on disk, the state machine it applies to, and the watch hub. Writes are
/// proposed, batched per turn, and answered when applied; linearizable reads waiting at one
/// moment share one ReadIndex round; serializable reads are served from the newest local view.
/// Thread-safe.
///
/// Who owns what: `Turns` (below) is touched only by the member's turns, on its loop; `Shared`
/// only under `lock`, by callers and turns alike; everything else is set once in `init`. The
/// roles live in their own files: client calls (Member+Requests), the turn and the Ready it
/// drives (Member+Turn), the log on disk and snapshots (Member+Durability), applying entries
/// (Member+Apply), reads (Member+Reads), leases and calls between members (Member+Leases),
/// membership and leader transfer (Member+Membership), and the waiters with their deadlines
/// (Member+Waiters).
public final class Member: @unchecked Sendable {
    public let config: MemberConfig
    /// `config.clock`: what the deadlines and timers follow.
    let clock: any MonotonicClock
    public let hub: WatchHub
    let transport: any MessageTransport
    let membershipObserver: @Sendable (ClusterMembers) -> Void
    let storage: DiskLogStorage
    let publisher: ViewPublisher
    /// Told when a watcher falls behind while none was (the catch-up task waits for it; one
    /// signal is kept, so none is lost while a round runs).
    let catchUpWanted: AsyncStream<Void>.Continuation
    let catchUpSignals: AsyncStream<Void>
    /// The loop the turns run on, and its group when the member made it itself.
    let loop: any EventLoop
    let ownLoop: MultiThreadedEventLoopGroup?
    /// Where this member's ReadIndex round IDs start (tests check that members' IDs never meet;
    /// see `ReadRounds`).
    public let firstReadRound: UInt64
    /// Rounds asked again because no answer came within `MemberLimits.readRetry` (counted on the
    /// loop; tests read it through `retriedReadRounds`).
    let retriedRounds = Locked(0)

    /// The state the turns own: read and written only on `loop`.
    let turns: Turns
    /// The state callers and turns share: read and written only under `lock` (a `Lock`, not a
    /// `Locked`, because `stop()` waits on its condition for the last turn).
    let lock = Lock()
    var shared = Shared()

    /// A class, not a struct: a turn changes two of its parts in one call (`reads.ask(raft:)`),
    /// which exclusive access to one stored struct would forbid.
    final class Turns {
        var raft: RaftNode
        var store: KVStore
        var cluster: ClusterMembers
        var reads: ReadRounds
        var leases = LeaseCalls()
        var changes = MembershipChanges()
        var durability = Durability()
        /// Writes that arrived while there was no leader: proposed again every turn until one is
        /// known or their callers' deadlines pass.
        var heldProposals: [(UInt64, [UInt8])] = []
        /// The term watch response headers carry, and the leader the metrics last counted.
        var headerTerm: Term = 0
        var lastLeader: NodeID = .none
        /// The lease IDs changed since `Shared.leaseIDs` was last set.
        var leasesChanged = true
        var tickTask: RepeatedTask?

        init(raft: RaftNode, store: KVStore, cluster: ClusterMembers, reads: ReadRounds) {
            self.raft = raft
            self.store = store
            self.cluster = cluster
            self.reads = reads
        }
    }

    struct Shared {
        var inbox: [Event] = []
        var writeWaiters: [UInt64: WriteWaiter] = [:]
        var pendingReads: [ReadWaiter] = []
        /// The sequence number of the last write proposed here. It starts from the wall clock (ms,
        /// shifted), as etcd's request IDs do, so entries a previous run of this member proposed,
        /// replayed from the log at start-up, never match a caller of this run.
        var nextRequest = UInt64(Date().timeIntervalSince1970 * 1000) << 20
        var stopping = false
        var stopped = false
        /// A turn is enqueued on the loop and has not yet taken the inbox.
        var turnScheduled = false
        var status = MemberStatus()
        var headerIDs: (cluster: UInt64, member: UInt64) = (0, 0)
        var members: [ClusterMember] = []
        var isLearner = false
        var leaseIDs: [Int64] = []
    }

    /// `membershipObserver` is called with the whole membership whenever an applied entry
    /// changes it (also while the log is replayed at start-up), on the member's loop thread —
    /// and once from `init`, on the calling thread, when the member starts from a snapshot that
    /// holds a membership (so the transport knows the peers before the first message).
    public init(
        config: MemberConfig, transport: any MessageTransport,
        membershipObserver: @escaping @Sendable (ClusterMembers) -> Void = { _ in }
    ) throws(MemberError) {
        self.config = config
        clock = config.clock
        (catchUpSignals, catchUpWanted) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.transport = transport
        self.membershipObserver = membershipObserver
        var random = SeededRandom(
            seed: config.randomSeed ?? (config.id.rawValue &* 0x9E37_79B9 &+ UInt64(DispatchTime.now().uptimeNanoseconds)))
        let firstRound = random.next() % (1 << 62) + 1
        firstReadRound = firstRound
        let (storage, snapshot) = try Self.openStorage(config)
        self.storage = storage
        var store = KVStore(limits: config.limits)
        var cluster = ClusterMembers()
        if let snapshot {
            do { (store, cluster) = try MemberSnapshot.decode(snapshot.data, limits: config.limits) } catch {
                throw .storage("snapshot at index \(snapshot.metadata.index) in \(config.dataDirectory)/snap: \(error.description)")
            }
        }
        if storage.lastIndex() == 0 && snapshot == nil && !config.join { try Self.bootstrap(storage, config) }
        let raft = try Self.makeRaft(config, storage: storage, applied: snapshot?.metadata.index ?? 0, seed: random.next())
        turns = Turns(raft: raft, store: store, cluster: cluster, reads: ReadRounds(firstRound: firstRound))
        turns.durability.snapshotIndex = snapshot?.metadata.index ?? 0
        hub = WatchHub(
            revision: store.revision, encoder: config.watchEncoder, limits: config.watchLimits,
            dropsEvents: config.plantedBugs.contains(.dropWatchEvent))
        publisher = ViewPublisher(store.view)
        if let given = config.eventLoop {
            loop = given
            ownLoop = nil
        } else {
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            loop = group.next()
            ownLoop = group
        }
        // Restored from a snapshot: the transport learns the members before any message.
        if !cluster.members.isEmpty { membershipChanged() }
        start()
    }

    /// Opens the log and the newest snapshot, creating the data directory with its parents (as etcd does).
    private static func openStorage(_ config: MemberConfig) throws(MemberError) -> (DiskLogStorage, Snapshot?) {
        do {
            try FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true)
        } catch { throw .storage("cannot create \(config.dataDirectory): \(error.localizedDescription)") }
        // Planted bug ackBeforeFsync: the WAL's writes reach its files 300 ms after it reports them durable.
        let fs: any FileSystem =
            config.plantedBugs.contains(.ackBeforeFsync) ? LateWritingFileSystem(base: config.fileSystem) : config.fileSystem
        do { return try DiskLogStorage.open(directory: config.dataDirectory, fs: fs, writesOnCaller: config.walWritesOnLoop) } catch {
            throw .storage(error.description)
        }
    }

    /// A new cluster: every member starts with the same membership entries, committed.
    private static func bootstrap(_ storage: DiskLogStorage, _ config: MemberConfig) throws(MemberError) {
        let changes =
            config.bootstrapMembers.isEmpty
            ? config.initialMembers.map { ConfChange(kind: .addVoter, nodeID: $0) }
            : config.bootstrapMembers.sorted { $0.id < $1.id }.map {
                ConfChange(kind: .addVoter, nodeID: $0.id, context: $0.encodedContext())
            }
        let entries = changes.enumerated().map { i, change in
            Entry(term: 1, index: LogIndex(UInt64(i + 1)), kind: .confChange, data: change.encoded())
        }
        let done = DispatchSemaphore(value: 0)
        let failure = Locked<String?>(nil)
        storage.save(entries: entries, hardState: HardState(term: 1, commit: LogIndex(UInt64(entries.count))), snapshot: nil) { result in
            if case .failure(let e) = result { failure.withLock { $0 = e.description } }
            done.signal()
        }
        done.wait()
        if let f = failure.current { throw .storage(f) }
    }

    private static func makeRaft(
        _ config: MemberConfig, storage: DiskLogStorage, applied: LogIndex, seed: UInt64
    ) throws(MemberError) -> RaftNode {
        var raftConfig = RaftConfig(id: config.id)
        raftConfig.electionTicks = config.electionTicks
        raftConfig.heartbeatTicks = config.heartbeatTicks
        raftConfig.applied = applied
        let metrics = config.metrics
        storage.wal.observeSyncs { metrics.walFsync.recordNanoseconds($0.nanoseconds) }
        do {
            return try RaftNode(config: raftConfig, storage: storage, random: SeededRandom(seed: seed))
        } catch { throw .storage("raft: \(error)") }
    }

    /// Starts the tick on the loop, the watch catch-up task, and (with client URLs) publishing.
    private func start() {
        loop.execute { [self] in
            turns.tickTask = loop.scheduleRepeatedTask(initialDelay: TimeAmount(config.tick), delay: TimeAmount(config.tick)) {
                [self] _ in turn(tick: true)
            }
        }
        hub.whenCatchUpNeeded { [catchUpWanted] in catchUpWanted.yield() }
        Task { [self] in await catchUpLoop() }
        if !config.clientURLs.isEmpty { Task { [self] in await publishLoop() } }
    }

    /// Publishes this member's name and client URLs through the log, as etcd does at start,
    /// retrying until one attempt is applied or the member stops.
    private func publishLoop() async {
        let request = StateRequest.publish(member: config.id.rawValue, name: config.name, clientURLs: config.clientURLs)
        while !lock.withLock({ shared.stopping }) {
            if (try? await write(request)) != nil { return }
            try? await Task.sleep(for: MemberLimits.publishRetry)
        }
    }

    /// Serves unsynced watchers from history, 100 rounds a second at most while some remain,
    /// until the member stops; while every watcher is synced it waits until one falls behind.
    private func catchUpLoop() async {
        for await _ in catchUpSignals {
            while !lock.withLock({ shared.stopping }) && hub.catchUp(publisher.current) {
                try? await Task.sleep(for: MemberLimits.catchUpInterval)
            }
        }
    }

    /// Stops the loop, fails everything waiting with `stopped`, and closes the log.
    public func stop() {
        precondition(!loop.inEventLoop, "Member.stop() waits for the member's loop and cannot be called on it")
        lock.lock()
        shared.stopping = true
        wakeLocked()
        catchUpWanted.finish()
        while !shared.stopped { lock.wait() }
        lock.unlock()
        storage.close()
        try? ownLoop?.syncShutdownGracefully()
    }

    // MARK: - What callers read

    /// The IDs watch responses carry in their header (etcd's cluster and member IDs).
    public func setIdentity(clusterID: UInt64, memberID: UInt64) {
        lock.withLock { shared.headerIDs = (clusterID, memberID) }
        hub.setHeader(ResponseHeaderInfo(clusterID: clusterID, memberID: memberID, raftTerm: status.term.rawValue))
    }

    /// Whether this member is a learner (it then serves only Status and serializable reads, as etcd's learners do).
    public var isLearner: Bool { lock.withLock { shared.isLearner } }

    /// The membership as applied here, in member ID order.
    public var members: [ClusterMember] { lock.withLock { shared.members } }

    /// Every lease ID, ascending (etcd's LeaseLeases, answered from this member's applied state).
    public var leaseIDs: [Int64] { lock.withLock { shared.leaseIDs } }

    public var status: MemberStatus { lock.withLock { shared.status } }

    /// How many ReadIndex rounds went unanswered for 500 ms and were asked again.
    public var retriedReadRounds: Int { retriedRounds.current }

    /// The newest applied state (a serializable read).
    public var view: ReadView { publisher.current }

    /// Brings the metrics read at scrape time up to date (call before exporting them).
    public func refreshMetrics() {
        let pending = lock.withLock { shared.writeWaiters.count + shared.pendingReads.count }
        config.metrics.refresh(status: status, pending: pending, watch: hub.stats)
    }

}
