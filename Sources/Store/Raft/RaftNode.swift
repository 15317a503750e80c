/// One member's consensus state machine: a pure, synchronous value.
///
/// Inputs: `tick()`, `step(_:)` for messages from peers, and local requests (`propose`,
/// `readIndex`, `transferLeadership`, `applyConfChange`, reports from the transport).
/// Output: `takeReady()` returns a numbered `Ready` batch whose field docs state the order in
/// which its effects must be carried out. It never does I/O, reads a clock or starts a task;
/// time moves only through `tick()`, and randomness comes from the injected `RaftRandom`.
public struct RaftNode {
    public let id: NodeID
    let config: RaftConfig
    var random: any RaftRandom

    public internal(set) var term: Term = 0
    /// Who this member voted for in `term`.
    public internal(set) var vote: NodeID = .none
    public internal(set) var leader: NodeID = .none
    public internal(set) var role: Role = .follower

    var log: RaftLog
    var progress = ProgressTracker()
    var votes: [NodeID: Bool] = [:]
    /// Messages produced since the last `Ready`.
    var outbox: [Message] = []
    var readStates: [ReadState] = []
    var readOnly = ReadOnlyQueue()
    /// ReadIndex requests that arrived before this leader committed an entry of its term.
    var pendingReadIndex: [PendingRead] = []

    var electionElapsed = 0
    var heartbeatElapsed = 0
    var randomizedElectionTimeout = 0
    /// The member leadership is being handed to, or `.none`.
    public internal(set) var leadTransferee: NodeID = .none
    /// Proposals of membership changes wait until the application has applied this index.
    var pendingConfIndex: LogIndex = 0
    /// Payload bytes appended by this leader and not yet committed.
    var uncommittedBytes = 0

    var readyNumber: UInt64 = 0
    var lastHardState = HardState()
    var lastSoftState = SoftState(leader: .none, role: .follower)
    /// Writes handed out in `Ready`s and not yet reported durable, oldest first.
    var persistQueue: [PendingPersist] = []

    struct PendingPersist {
        var number: UInt64
        var lastEntry: (index: LogIndex, term: Term)?
        var snapshotIndex: LogIndex?
    }

    /// Starts (or restarts) a member from what `storage` holds.
    public init(config: RaftConfig, storage: any RaftLogStorage, random: any RaftRandom) throws(RaftError) {
        try config.validate()
        self.id = config.id
        self.config = config
        self.random = random
        log = RaftLog(storage: storage, applied: config.applied)
        let (hardState, confState) = storage.initialState()
        if hardState.commit > 0 {
            guard hardState.commit <= log.lastIndex() else {
                throw .invalidConfig("stored commit \(hardState.commit) is past the last log index \(log.lastIndex())")
            }
            log.commitTo(hardState.commit)
        }
        // What was applied is committed, even if the hard state recording that commit was not
        // yet durable when the application took its snapshot.
        guard log.applied <= log.lastIndex() else {
            throw .invalidConfig("applied index \(log.applied) is past the last log index \(log.lastIndex())")
        }
        log.commitTo(log.applied)
        term = hardState.term
        vote = hardState.vote
        lastHardState = hardState
        resetProgress(confState)
        becomeFollower(term: term, leader: .none)
    }

    // MARK: - Inputs

    /// Advances logical time by one tick.
    public mutating func tick() {
        if role == .leader { tickLeader() } else { tickElection() }
    }

    /// Feeds a message from a peer. Stale or irrelevant messages are dropped.
    public mutating func step(_ message: Message) {
        guard message.to == id, message.from != .none else { return }
        guard checkTerm(of: message) else { return }
        switch message.kind {
        case .preVote, .vote:
            handleVoteRequest(message)
            return
        default:
            break
        }
        switch role {
        case .leader: stepLeader(message)
        case .candidate, .preCandidate: stepCandidate(message)
        case .follower: stepFollower(message)
        }
    }

    /// Starts an election now (the application's "campaign" command).
    public mutating func campaign() {
        guard role != .leader else { return }
        startCampaign(config.preVote ? .preElection : .election)
    }

