/// A distinct integer quantity (a term, an index, an ID): a `UInt64` that does not mix with
/// the others by accident.
public protocol RaftQuantity: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral,
    CustomStringConvertible
where RawValue == UInt64, IntegerLiteralType == UInt64 {
    init(rawValue: UInt64)
}

extension RaftQuantity {
    public init(_ value: UInt64) { self.init(rawValue: value) }
    public init(integerLiteral value: UInt64) { self.init(rawValue: value) }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}

/// A Raft term. Terms only grow; a message from an older term is stale.
public struct Term: RaftQuantity {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// The term after this one.
    public var next: Term { Term(rawValue + 1) }
}

/// A position in the replicated log. Index 0 is the empty position before the first entry.
public struct LogIndex: RaftQuantity {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public static func + (a: LogIndex, b: UInt64) -> LogIndex { LogIndex(a.rawValue + b) }
    /// Subtraction that stops at zero: "the index before 0" is 0.
    public static func - (a: LogIndex, b: UInt64) -> LogIndex {
        LogIndex(a.rawValue >= b ? a.rawValue - b : 0)
    }
    /// The number of positions from `self` up to `later`, or 0 when `later` is not after `self`.
    public func distance(to later: LogIndex) -> Int {
        later.rawValue > rawValue ? Int(later.rawValue - rawValue) : 0
    }
}

/// The identity of a member. 0 means "nobody" (no vote, no known leader).
public struct NodeID: RaftQuantity {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// Nobody: no vote cast, no leader known.
    public static let none = NodeID(0)
}

/// What a log entry carries.
public enum EntryKind: UInt8, Sendable {
    /// Application data (an empty one is the no-op a new leader appends).
    case normal = 0
    /// An encoded `ConfChange`.
    case confChange = 1
}

/// One entry of the replicated log.
public struct Entry: Equatable, Sendable {
    public var term: Term
    public var index: LogIndex
    public var kind: EntryKind
    public var data: [UInt8]

    public init(term: Term, index: LogIndex, kind: EntryKind = .normal, data: [UInt8] = []) {
        self.term = term
        self.index = index
        self.kind = kind
        self.data = data
    }

    /// The payload size used for flow control (bytes in flight, uncommitted bytes).
    public var payloadBytes: Int { data.count }
    /// The size used to cut batches of entries (payload plus a fixed per-entry overhead).
    public var batchBytes: Int { data.count + Entry.overheadBytes }
    static let overheadBytes = 24
}

/// The state a member must persist before it answers a vote or acknowledges entries.
public struct HardState: Equatable, Sendable {
    public var term: Term
    public var vote: NodeID
    public var commit: LogIndex
    public init(term: Term = 0, vote: NodeID = .none, commit: LogIndex = 0) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }
}

/// The membership: who votes and who only learns. Both lists are kept sorted.
public struct ConfState: Equatable, Sendable {
    public var voters: [NodeID]
    public var learners: [NodeID]
    public init(voters: [NodeID] = [], learners: [NodeID] = []) {
        self.voters = voters.sorted()
        self.learners = learners.sorted()
    }
    public func contains(_ id: NodeID) -> Bool { voters.contains(id) || learners.contains(id) }
}

/// A single membership change. Changes are applied one at a time, when their entry is applied.
public struct ConfChange: Equatable, Sendable {
    public enum Kind: UInt8, Sendable {
        /// Add a voter, or promote a learner to voter.
        case addVoter = 0
        /// Add a learner (a member that receives the log but does not vote).
        case addLearner = 1
        /// Remove a voter or a learner.
        case removeNode = 2
    }
    public var kind: Kind
    public var nodeID: NodeID
    /// Opaque application data (for example the member's peer URLs).
    public var context: [UInt8]

    public init(kind: Kind, nodeID: NodeID, context: [UInt8] = []) {
        self.kind = kind
        self.nodeID = nodeID
        self.context = context
    }

    /// Encoding: 1 byte kind, 8 bytes node ID (little endian), then the context bytes.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = [kind.rawValue]
        out.reserveCapacity(9 + context.count)
        withUnsafeBytes(of: nodeID.rawValue.littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: context)
        return out
    }

    /// Decodes `encoded()`; nil for bytes that are not a valid change.
    public init?(decoding bytes: [UInt8]) {
        guard bytes.count >= 9, let kind = Kind(rawValue: bytes[0]) else { return nil }
        var raw: UInt64 = 0
        for i in 0..<8 { raw |= UInt64(bytes[1 + i]) << (8 * UInt64(i)) }
        guard raw != 0 else { return nil }
        self.init(kind: kind, nodeID: NodeID(raw), context: Array(bytes[9...]))
    }
}

