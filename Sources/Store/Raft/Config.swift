public import Base

/// The named limits and defaults of the consensus core, gathered so they can be read together.
public enum RaftLimits {
    /// Default bytes of entries in one append message.
    public static let appendBytesMaxDefault = 1 << 20
    /// Default appends in flight to one follower before the leader waits for answers.
    public static let inflightAppendsMaxDefault = 256
    /// Default payload bytes in flight to one follower (0 means no byte limit).
    public static let inflightBytesMaxDefault = 32 << 20
    /// Default payload bytes a leader accepts that are not yet committed; proposals past it are refused.
    public static let uncommittedBytesMaxDefault = 64 << 20
    /// Default bytes of committed entries handed out in one `Ready`.
    public static let applyBytesMaxDefault = 4 << 20
    /// ReadIndex requests a new leader holds until it has committed an entry of its term.
    public static let pendingReadIndexMax = 4096
    /// ReadIndex requests waiting for a quorum of heartbeat answers.
    public static let readIndexQueueMax = 65_536
}

/// Deliberate bugs that a test switches on to prove the simulation's checkers can fail.
/// Never set outside tests.
public struct InjectedBugs: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// A member grants its vote even after voting for someone else in the same term.
    public static let voteTwiceInTerm = InjectedBugs(rawValue: 1 << 0)
    /// The leader commits entries from earlier terms by counting replicas.
    public static let commitPriorTermByCounting = InjectedBugs(rawValue: 1 << 1)
    /// ReadIndex answers at once with the commit index, skipping the heartbeat round.
    public static let readIndexSkipsHeartbeat = InjectedBugs(rawValue: 1 << 2)
    /// A follower acknowledges appended entries before they are durable.
    public static let ackAppendBeforePersist = InjectedBugs(rawValue: 1 << 3)
    /// A member grants its vote without checking that the candidate's log is up to date.
    public static let voteIgnoresLog = InjectedBugs(rawValue: 1 << 4)
}

/// A source of randomness for election timeouts. Injected so a simulation run replays exactly.
public protocol RaftRandom {
    /// A uniformly distributed integer in `0..<upperBound`.
    mutating func nextInt(below upperBound: Int) -> Int
}

/// How a member runs. Time is counted in ticks, which the application delivers.
public struct RaftConfig {
    public var id: NodeID
    /// Ticks between heartbeats from the leader.
    public var heartbeatTicks = 1
    /// Ticks without hearing from a leader before a follower campaigns (randomized up to twice this).
    public var electionTicks = 10
    /// Campaign with a pre-vote round first, so a member that was cut off does not raise the term.
    public var preVote = true
    /// A leader steps down when it has not heard from a quorum within an election timeout;
    /// followers that heard from a leader within one ignore vote requests (the leader lease).
    public var checkQuorum = true
    public var appendBytesMax = RaftLimits.appendBytesMaxDefault
    public var inflightAppendsMax = RaftLimits.inflightAppendsMaxDefault
    public var inflightBytesMax = RaftLimits.inflightBytesMaxDefault
    public var uncommittedBytesMax = RaftLimits.uncommittedBytesMaxDefault
    public var applyBytesMax = RaftLimits.applyBytesMaxDefault
    /// Refuse proposals on followers instead of forwarding them to the leader.
    public var disableProposalForwarding = false
    /// The last index the application's state machine had applied when it started.
    public var applied: LogIndex = 0
    /// Test-only: deliberate bugs, for proving the checkers work.
    public var injectedBugs: InjectedBugs = []

    public init(id: NodeID) { self.id = id }

    /// Checks the relations between the settings.
    public func validate() throws(RaftError) {
        guard id != .none else { throw .invalidConfig("the member ID must not be 0") }
        guard heartbeatTicks > 0 else { throw .invalidConfig("heartbeat ticks must be positive") }
        guard electionTicks > heartbeatTicks else {
            throw .invalidConfig("election ticks (\(electionTicks)) must exceed heartbeat ticks (\(heartbeatTicks))")
        }
        guard inflightAppendsMax > 0 else { throw .invalidConfig("inflight appends max must be positive") }
        guard appendBytesMax > 0, applyBytesMax > 0 else {
            throw .invalidConfig("append and apply byte limits must be positive")
        }
    }
}

/// Why a request to the consensus core was refused. The request had no effect.
public enum RaftError: Error, Equatable, Sendable {
    /// No leader is known to forward the request to.
    case noLeader
    /// The operation needs the leader, and this member is not it.
    case notLeader(leader: NodeID)
    /// The leader is handing over leadership; proposals wait until it is done.
    case leadershipTransferInProgress
    /// Too many bytes are proposed but not yet committed.
    case uncommittedLimitReached
    /// Followers were configured not to forward proposals.
    case proposalForwardingDisabled
    /// A membership change is still being applied; only one may be in progress.
    case confChangeInProgress
    /// The membership change is not valid for the current membership.
    case invalidConfChange(String)
    /// Too many ReadIndex requests are waiting.
    case readIndexQueueFull
    /// The leadership transfer target is not a voter, or is the leader itself.
    case invalidTransferTarget(NodeID)
    case invalidConfig(String)
}

extension InjectedBugs {
    /// The command-line names of the deliberate bugs.
    public static let named: [String: InjectedBugs] = [
        "vote-twice": .voteTwiceInTerm,
        "commit-prior-term": .commitPriorTermByCounting,
        "read-index-no-heartbeat": .readIndexSkipsHeartbeat,
        "ack-before-persist": .ackAppendBeforePersist,
        "vote-ignores-log": .voteIgnoresLog
    ]
}

/// The house's seeded generator draws election timeouts (a member seeds one per member; the
/// simulator one per run).
extension SeededRandom: RaftRandom {}