    /// Proposes application data. On a follower it is forwarded to the leader; the caller
    /// learns of its commit by seeing it applied.
    public mutating func propose(_ data: [UInt8]) throws(RaftError) {
        try propose([Entry(term: 0, index: 0, kind: .normal, data: data)])
    }

    /// Proposes several entries of application data at once: on a leader they are appended
    /// together and go to each follower in one append, not one per entry. All or none are taken.
    public mutating func propose(batch: [[UInt8]]) throws(RaftError) {
        guard !batch.isEmpty else { return }
        try propose(batch.map { Entry(term: 0, index: 0, kind: .normal, data: $0) })
    }

    /// Proposes one membership change. Only one may be in progress at a time.
    public mutating func proposeConfChange(_ change: ConfChange) throws(RaftError) {
        if role == .leader { try validateConfChange(change) }
        try propose([Entry(term: 0, index: 0, kind: .confChange, data: change.encoded())])
    }

    mutating func propose(_ entries: [Entry]) throws(RaftError) {
        switch role {
        case .leader:
            try appendProposal(entries)
        case .follower:
            guard !config.disableProposalForwarding else { throw .proposalForwardingDisabled }
            guard leader != .none else { throw .noLeader }
            send(Message(kind: .propose, to: leader, entries: entries))
        case .candidate, .preCandidate:
            throw .noLeader
        }
    }

    /// Asks to hand leadership to `target`. Only the leader can; proposals are refused until
    /// the transfer ends or is abandoned after one election timeout.
    public mutating func transferLeadership(to target: NodeID) throws(RaftError) {
        guard role == .leader else { throw .notLeader(leader: leader) }
        guard target != id, progress.isVoter(target) else { throw .invalidTransferTarget(target) }
        if leadTransferee == target { return }
        leadTransferee = target
        electionElapsed = 0
        if progress[target]!.match == log.lastIndex() {
            send(Message(kind: .timeoutNow, to: target))
        } else {
            sendAppend(to: target, sendIfEmpty: true)
        }
    }

    /// The transport reports whether a snapshot sent to `member` arrived.
    public mutating func reportSnapshot(to member: NodeID, failed: Bool) {
        guard role == .leader, progress[member]?.state == .snapshot else { return }
        if failed { progress[member]!.pendingSnapshot = 0 }
        progress[member]!.becomeProbe()
        // Wait for the follower's answer (or the next heartbeat) before probing again.
        progress[member]!.msgAppFlowPaused = true
    }

    /// The transport could not reach `member`: stop pipelining to it.
    public mutating func reportUnreachable(_ member: NodeID) {
        guard role == .leader, progress[member]?.state == .replicate else { return }
        progress[member]!.becomeProbe()
    }

    // MARK: - Inspection

    public var commitIndex: LogIndex { log.committed }
    public var appliedIndex: LogIndex { log.applied }
    public var firstIndex: LogIndex { log.firstIndex() }
    public var lastIndex: LogIndex { log.lastIndex() }
    /// The term of the entry at `index`, or nil if compacted or not present.
    public func logTerm(at index: LogIndex) -> Term? { log.term(at: index) }
    /// The current membership as this member has applied it.
    public var confState: ConfState { progress.confState }
    /// The leader's view of each member's replication, empty on other roles.
    public var replicationProgress: [(NodeID, Progress)] {
        role == .leader ? progress.ids.map { ($0, progress[$0]!) } : []
    }
    /// Whether this member may campaign: it is a voter in the membership it has applied.
    public var isPromotable: Bool { progress.isVoter(id) }
    /// The entries in `[low, high)`, for inspection by tests and tools.
    public func entries(from low: LogIndex, to high: LogIndex) -> [Entry] {
        (try? log.entries(from: low, to: high, maxBytes: Int.max)) ?? []
    }

    // MARK: - Sending

    mutating func send(_ message: Message) {
        var message = message
        message.from = id
        // Vote requests and pre-vote answers carry their own term; local forwards carry none.
        switch message.kind {
        case .vote, .preVote, .voteResponse, .preVoteResponse:
            precondition(message.term != 0, "\(message.kind) without a term")
        case .propose, .readIndex:
            message.term = 0
        default:
            message.term = term
        }
        outbox.append(message)
    }
}