/// Where a snapshot stands in the log, and the membership at that point.
public struct SnapshotMetadata: Equatable, Sendable {
    public var index: LogIndex
    public var term: Term
    public var confState: ConfState
    public init(index: LogIndex = 0, term: Term = 0, confState: ConfState = ConfState()) {
        self.index = index
        self.term = term
        self.confState = confState
    }
}

/// The state machine's image at `metadata.index`, with everything before it compacted away.
public struct Snapshot: Equatable, Sendable {
    public var metadata: SnapshotMetadata
    public var data: [UInt8]
    public init(metadata: SnapshotMetadata = SnapshotMetadata(), data: [UInt8] = []) {
        self.metadata = metadata
        self.data = data
    }
    public var isEmpty: Bool { metadata.index == 0 }
}

/// The kinds of messages members exchange.
public enum MessageKind: UInt8, Sendable, CaseIterable {
    case append = 0
    case appendResponse = 1
    case heartbeat = 2
    case heartbeatResponse = 3
    case vote = 4
    case voteResponse = 5
    case preVote = 6
    case preVoteResponse = 7
    case snapshot = 8
    case timeoutNow = 9
    /// A proposal forwarded by a follower to the leader.
    case propose = 10
    /// A ReadIndex request forwarded by a follower to the leader.
    case readIndex = 11
    case readIndexResponse = 12

    /// Whether a message of this kind may only leave after the sender's state from the same
    /// `Ready` is durable. Votes, vote answers and append acknowledgements make promises about
    /// persisted state; everything else may be sent at once (in particular a leader's appends,
    /// which is what lets the leader replicate in parallel with its own fsync).
    public var requiresPersistence: Bool {
        switch self {
        case .vote, .voteResponse, .appendResponse: return true
        default: return false
        }
    }
}

/// A message between members. Which fields matter depends on `kind` (see each field).
public struct Message: Equatable, Sendable {
    public var kind: MessageKind
    public var from: NodeID
    public var to: NodeID
    public var term: Term
    /// append: term of the entry at `index`; vote/preVote: candidate's last term;
    /// rejected appendResponse: the follower's term at `rejectHint`.
    public var logTerm: Term
    /// append: index before the first entry; vote/preVote: candidate's last index;
    /// appendResponse: last matching index, or the rejected index; readIndexResponse: the read index.
    public var index: LogIndex
    public var entries: [Entry]
    /// append/heartbeat: the leader's commit index (capped for heartbeats by the follower's match).
    public var commit: LogIndex
    public var reject: Bool
    /// rejected appendResponse: an index at or below which the follower's log may match.
    public var rejectHint: LogIndex
    public var snapshot: Snapshot?
    /// heartbeat(response)/readIndex(response): the read request ID;
    /// vote/preVote: `Message.campaignTransfer` when the vote comes from a leader transfer.
    public var context: UInt64

    public init(
        kind: MessageKind, from: NodeID = .none, to: NodeID = .none, term: Term = 0,
        logTerm: Term = 0, index: LogIndex = 0, entries: [Entry] = [], commit: LogIndex = 0,
        reject: Bool = false, rejectHint: LogIndex = 0, snapshot: Snapshot? = nil, context: UInt64 = 0
    ) {
        self.kind = kind
        self.from = from
        self.to = to
        self.term = term
        self.logTerm = logTerm
        self.index = index
        self.entries = entries
        self.commit = commit
        self.reject = reject
        self.rejectHint = rejectHint
        self.snapshot = snapshot
        self.context = context
    }

    /// The `context` a vote request carries when a leader transfer forced the campaign:
    /// voters then ignore their leader lease.
    public static let campaignTransfer: UInt64 = 1
}

/// The answer to a ReadIndex request: once this member has applied `index`, a read that
/// started before the request may be served from its state machine.
public struct ReadState: Equatable, Sendable {
    public var index: LogIndex
    public var requestID: UInt64
    public init(index: LogIndex, requestID: UInt64) {
        self.index = index
        self.requestID = requestID
    }
}

/// The role a member plays at the moment.
public enum Role: String, Sendable {
    case follower
    case preCandidate = "pre-candidate"
    case candidate, leader
}

/// State that need not be persisted, reported when it changes.
public struct SoftState: Equatable, Sendable {
    public var leader: NodeID
    public var role: Role
}
