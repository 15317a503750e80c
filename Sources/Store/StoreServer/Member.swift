import Base
import Foundation
public import Logging
public import MVCC
public import NIOCore
import NIOPosix
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
    /// Where the member reports what an operator should know (a failed snapshot); the node
    /// gives it the member's name as metadata.
    public var logger = Logger(label: "capstan.store")

    public init(id: NodeID, initialMembers: [NodeID], dataDirectory: String) {
        self.id = id
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

/// One store member: the Raft core driven in turns on one event loop (`MemberConfig.eventLoop`),
/// the durable log on disk, the state machine it applies to, and the watch hub. Writes are
/// proposed, batched per turn, and answered when applied; linearizable reads waiting at one
/// moment share one ReadIndex round; serializable reads are served from the newest local view.
/// Thread-safe.
public final class Member: @unchecked Sendable {
    public let config: MemberConfig
    public let hub: WatchHub
    private let transport: any MessageTransport
    private let membershipObserver: @Sendable (ClusterMembers) -> Void
    private let storage: DiskLogStorage
    private let publisher: ViewPublisher
    /// Signalled when a watcher falls behind while none was (the catch-up thread waits on it).
    private let catchUpWanted = DispatchSemaphore(value: 0)

    // Owned by the turns (on the loop).
    private var raft: RaftNode
    /// The last HardState handed to storage (to tell a commit-only change).
    private var lastSavedHardState: HardState?
    private var store: KVStore
    /// ReadIndex round IDs. The leader knows a round by its ID alone, so the IDs of different
    /// members must not meet: each member counts from its own random start in a 2^62 space
    /// (counting from 0 everywhere, a follower's round that met the leader's own round of the
    /// same number was dropped and waited 500 ms for its retry: the p99 of linearizable reads).
    private var nextReadRound: UInt64
    /// Where this member's round IDs start (tests check that members' IDs never meet).
    public let firstReadRound = UInt64.random(in: 1...(1 << 62))
    /// Rounds asked again because no answer came within `readRetry` (loop thread; tests read
    /// it through `retriedReadRounds`).
    private let retriedRounds = Locked(0)
    /// ReadIndex rounds in flight: when each was asked, and the reads waiting for it.
    private var readRounds: [UInt64: (asked: ContinuousClock.Instant, waiters: [ReadWaiter])] = [:]
    private var confirmedReads: [(index: LogIndex, waiters: [ReadWaiter])] = []
    /// Writes and reads that arrived while there was no leader: tried again every turn until
    /// one is known or their callers' deadlines pass.
    private var heldProposals: [(UInt64, [UInt8])] = []
    /// Readys in the order handed out, until each and every one before it is durable: only then
    /// may `persisted` be reported and the messages that wait for durability go out.
    private var persistQueue: [(number: UInt64, messages: [Message], durable: Bool, snapshot: Snapshot?)] = []
    /// The index of the newest snapshot, and whether one is being written.
    private var snapshotIndex: LogIndex = 0
    private var snapshotting = false
    /// When this leader last sent each member a snapshot. The transport does not report
    /// delivery: a snapshot not acknowledged within a few election timeouts is reported lost,
    /// so the core sends another rather than waiting forever.
    private var snapshotsSent: [NodeID: ContinuousClock.Instant] = [:]
    private var heldReads: [ReadWaiter] = []
    private var cluster = ClusterMembers()
    /// When each lease expires: kept by the leader only (see `LeaseClock`).
    private var leaseClock = LeaseClock()
    private var leading = false
    /// Expired leases whose revoke was proposed, and when (proposed again if not applied within 3 s).
    private var revoking: [Int64: ContinuousClock.Instant] = [:]
    /// This member's lease calls: forwarded to the leader and waiting for its answer, or held
    /// while there is no leader.
    private var nextLeaderCall: UInt64 = 0
    private var forwardedLeaderCalls: [UInt64: (sent: ContinuousClock.Instant, call: LeaderCallWaiter)] = [:]
    private var heldLeaderCalls: [LeaderCallWaiter] = []
    /// Calls to one named member (the consistency check), waiting for its answer.
    private var directCalls: [UInt64: LeaderCallWaiter] = [:]
    /// Membership changes proposed (or waiting to be) and not yet applied; leader transfers under way.
    private var confChanges: [ConfChangeWaiter] = []
    private var proposedConfChanges: [ConfChangeWaiter] = []
    private var transfers: [TransferWaiter] = []

    // Shared with callers, under `lock`.
    private let lock = Lock()
    private var inbox: [Event] = []
    private var writeWaiters: [UInt64: WriteWaiter] = [:]
    private var pendingReads: [ReadWaiter] = []
    /// The sequence number of the last write proposed here. It starts from the wall clock (ms,
    /// shifted), as etcd's request IDs do, so entries a previous run of this member proposed,
    /// replayed from the log at start-up, never match a caller of this run.
    private var nextRequest = UInt64(Date().timeIntervalSince1970 * 1000) << 20
    private var stopping = false
    private var stopped = false
    /// A turn is enqueued on the loop and has not yet taken the inbox.
    private var turnScheduled = false
    /// The loop the turns run on, and its group when the member made it itself.
    private let loop: any EventLoop
    private let ownLoop: MultiThreadedEventLoopGroup?
    /// The tick (on the loop).
    private var tickTask: RepeatedTask?
    private var statusValue = MemberStatus()
    private var headerIDs: (cluster: UInt64, member: UInt64) = (0, 0)
    private var headerTerm: Term = 0
    private var membersValue: [ClusterMember] = []
    private var isLearnerValue = false
    private var leaseIDsValue: [Int64] = []
    private var leasesChanged = false
    private var lastLeader: NodeID = .none

    private enum Event {
        case messages([Message])
        case leaderCall(LeaderCallWaiter)
        case directCall(LeaderCallWaiter, to: NodeID)
        case applyLocally(StateRequest)
        case confChange(ConfChangeWaiter)
        /// A snapshot written, or why it failed.
        case snapshotTaken(LogIndex, failure: String?)
        case snapshotFile(CheckedContinuation<[UInt8], any Error>)
        case transfer(TransferWaiter)
        case leaderCalls([ForwardedLeaderCall], from: NodeID)
        case leaderAnswers([LeaderCallAnswer])
        case propose(UInt64, [UInt8])
        case read
        case persisted(UInt64)
        case storageFailed(String)
    }

    /// Where a write's or read's answer goes: a callback, called once on the member's thread
    /// (the gRPC handlers answer from it without a task per call; `write(_:) async` wraps it).
    struct Reply<T: Sendable>: Sendable {
        let deliver: @Sendable (Result<T, MemberError>) -> Void
        func resume(returning value: T) { deliver(.success(value)) }
        func resume(throwing error: any Error) { deliver(.failure(error as? MemberError ?? .storage("\(error)"))) }
    }

    private struct WriteWaiter {
        let deadline: ContinuousClock.Instant
        let continuation: Reply<StateResult>
        /// The leader when the write arrived: a timeout after a leader change says so, as etcd's does.
        var leader: NodeID? = nil
    }

    private struct ConfChangeWaiter {
        let change: ConfChange
        let deadline: ContinuousClock.Instant
        let continuation: CheckedContinuation<[ClusterMember], any Error>
    }

    private struct TransferWaiter {
        let target: NodeID
        let deadline: ContinuousClock.Instant
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct LeaderCallWaiter {
        let call: LeaderCall
        let deadline: ContinuousClock.Instant
        let continuation: CheckedContinuation<LeaderCallResult, Never>
    }

    private struct ReadWaiter {
        let deadline: ContinuousClock.Instant
        let continuation: Reply<ReadView>
    }

    static let readRetry: Duration = .milliseconds(500)

    /// `membershipObserver` is called with the whole membership whenever an applied entry
    /// changes it (also while the log is replayed at start-up), on the member's loop thread —
    /// and once from `init`, on the calling thread, when the member starts from a snapshot that
    /// holds a membership (so the transport knows the peers before the first message).
    public init(
        config: MemberConfig, transport: any MessageTransport,
        membershipObserver: @escaping @Sendable (ClusterMembers) -> Void = { _ in }
    ) throws(MemberError) {
        self.config = config
        nextReadRound = firstReadRound
        self.transport = transport
        self.membershipObserver = membershipObserver
        let opened: (DiskLogStorage, Snapshot?)
        do {
            // Like etcd, the data directory is created with its parents.
            try FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true)
        } catch { throw .storage("cannot create \(config.dataDirectory): \(error.localizedDescription)") }
        // Planted bug ackBeforeFsync: the WAL's writes reach its files 300 ms after it reports them durable.
        let fs: any FileSystem =
            config.plantedBugs.contains(.ackBeforeFsync) ? LateWritingFileSystem(base: config.fileSystem) : config.fileSystem
        do { opened = try DiskLogStorage.open(directory: config.dataDirectory, fs: fs, writesOnCaller: config.walWritesOnLoop) } catch {
            throw .storage(error.description)
        }
        storage = opened.0
        if let snapshot = opened.1 {
            do { (store, cluster) = try MemberSnapshot.decode(snapshot.data, limits: config.limits) } catch {
                throw .storage("snapshot at index \(snapshot.metadata.index) in \(config.dataDirectory)/snap: \(error.description)")
            }
            snapshotIndex = snapshot.metadata.index
        } else {
            store = KVStore(limits: config.limits)
        }
        if storage.lastIndex() == 0 && opened.1 == nil && !config.join {
            // A new cluster: every member starts with the same membership entries, committed.
            let changes =
                config.bootstrapMembers.isEmpty
                ? config.initialMembers.map { ConfChange(kind: .addVoter, nodeID: $0) }
                : config.bootstrapMembers.sorted { $0.id < $1.id }.map {
                    ConfChange(kind: .addVoter, nodeID: $0.id, context: $0.encodedContext())
                }
            let bootstrap = changes.enumerated().map { i, change in
                Entry(term: 1, index: LogIndex(UInt64(i + 1)), kind: .confChange, data: change.encoded())
            }
            let done = DispatchSemaphore(value: 0)
            let failure = Locked<String?>(nil)
            storage.save(
                entries: bootstrap, hardState: HardState(term: 1, commit: LogIndex(UInt64(bootstrap.count))),
                snapshot: nil
            ) { result in
                if case .failure(let e) = result { failure.withLock { $0 = e.description } }
                done.signal()
            }
            done.wait()
            if let f = failure.current { throw .storage(f) }
        }
        var raftConfig = RaftConfig(id: config.id)
        raftConfig.electionTicks = config.electionTicks
        raftConfig.heartbeatTicks = config.heartbeatTicks
        raftConfig.applied = opened.1?.metadata.index ?? 0
        let metrics = config.metrics
        storage.wal.observeSyncs { metrics.walFsync.recordNanoseconds(Self.nanoseconds($0)) }
        do {
            raft = try RaftNode(
                config: raftConfig, storage: storage,
                random: SeededRandom(seed: config.id.rawValue &* 0x9E37_79B9 &+ UInt64(DispatchTime.now().uptimeNanoseconds)))
        } catch { throw .storage("raft: \(error)") }
        hub = WatchHub(revision: store.revision, limits: config.watchLimits, dropsEvents: config.plantedBugs.contains(.dropWatchEvent))
        publisher = ViewPublisher(store.view)
        if let given = config.eventLoop {
            loop = given
            ownLoop = nil
        } else {
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            loop = group.next()
            ownLoop = group
        }
        leasesChanged = true
        // Restored from a snapshot: the transport learns the members before any message.
        if !cluster.members.isEmpty { membershipChanged() }
        loop.execute { [self] in
            tickTask = loop.scheduleRepeatedTask(initialDelay: TimeAmount(config.tick), delay: TimeAmount(config.tick)) { [self] _ in
                turn(tick: true)
            }
        }
        hub.whenCatchUpNeeded { [catchUpWanted] in catchUpWanted.signal() }
        let catchUp = Thread { [self] in catchUpLoop() }
        catchUp.name = "capstan-watch-catch-up-\(config.id.rawValue)"
        catchUp.start()
        if !config.clientURLs.isEmpty {
            let publisher = Thread { [self] in publishLoop() }
            publisher.name = "capstan-publish-\(config.id.rawValue)"
            publisher.start()
        }
    }

    /// Whether this member is a learner (it then serves only Status and serializable reads, as etcd's learners do).
    public var isLearner: Bool { lock.withLock { isLearnerValue } }

    /// The membership as applied here, in member ID order.
    public var members: [ClusterMember] { lock.withLock { membersValue } }

    /// Publishes this member's name and client URLs through the log, as etcd does at start,
    /// retrying until one attempt is applied or the member stops.
    private func publishLoop() {
        let request = StateRequest.publish(member: config.id.rawValue, name: config.name, clientURLs: config.clientURLs)
        while !lock.withLock({ stopping }) {
            let done = DispatchSemaphore(value: 0)
            let ok = Locked(false)
            Task {
                if (try? await write(request)) != nil { ok.withLock { $0 = true } }
                done.signal()
            }
            done.wait()
            if ok.current { return }
            Thread.sleep(forTimeInterval: 0.5)
        }
    }

    /// The IDs watch responses carry in their header (etcd's cluster and member IDs).
    public func setIdentity(clusterID: UInt64, memberID: UInt64) {
        lock.withLock { headerIDs = (clusterID, memberID) }
        hub.setHeader(ResponseHeaderInfo(clusterID: clusterID, memberID: memberID, raftTerm: status.term.rawValue))
    }

    /// Serves unsynced watchers from history, 100 rounds a second at most while some remain,
    /// until the member stops; while every watcher is synced it sleeps until one falls behind
    /// (it polled 100 times a second before, idle or not).
    private func catchUpLoop() {
        while !lock.withLock({ stopping }) {
            if hub.catchUp(publisher.current) {
                Thread.sleep(forTimeInterval: 0.01)
            } else {
                _ = catchUpWanted.wait(timeout: .now() + .seconds(10))
            }
        }
    }

    /// Messages from other members.
    public func receive(_ messages: [Message]) { post(.messages(messages)) }

    /// Frames from other members that are not Raft messages (lease calls and answers).
    public func receive(_ frame: PeerFrame, from peer: NodeID) {
        switch frame {
        case .leaderCalls(let calls): post(.leaderCalls(calls.filter { $0.from == peer }, from: peer))
        case .leaderAnswers(let answers): post(.leaderAnswers(answers))
        default: break
        }
    }

    /// A lease call answered by the leader (forwarded there from a follower): a keep-alive or a
    /// TimeToLive. Waits while there is no leader, up to the request timeout.
    public func leaderCall(_ call: LeaderCall) async throws(MemberError) -> LeaderCallResult {
        let result = await withCheckedContinuation { (c: CheckedContinuation<LeaderCallResult, Never>) in
            lock.lock()
            defer { lock.unlock() }
            if stopping {
                c.resume(returning: .notLeader)
                return
            }
            inbox.append(.leaderCall(LeaderCallWaiter(call: call, deadline: .now + config.requestTimeout, continuation: c)))
            wakeLocked()
        }
        if result == .notLeader {
            if lock.withLock({ stopping }) { throw .stopped }
            throw status.leader == nil ? .noLeader : .timedOut
        }
        return result
    }

    /// Proposes a membership change (add a voter or a learner, promote a learner, remove a
    /// member) and waits until it is applied here; returns the membership after it. Checked
    /// against the applied membership first, with etcd's errors.
    public func changeMembership(_ change: ConfChange) async throws(MemberError) -> [ClusterMember] {
        do {
            return try await withCheckedThrowingContinuation { (c: CheckedContinuation<[ClusterMember], any Error>) in
                lock.lock()
                defer { lock.unlock() }
                if stopping {
                    c.resume(throwing: MemberError.stopped)
                    return
                }
                inbox.append(.confChange(ConfChangeWaiter(change: change, deadline: .now + config.requestTimeout, continuation: c)))
                wakeLocked()
            }
        } catch let e as MemberError { throw e } catch { throw .storage("\(error)") }
    }

    /// Hands leadership to `target` (etcd's MoveLeader): only the leader may, and only to a
    /// voter; returns once `target` leads, or fails after the request timeout.
    public func transferLeadership(to target: NodeID) async throws(MemberError) {
        do {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                lock.lock()
                defer { lock.unlock() }
                if stopping {
                    c.resume(throwing: MemberError.stopped)
                    return
                }
                inbox.append(.transfer(TransferWaiter(target: target, deadline: .now + config.requestTimeout, continuation: c)))
                wakeLocked()
            }
        } catch let e as MemberError { throw e } catch { throw .storage("\(error)") }
    }

    /// Asks one member (this one included) a call any member answers; `.notLeader` when no
    /// answer came within `timeout`.
    public func ask(_ call: LeaderCall, member: NodeID, timeout: Duration = .seconds(5)) async -> LeaderCallResult {
        await withCheckedContinuation { (c: CheckedContinuation<LeaderCallResult, Never>) in
            lock.lock()
            defer { lock.unlock() }
            if stopping {
                c.resume(returning: .notLeader)
                return
            }
            inbox.append(.directCall(LeaderCallWaiter(call: call, deadline: .now + timeout, continuation: c), to: member))
            wakeLocked()
        }
    }

    /// Tests only: applies a request to this member's state without the log, as a bug or a
    /// damaged disk would leave a member.
    func applyLocallyForTesting(_ request: StateRequest) { post(.applyLocally(request)) }

    /// Every lease ID, ascending (etcd's LeaseLeases, answered from this member's applied state).
    public var leaseIDs: [Int64] { lock.withLock { leaseIDsValue } }

    /// Stops the loop, fails everything waiting with `stopped`, and closes the log.
    public func stop() {
        precondition(!loop.inEventLoop, "Member.stop() waits for the member's loop and cannot be called on it")
        lock.lock()
        stopping = true
        wakeLocked()
        catchUpWanted.signal()
        while !stopped { lock.wait() }
        lock.unlock()
        storage.close()
        try? ownLoop?.syncShutdownGracefully()
    }

    public var status: MemberStatus { lock.withLock { statusValue } }

    /// How many ReadIndex rounds went unanswered for 500 ms and were asked again.
    public var retriedReadRounds: Int { retriedRounds.withLock { $0 } }

    /// The newest applied state (a serializable read).
    public var view: ReadView { publisher.current }

    // MARK: - Client requests

    /// Proposes a write and waits until it is applied here.
    public func write(_ request: StateRequest) async throws(MemberError) -> StateResult {
        try await awaiting { write(request, completion: $0) }
    }

    /// The async form of a method that takes a completion.
    private func awaiting<T: Sendable>(_ start: (@escaping @Sendable (Result<T, MemberError>) -> Void) -> Void)
        async throws(MemberError) -> T
    {
        let result = await withCheckedContinuation { (c: CheckedContinuation<Result<T, MemberError>, Never>) in
            start { c.resume(returning: $0) }
        }
        return try result.get()
    }

    /// Why a new write or read is refused now (stopping, or too many waiting), or nil. Under `lock`.
    private func refusal() -> MemberError? {
        if stopping { return .stopped }
        return writeWaiters.count + pendingReads.count >= config.maxPending ? .overloaded : nil
    }

    /// Proposes a write; `completion` is called once it is applied here (or failed), on the
    /// member's thread or at once: it must be quick and must not call back into the member
    /// synchronously in a way that waits.
    public func write(_ request: StateRequest, completion: @escaping @Sendable (Result<StateResult, MemberError>) -> Void) {
        lock.lock()
        if let refused = refusal() {
            lock.unlock()
            return completion(.failure(refused))
        }
        nextRequest += 1
        let entry = RequestCodec.encode(origin: config.id.rawValue, sequence: nextRequest, request)
        // etcd's --max-request-bytes, on the request as it goes into the log.
        if entry.count - 16 > config.maxRequestBytes {
            lock.unlock()
            return completion(.failure(.requestTooLarge))
        }
        writeWaiters[nextRequest] = WriteWaiter(
            deadline: .now + config.requestTimeout, continuation: Reply(deliver: completion),
            leader: statusValue.leader)
        inbox.append(.propose(nextRequest, entry))
        wakeLocked()
        lock.unlock()
    }

    /// A linearizable read point: returns a view that includes every write acknowledged
    /// before the call, after one ReadIndex round shared by all reads waiting at that moment.
    public func linearizableView() async throws(MemberError) -> ReadView {
        try await awaiting { linearizableView(completion: $0) }
    }

    /// The callback form of `linearizableView()` (see `write(_:completion:)`).
    public func linearizableView(completion: @escaping @Sendable (Result<ReadView, MemberError>) -> Void) {
        if config.plantedBugs.contains(.localReads) { return completion(.success(publisher.current)) }
        lock.lock()
        if let refused = refusal() {
            lock.unlock()
            return completion(.failure(refused))
        }
        pendingReads.append(ReadWaiter(deadline: .now + config.requestTimeout, continuation: Reply(deliver: completion)))
        inbox.append(.read)
        wakeLocked()
        lock.unlock()
    }

    public func range(_ r: RangeRequest, linearizable: Bool = true) async throws(MemberError) -> RangeResponse {
        let v = linearizable ? try await linearizableView() : view
        do { return try v.range(r) } catch { throw .mvcc(error) }
    }

    // MARK: - The loop

    private func post(_ e: Event) {
        lock.lock()
        inbox.append(e)
        wakeLocked()
        lock.unlock()
    }

    /// Makes sure a turn runs soon: one enqueued on the loop serves every event posted before it
    /// starts (from the loop itself that costs no wake-up: it runs after the loop's I/O). Under `lock`.
    private func wakeLocked() {
        guard !turnScheduled && !stopped else { return }
        turnScheduled = true
        loop.execute { [self] in turn(tick: false) }
    }

    /// One turn of the member, on its loop: everything posted since the last turn (messages,
    /// proposals, reads, calls, the WAL's reports), at most one tick, and what the Raft core
    /// then has ready.
    private func turn(tick ticked: Bool) {
        lock.lock()
        if stopped {
            lock.unlock()
            return
        }
        turnScheduled = false
        let events = inbox
        inbox.removeAll(keepingCapacity: true)
        let reads = pendingReads
        pendingReads.removeAll()
        let stop = stopping
        lock.unlock()
        if stop { return finish() }
        let clock = ContinuousClock()

        var retriedReads: [ReadWaiter] = []
        if ticked {
            raft.tick()
            expireWaiters(now: clock.now)
            directCalls = directCalls.filter { _, w in
                guard w.deadline <= clock.now else { return true }
                w.continuation.resume(returning: .notLeader)
                return false
            }
            let snapshotTimeout = config.tick * (config.electionTicks * 3)
            for (to, at) in snapshotsSent where clock.now - at >= snapshotTimeout {
                snapshotsSent[to] = nil
                raft.reportSnapshot(to: to, failed: true)
            }
            // A round that went unanswered (the request or its answer was lost between
            // members, or the leader changed) is asked again, as etcd does after 500 ms.
            for (round, r) in readRounds where clock.now - r.asked >= Self.readRetry {
                retriedReads += r.waiters
                retriedRounds.withLock { $0 += 1 }
                readRounds[round] = nil
            }
        }
        var proposals: [(UInt64, [UInt8])] = []
        var leaderCallsNow: [LeaderCallWaiter] = []
        for e in events {
            switch e {
            case .messages(let ms): for m in ms { raft.step(m) }
            case .propose(let id, let data): proposals.append((id, data))
            case .read: break
            case .leaderCall(let w): leaderCallsNow.append(w)
            case .directCall(let w, let to):
                if to == config.id {
                    w.continuation.resume(returning: answerLeaderCall(w.call))
                } else {
                    nextLeaderCall += 1
                    directCalls[nextLeaderCall] = w
                    transport.send(.leaderCalls([ForwardedLeaderCall(request: nextLeaderCall, from: config.id, call: w.call)]), to: to)
                }
            case .applyLocally(let r):
                // Tests only: state that did not come through the log (a diverged member).
                _ = apply(r)
                publisher.publish(store.view)
            case .snapshotTaken(let index, let failure):
                snapshotting = false
                // On failure the log stays as it was (nothing is lost); the next attempt
                // comes after another --snapshot-count entries.
                snapshotIndex = max(snapshotIndex, index)
                if let failure {
                    config.logger.error("snapshot at index \(index) failed: \(failure)")
                }
            case .snapshotFile(let c):
                let applied = raft.appliedIndex
                let term = (try? storage.term(at: applied)) ?? raft.term
                // An O(1) image here; the encoding (seconds for a large store) elsewhere.
                let image = store.image
                let members = cluster
                Task.detached {
                    c.resume(
                        returning: SnapshotFile.encode(index: applied, term: term, memberSnapshot: MemberSnapshot.encode(image, members)))
                }
            case .confChange(let w):
                if let refusal = check(w.change) {
                    w.continuation.resume(throwing: MemberError.cluster(refusal))
                } else {
                    confChanges.append(w)
                }
            case .transfer(let w):
                if raft.role != .leader {
                    w.continuation.resume(throwing: MemberError.cluster(.notLeader))
                } else if w.target == config.id {
                    w.continuation.resume()
                } else if !raft.confState.voters.contains(w.target) {
                    w.continuation.resume(throwing: MemberError.cluster(.badLeaderTransferee))
                } else {
                    do {
                        try raft.transferLeadership(to: w.target)
                        transfers.append(w)
                    } catch {
                        w.continuation.resume(throwing: MemberError.cluster(.badLeaderTransferee))
                    }
                }
            case .leaderCalls(let calls, let from):
                let answers = calls.map { LeaderCallAnswer(request: $0.request, result: answerLeaderCall($0.call)) }
                transport.send(.leaderAnswers(answers), to: from)
            case .leaderAnswers(let answers):
                for a in answers {
                    if let d = directCalls.removeValue(forKey: a.request) {
                        d.continuation.resume(returning: a.result)
                        continue
                    }
                    guard let f = forwardedLeaderCalls[a.request] else { continue }
                    if a.result == .notLeader {
                        // The leader changed meanwhile: ask again at the next tick.
                        forwardedLeaderCalls[a.request] = (.now - .seconds(3600), f.call)
                    } else {
                        forwardedLeaderCalls[a.request] = nil
                        f.call.continuation.resume(returning: a.result)
                    }
                }
            case .persisted(let number):
                if let i = persistQueue.firstIndex(where: { $0.number == number }) { persistQueue[i].durable = true }
                reportDurable()
            case .storageFailed(let why):
                // Fail-stop: the WAL can no longer promise durability.
                failEverything(.storage(why))
                lock.withLock { stopping = true }
            }
        }
        if !heldProposals.isEmpty {
            // Only those whose callers still wait: a write is not proposed after its caller gave up.
            let live = lock.withLock { heldProposals.filter { writeWaiters[$0.0] != nil } }
            proposals = live + proposals
            heldProposals.removeAll()
        }
        if !proposals.isEmpty {
            do { try raft.propose(batch: proposals.map(\.1)) } catch {
                if case .noLeader = error { heldProposals = proposals } else { fail(writes: proposals.map(\.0), .overloaded) }
            }
        }
        let readsNow = heldReads + retriedReads + reads
        heldReads.removeAll()
        if !readsNow.isEmpty {
            nextReadRound += 1
            readRounds[nextReadRound] = (clock.now, readsNow)
            do { try raft.readIndex(requestID: nextReadRound) } catch {
                readRounds[nextReadRound] = nil
                if case .noLeader = error {
                    heldReads = readsNow
                } else {
                    for r in readsNow { r.continuation.resume(throwing: MemberError.overloaded) }
                }
            }
        }
        proposeConfChanges(tick: ticked)
        while let ready = raft.takeReady() { handle(ready) }
        if raft.leader != lastLeader {
            if raft.leader != .none { config.metrics.leaderChanges.increment() }
            lastLeader = raft.leader
        }
        serveConfirmedReads()
        leaseTurn(calls: leaderCallsNow, tick: ticked)
        if !transfers.isEmpty {
            let now = ContinuousClock.now
            transfers.removeAll { w in
                if raft.leader == w.target {
                    w.continuation.resume()
                    return true
                }
                if w.deadline <= now {
                    w.continuation.resume(throwing: MemberError.cluster(.leaderTransferTimedOut))
                    return true
                }
                return false
            }
        }
        let stopNow = lock.withLock {
            statusValue = MemberStatus(
                leader: raft.leader == .none ? nil : raft.leader, term: raft.term, role: raft.role,
                appliedIndex: raft.appliedIndex, commitIndex: raft.commitIndex, revision: store.revision,
                dbSize: store.accountedBytes, alarms: store.alarms.sorted())
            return stopping
        }
        if stopNow { finish() }
    }

    /// The last turn: everything still waiting fails with `stopped`.
    private func finish() {
        tickTask?.cancel()
        tickTask = nil
        failEverything(.stopped)
        lock.withLock {
            stopped = true
            lock.broadcast()
        }
    }

    private func handle(_ ready: Ready) {
        transport.send(ready.messages)
        for m in ready.messages where m.kind == .snapshot { snapshotsSent[m.to] = .now }
        persist(ready)
        var results: [(UInt64, Result<StateResult, MemberError>)] = []
        if raft.term != headerTerm {
            headerTerm = raft.term
            let ids = lock.withLock { headerIDs }
            hub.setHeader(ResponseHeaderInfo(clusterID: ids.cluster, memberID: ids.member, raftTerm: raft.term.rawValue))
        }
        // Readers wait for the view while entries are applied (see ViewPublisher); they get
        // one at least every `withdrawnEntriesLimit` entries.
        if !ready.committedEntries.isEmpty { publisher.withdraw() }
        for (n, entry) in ready.committedEntries.enumerated() {
            if n > 0 && n % ViewPublisher.withdrawnEntriesLimit == 0 {
                publisher.publish(store.view)
                publisher.withdraw()
            }
            switch entry.kind {
            case .confChange:
                if let change = ConfChange(decoding: entry.data) {
                    _ = raft.applyConfChange(change)
                    cluster.apply(change)
                    membershipChanged()
                    let members = cluster.sorted
                    proposedConfChanges.removeAll { w in
                        guard w.change.kind == change.kind && w.change.nodeID == change.nodeID else { return false }
                        w.continuation.resume(returning: members)
                        return true
                    }
                }
            case .normal:
                guard !entry.data.isEmpty else { continue }
                guard let (origin, sequence, request) = try? RequestCodec.decode(entry.data) else {
                    // Every member refuses the same damaged entry the same way.
                    continue
                }
                let started = ContinuousClock.now
                store.alarmMemberID = origin
                let result = apply(request)
                config.metrics.apply.recordNanoseconds(Self.nanoseconds(ContinuousClock.now - started))
                // Only the member that proposed it has a caller waiting for it.
                if origin == config.id.rawValue { results.append((sequence, result)) }
            }
        }
        if let last = ready.committedEntries.last {
            raft.applied(through: last.index)
            publisher.publish(store.view)
            hub.notify(store.view)
            if !snapshotting && snapshotIndex.distance(to: last.index) >= config.snapshotCount { takeSnapshot(at: last.index) }
        }
        for rs in ready.readStates {
            if let round = readRounds.removeValue(forKey: rs.requestID) {
                confirmedReads.append((rs.index, round.waiters))
            }
        }
        if !results.isEmpty {
            var resume: [(WriteWaiter, Result<StateResult, MemberError>)] = []
            lock.withLock {
                for (id, r) in results {
                    if let w = writeWaiters.removeValue(forKey: id) { resume.append((w, r)) }
                }
            }
            for (w, r) in resume {
                switch r {
                case .success(let v): w.continuation.resume(returning: v)
                case .failure(let e): w.continuation.resume(throwing: e)
                }
            }
        }
    }

    /// Writes what the Ready asks to the log (in the background; `.persisted` comes back when it
    /// is durable) and queues its messages that must wait for that.
    private func persist(_ ready: Ready) {
        // A Ready with nothing to write is durable once every Ready before it is: it waits
        // in the queue behind writes still in flight (reporting it early would tell the core
        // that their entries are on disk).
        persistQueue.append((ready.number, ready.persistedMessages, !ready.needsPersistence, ready.snapshot))
        if ready.needsPersistence {
            let number = ready.number
            // Only entries, a snapshot, or a new term or vote need an fsync (etcd's rule): a
            // HardState that only moves the commit index is written and made durable by the next
            // synced write. (It saved one fsync per write: a single member did two.)
            let commitOnly =
                ready.entries.isEmpty && ready.snapshot == nil
                && ready.hardState.map { hs in lastSavedHardState.map { $0.term == hs.term && $0.vote == hs.vote } ?? false } ?? false
            if let hs = ready.hardState { lastSavedHardState = hs }
            // Written on this loop: the followers get this Ready's entries before it blocks.
            if config.walWritesOnLoop && !commitOnly { transport.flushQueued() }
            storage.save(entries: ready.entries, hardState: ready.hardState, snapshot: ready.snapshot, sync: !commitOnly) { [self] result in
                switch result {
                case .success: post(.persisted(number))
                case .failure(let e): post(.storageFailed(e.description))
                }
            }
        }
        reportDurable()
    }

    /// Reports every Ready at the head of the queue that is durable, in order.
    private func reportDurable() {
        while let first = persistQueue.first, first.durable {
            persistQueue.removeFirst()
            if let snapshot = first.snapshot {
                // The leader's snapshot is durable: it replaces the state machine and the
                // membership before any later entry is applied.
                do {
                    (store, cluster) = try MemberSnapshot.decode(snapshot.data, limits: config.limits)
                } catch {
                    failEverything(.storage("cannot install the snapshot at index \(snapshot.metadata.index): \(error.description)"))
                    lock.withLock { stopping = true }
                    return
                }
                snapshotIndex = snapshot.metadata.index
                leasesChanged = true
                membershipChanged()
                raft.persisted(first.number)
                raft.applied(through: snapshot.metadata.index)
                publisher.publish(store.view)
                hub.notify(store.view)
                transport.send(first.messages)
                continue
            }
            raft.persisted(first.number)
            transport.send(first.messages)
        }
    }

    private func apply(_ request: StateRequest) -> Result<StateResult, MemberError> {
        do {
            switch request {
            case .put(let p): return .success(.put(try store.put(p)))
            case .deleteRange(let d): return .success(.deleteRange(try store.deleteRange(d)))
            case .txn(let t): return .success(.txn(try store.txn(t)))
            case .compact(let rev):
                let compacted = try store.compact(rev)
                MemoryTrimmer.shared.trimSoon()
                return .success(.compact(compacted))
            case .leaseGrant(let id, let ttl):
                let granted = try store.leaseGrant(id: id, ttl: ttl)
                leasesChanged = true
                if leading { leaseClock.track(id, ttl: granted.ttl, now: Self.nanoseconds()) }
                return .success(.leaseGrant(granted))
            case .leaseRevoke(let id):
                leaseClock.forget(id)
                revoking[id] = nil
                leasesChanged = true
                return .success(.leaseRevoke(revision: try store.leaseRevoke(id: id)))
            case .alarm(let on, let a):
                if on { store.activate(a) } else { store.deactivate(a) }
                return .success(.alarm(revision: store.revision))
            case .publish(let id, let name, let urls):
                cluster.publish(id: NodeID(id), name: name, clientURLs: urls)
                membershipChanged()
                return .success(.member)
            case .updateMember(let id, let urls):
                cluster.update(id: NodeID(id), peerURLs: urls)
                membershipChanged()
                return .success(.member)
            }
        } catch {
            return .failure(.mvcc(error))
        }
    }

    /// Saves a snapshot of the applied state at `index` and compacts the log through it (etcd's
    /// `--snapshot-count`). The image is taken here, on the loop thread, in O(1) (a
    /// copy-on-write view of the key space); encoding it and writing the file and the WAL
    /// marker happen on another thread, so applying goes on meanwhile (encoding 100,000 keys
    /// on this thread held every write for a good part of a second).
    private func takeSnapshot(at index: LogIndex) {
        snapshotting = true
        let image = store.image
        let members = cluster
        let confState = raft.confState
        let storage = storage
        let started = ContinuousClock.now
        Task.detached { [self] in
            var failure: String?
            do {
                let data = MemberSnapshot.encode(image, members)
                _ = try await storage.createSnapshot(at: index, confState: confState, data: data)
            } catch {
                failure = "\(error)"
            }
            config.metrics.snapshotSave.recordNanoseconds(Self.nanoseconds(ContinuousClock.now - started))
            post(.snapshotTaken(index, failure: failure))
            // The encoded image (the whole key space) is freed by now.
            MemoryTrimmer.shared.trimSoon()
        }
    }

    /// The applied state as a snapshot file (Maintenance.Snapshot, `etcdctl snapshot save`).
    public func snapshotFile() async throws(MemberError) -> [UInt8] {
        do {
            return try await withCheckedThrowingContinuation { (c: CheckedContinuation<[UInt8], any Error>) in
                lock.lock()
                defer { lock.unlock() }
                if stopping {
                    c.resume(throwing: MemberError.stopped)
                    return
                }
                inbox.append(.snapshotFile(c))
                wakeLocked()
            }
        } catch let e as MemberError { throw e } catch { throw .storage("\(error)") }
    }

    /// Why a membership change is refused by the membership as applied here, or nil.
    private func check(_ change: ConfChange) -> ClusterError? {
        let existing = cluster[change.nodeID]
        switch change.kind {
        case .addVoter, .addLearner:
            if let existing {
                // Adding an existing member as a voter is a promotion; anything else exists already.
                guard change.kind == .addVoter else { return .memberExists }
                return existing.isLearner ? nil : .notLearner
            }
            if cluster.removed.contains(change.nodeID) { return .memberExists }
            guard let added = ClusterMember(id: change.nodeID, context: change.context, isLearner: false) else { return .badURLs }
            let used = Set(cluster.members.values.flatMap(\.peerURLs))
            if added.peerURLs.contains(where: used.contains) { return .peerURLExists }
            if change.kind == .addLearner && cluster.members.values.contains(where: \.isLearner) { return .tooManyLearners }
            return nil
        case .removeNode:
            return existing == nil ? .memberNotFound : nil
        }
    }

    /// Proposes the waiting membership changes, one at a time as the core allows; those that
    /// cannot be proposed yet (no leader, another change in flight) are tried again next turn.
    private func proposeConfChanges(tick: Bool) {
        let now = ContinuousClock.now
        if tick {
            proposedConfChanges.removeAll { w in
                guard w.deadline <= now else { return false }
                w.continuation.resume(throwing: raft.leader == .none ? MemberError.noLeader : MemberError.timedOut)
                return true
            }
        }
        var waiting: [ConfChangeWaiter] = []
        for w in confChanges {
            if w.deadline <= now {
                w.continuation.resume(throwing: raft.leader == .none ? MemberError.noLeader : MemberError.timedOut)
                continue
            }
            do {
                try raft.proposeConfChange(w.change)
                proposedConfChanges.append(w)
            } catch {
                if case .invalidConfChange = error {
                    w.continuation.resume(throwing: MemberError.cluster(w.change.kind == .removeNode ? .memberNotFound : .memberExists))
                } else {
                    waiting.append(w)
                }
            }
        }
        confChanges = waiting
    }

    static func nanoseconds() -> Int64 { Int64(DispatchTime.now().uptimeNanoseconds) }
    static func nanoseconds(_ d: Duration) -> Int64 { d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000 }

    /// Brings the metrics read at scrape time up to date (call before exporting them).
    public func refreshMetrics() {
        let pending = lock.withLock { writeWaiters.count + pendingReads.count }
        config.metrics.refresh(status: status, pending: pending, watch: hub.stats)
    }

    /// The leader's answer to a lease call; `notLeader` on any other member.
    private func answerLeaderCall(_ call: LeaderCall) -> LeaderCallResult {
        if case .hashKV(let revision) = call {
            // Any member answers: its own hash at that revision, if it has the revision.
            guard let h = try? store.view.hashKV(revision: revision) else { return .notFound }
            return .hash(h.hash, compactRevision: h.compactRevision)
        }
        guard raft.role == .leader else { return .notLeader }
        let now = Self.nanoseconds()
        switch call {
        case .renew(let id):
            // A lease past its deadline is being revoked: renewing it cannot save it.
            guard let lease = store.leases[id], revoking[id] == nil else { return .notFound }
            leaseClock.track(id, ttl: lease.ttl, now: now)
            return .renewed(ttl: lease.ttl)
        case .timeToLive(let id, let keys):
            guard store.leases[id] != nil else { return .notFound }
            return .timeToLive(store.leaseTimeToLive(id: id, keys: keys, remaining: leaseClock.remaining(id, now: now)))
        case .learnerReady(let member):
            let progress = Dictionary(raft.replicationProgress.map { ($0.0, $0.1.match) }, uniquingKeysWith: { a, _ in a })
            guard let learner = progress[member], let own = progress[config.id] else { return .ready(false) }
            return .ready(Double(learner.rawValue) >= Double(own.rawValue) * 0.9)
        case .hashKV: return .notFound
        }
    }

    /// Leadership changes of the lease clock, expiry (the leader proposes the revokes), and this
    /// member's lease calls: answered here on the leader, forwarded to it otherwise.
    private func leaseTurn(calls: [LeaderCallWaiter], tick: Bool) {
        let isLeader = raft.role == .leader
        if isLeader != leading {
            leading = isLeader
            if isLeader {
                leaseClock.promote(store.leases.values, now: Self.nanoseconds())
            } else {
                leaseClock.demote()
            }
            revoking.removeAll()
        }
        if leasesChanged {
            leasesChanged = false
            let ids = store.leaseIDs
            lock.withLock { leaseIDsValue = ids }
        }
        let now = ContinuousClock.now
        if isLeader && tick {
            let due = leaseClock.expired(now: Self.nanoseconds(), limit: 500).filter { id in
                guard let at = revoking[id] else { return true }
                return now - at > .seconds(3)
            }
            if !due.isEmpty {
                for id in due { revoking[id] = now }
                // Nobody waits for these: origin 0 matches no member.
                try? raft.propose(batch: due.map { RequestCodec.encode(origin: 0, sequence: 0, .leaseRevoke(id: $0)) })
            }
        }
        var pending = heldLeaderCalls + calls
        heldLeaderCalls.removeAll()
        if tick {
            for (request, f) in forwardedLeaderCalls where now - f.sent >= Self.readRetry || f.call.deadline <= now {
                forwardedLeaderCalls[request] = nil
                pending.append(f.call)
            }
        }
        for w in pending {
            if w.deadline <= now {
                w.continuation.resume(returning: .notLeader)
            } else if isLeader {
                w.continuation.resume(returning: answerLeaderCall(w.call))
            } else if raft.leader != .none {
                nextLeaderCall += 1
                forwardedLeaderCalls[nextLeaderCall] = (now, w)
                transport.send(.leaderCalls([ForwardedLeaderCall(request: nextLeaderCall, from: config.id, call: w.call)]), to: raft.leader)
            } else {
                heldLeaderCalls.append(w)
            }
        }
    }

    private func membershipChanged() {
        let list = cluster.sorted
        let learner = cluster[config.id]?.isLearner ?? false
        lock.withLock {
            membersValue = list
            isLearnerValue = learner
        }
        membershipObserver(cluster)
    }

    private func serveConfirmedReads() {
        guard !confirmedReads.isEmpty else { return }
        let applied = raft.appliedIndex
        let v = store.view
        confirmedReads.removeAll { round in
            guard round.index <= applied else { return false }
            for w in round.waiters { w.continuation.resume(returning: v) }
            return true
        }
    }

    private func fail(writes ids: [UInt64], _ e: MemberError) {
        let waiters = lock.withLock { ids.compactMap { writeWaiters.removeValue(forKey: $0) } }
        if !waiters.isEmpty { config.metrics.proposalsFailed.increment(by: waiters.count) }
        for w in waiters { w.continuation.resume(throwing: e) }
    }

    private func expireWaiters(now: ContinuousClock.Instant) {
        // Without a leader the wait ends as etcd's "no leader"; with one, as "request timed out".
        let reason: MemberError = raft.leader == .none ? .noLeader : .timedOut
        let expired = lock.withLock { () -> [WriteWaiter] in
            let gone = writeWaiters.filter { $0.value.deadline <= now }
            for id in gone.keys { writeWaiters[id] = nil }
            return Array(gone.values)
        }
        if !expired.isEmpty { config.metrics.proposalsFailed.increment(by: expired.count) }
        for w in expired {
            // A write whose leader failed may or may not be committed: etcd says which case it is.
            let leaderFailed = reason == .timedOut && w.leader != nil && w.leader != raft.leader
            w.continuation.resume(throwing: leaderFailed ? MemberError.timedOutDueToLeaderFail : reason)
        }
        heldReads.removeAll { r in
            guard r.deadline <= now else { return false }
            r.continuation.resume(throwing: reason)
            return true
        }
        var reads: [ReadWaiter] = []
        for (round, r) in readRounds {
            let (old, fresh) = (r.waiters.filter { $0.deadline <= now }, r.waiters.filter { $0.deadline > now })
            reads += old
            readRounds[round] = fresh.isEmpty ? nil : (r.asked, fresh)
        }
        for i in confirmedReads.indices {
            reads += confirmedReads[i].waiters.filter { $0.deadline <= now }
            confirmedReads[i].waiters.removeAll { $0.deadline <= now }
        }
        confirmedReads.removeAll { $0.waiters.isEmpty }
        for r in reads { r.continuation.resume(throwing: reason) }
    }

    private func failEverything(_ e: MemberError) {
        let (writes, reads, calls) = lock.withLock { () -> ([WriteWaiter], [ReadWaiter], [LeaderCallWaiter]) in
            let w = Array(writeWaiters.values)
            writeWaiters.removeAll()
            let r = pendingReads
            pendingReads.removeAll()
            var calls: [LeaderCallWaiter] = []
            var others: [Event] = []
            inbox.removeAll { event in
                switch event {
                case .leaderCall(let c):
                    calls.append(c)
                    return true
                case .directCall(let c, _):
                    calls.append(c)
                    return true
                case .confChange, .transfer:
                    others.append(event)
                    return true
                case .snapshotFile(let c):
                    c.resume(throwing: e)
                    return true
                default: return false
                }
            }
            for o in others {
                if case .confChange(let w) = o { w.continuation.resume(throwing: e) }
                if case .transfer(let w) = o { w.continuation.resume(throwing: e) }
            }
            return (w, r, calls)
        }
        for c in calls { c.continuation.resume(returning: .notLeader) }
        if !writes.isEmpty { config.metrics.proposalsFailed.increment(by: writes.count) }
        for w in writes { w.continuation.resume(throwing: e) }
        for r in reads + heldReads { r.continuation.resume(throwing: e) }
        heldReads.removeAll()
        heldProposals.removeAll()
        for (_, round) in readRounds { for r in round.waiters { r.continuation.resume(throwing: e) } }
        readRounds.removeAll()
        for round in confirmedReads { for r in round.waiters { r.continuation.resume(throwing: e) } }
        confirmedReads.removeAll()
        for w in confChanges + proposedConfChanges { w.continuation.resume(throwing: e) }
        confChanges.removeAll()
        proposedConfChanges.removeAll()
        for w in transfers { w.continuation.resume(throwing: e) }
        transfers.removeAll()
        for w in heldLeaderCalls + Array(directCalls.values) { w.continuation.resume(returning: .notLeader) }
        directCalls.removeAll()
        heldLeaderCalls.removeAll()
        for (_, f) in forwardedLeaderCalls { f.call.continuation.resume(returning: .notLeader) }
        forwardedLeaderCalls.removeAll()
    }
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
