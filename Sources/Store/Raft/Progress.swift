/// How the leader currently replicates to one follower.
public enum ProgressState: String, Sendable {
    /// One append at a time, until the follower's position is known.
    case probe
    /// Optimistic pipelining: `next` runs ahead of `match`, bounded by `Inflights`.
    case replicate
    /// A snapshot is on its way; appends wait for it.
    case snapshot
}

/// The appends in flight to one follower, bounded in count and bytes.
struct Inflights {
    let capacity: Int
    let bytesMax: Int
    /// Ring buffer of (last index of the append, payload bytes).
    private var ring: [(index: LogIndex, bytes: Int)]
    private var start = 0
    private(set) var count = 0
    private(set) var bytes = 0

    init(capacity: Int, bytesMax: Int) {
        precondition(capacity > 0, "inflight capacity must be positive")
        self.capacity = capacity
        self.bytesMax = bytesMax
        ring = Array(repeating: (0, 0), count: capacity)
    }

    var isFull: Bool { count == capacity || (bytesMax > 0 && bytes >= bytesMax) }

    mutating func add(index: LogIndex, bytes size: Int) {
        precondition(!isFull, "inflights overflow")
        ring[(start + count) % capacity] = (index, size)
        count += 1
        bytes += size
    }

    /// Frees every append whose last index is at or below `index`.
    mutating func freeLE(_ index: LogIndex) {
        while count > 0, ring[start].index <= index {
            bytes -= ring[start].bytes
            start = (start + 1) % capacity
            count -= 1
        }
        if count == 0 { start = 0 }
    }

    /// Frees the oldest append in flight.
    mutating func freeFirst() {
        guard count > 0 else { return }
        freeLE(ring[start].index)
    }

    mutating func reset() {
        start = 0
        count = 0
        bytes = 0
    }
}

/// The leader's view of one member's log.
///
/// Invariant: `match < next`.
public struct Progress: Sendable {
    public internal(set) var match: LogIndex
    public internal(set) var next: LogIndex
    public internal(set) var state: ProgressState = .probe
    /// In `.snapshot`: the index of the snapshot being sent.
    public internal(set) var pendingSnapshot: LogIndex = 0
    /// Heard from within the current election timeout (for check-quorum).
    public internal(set) var recentActive = false
    /// In `.probe`: an append was sent and no answer came yet.
    var msgAppFlowPaused = false
    var inflights: Inflights
    public internal(set) var isLearner: Bool

    init(next: LogIndex, inflightsMax: Int, inflightBytesMax: Int, isLearner: Bool) {
        match = 0
        self.next = next
        inflights = Inflights(capacity: inflightsMax, bytesMax: inflightBytesMax)
        self.isLearner = isLearner
    }

    var isPaused: Bool {
        switch state {
        case .probe: return msgAppFlowPaused
        case .replicate: return inflights.isFull
        case .snapshot: return true
        }
    }

    private mutating func resetState(_ newState: ProgressState) {
        msgAppFlowPaused = false
        pendingSnapshot = 0
        state = newState
        inflights.reset()
    }

    mutating func becomeProbe() {
        if state == .snapshot {
            let pending = pendingSnapshot
            resetState(.probe)
            next = max(match + 1, pending + 1)
        } else {
            resetState(.probe)
            next = match + 1
        }
    }

    mutating func becomeReplicate() {
        resetState(.replicate)
        next = match + 1
    }

    mutating func becomeSnapshot(_ index: LogIndex) {
        resetState(.snapshot)
        pendingSnapshot = index
    }

    /// Records an append just sent, ending at `lastIndex` with `bytes` of payload.
    mutating func sentEntries(lastIndex: LogIndex?, bytes: Int) {
        switch state {
        case .replicate:
            if let lastIndex {
                next = lastIndex + 1
                inflights.add(index: lastIndex, bytes: bytes)
            }
        case .probe:
            msgAppFlowPaused = true
        case .snapshot:
            preconditionFailure("sending entries to a follower that is receiving a snapshot")
        }
    }

    /// The follower has everything up to `index`. Returns whether `match` moved forward.
    mutating func maybeUpdate(_ index: LogIndex) -> Bool {
        var updated = false
        if match < index {
            match = index
            updated = true
            msgAppFlowPaused = false
        }
        next = max(next, index + 1)
        return updated
    }

    /// The follower rejected an append after `rejected`; its log may match at or below
    /// `matchHint`. Returns false when the rejection is stale.
    mutating func maybeDecrTo(rejected: LogIndex, matchHint: LogIndex) -> Bool {
        if state == .replicate {
            if rejected <= match { return false }
            next = match + 1
            return true
        }
        if next - 1 != rejected { return false }
        next = max(min(rejected, matchHint + 1), match + 1, 1)
        msgAppFlowPaused = false
        return true
    }
}

/// The collection of every member's progress, iterated in ID order so that a run is
/// reproducible from its seed.
struct ProgressTracker {
    private(set) var ids: [NodeID] = []
    private var table: [NodeID: Progress] = [:]

    subscript(id: NodeID) -> Progress? {
        get { table[id] }
        _modify { yield &table[id] }
    }

    var voters: [NodeID] { ids.filter { table[$0]?.isLearner == false } }
    var learners: [NodeID] { ids.filter { table[$0]?.isLearner == true } }

    var confState: ConfState { ConfState(voters: voters, learners: learners) }

    func isVoter(_ id: NodeID) -> Bool { table[id]?.isLearner == false }

    mutating func insert(_ id: NodeID, _ progress: Progress) {
        if table[id] == nil {
            let position = ids.firstIndex(where: { $0 > id }) ?? ids.count
            ids.insert(id, at: position)
        }
        table[id] = progress
    }

    mutating func remove(_ id: NodeID) {
        table[id] = nil
        ids.removeAll { $0 == id }
    }

    /// The largest index that a quorum of voters has: the median-ish of their matches.
    func quorumCommitIndex() -> LogIndex {
        let matches = voters.map { table[$0]!.match }.sorted(by: >)
        guard !matches.isEmpty else { return 0 }
        return matches[matches.count / 2]
    }

    /// Whether a quorum of voters answered since the last check; resets the marks.
    mutating func quorumActive(selfID: NodeID) -> Bool {
        var active = 0
        let voterIDs = voters
        for id in voterIDs {
            if id == selfID || table[id]!.recentActive { active += 1 }
        }
        for id in ids where id != selfID { table[id]!.recentActive = false }
        return active > voterIDs.count / 2
    }

    /// The outcome of a vote: won, lost, or still open.
    func tally(_ votes: [NodeID: Bool]) -> VoteResult {
        let voterIDs = voters
        var granted = 0
        var rejected = 0
        for id in voterIDs {
            switch votes[id] {
            case true?: granted += 1
            case false?: rejected += 1
            case nil: break
            }
        }
        let quorum = voterIDs.count / 2 + 1
        if granted >= quorum { return .won }
        if rejected > voterIDs.count - quorum { return .lost }
        return .pending
    }
}

enum VoteResult { case won, lost, pending }
