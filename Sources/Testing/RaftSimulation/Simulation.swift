import Base
public import Raft

/// What one simulation run does. Everything not set here is drawn from the seed.
public struct SimulationOptions: Sendable {
    public var seed: UInt64
    /// Voters the cluster starts with.
    public var members: Int
    /// Simulated milliseconds of faults before everything heals.
    public var faultPhaseMs = 6_000
    /// After healing, a write proposed after the heal must commit within this many simulated ms.
    public var livenessBoundMs = 20_000
    /// Members that may be added by membership changes during a run.
    public var addedMembersMax = 4
    /// Test-only deliberate bugs switched on in every member.
    public var injectedBugs: InjectedBugs = []
    /// Print every event as it happens (to standard output).
    public var traceAll = false
    /// How many trace lines before a failure the report keeps.
    public var traceTailLines = 80

    public init(seed: UInt64, members: Int) {
        self.seed = seed
        self.members = members
    }
}

/// Counts of what happened in a run.
public struct SimulationStats: Sendable {
    public var events = 0
    public var messagesSent = 0
    public var messagesDropped = 0
    public var writesProposed = 0
    public var writesCommitted = 0
    public var readsStarted = 0
    public var readsConfirmed = 0
    public var leadersElected = 0
    public var crashes = 0
    public var partitions = 0
    public var confChangesApplied = 0
    public var transfers = 0
    public var snapshotsInstalled = 0
    public var highestCommit: UInt64 = 0
}

/// The outcome of one seed: a violation (with the trace leading to it) or none.
public struct SimulationReport: Sendable {
    public var seed: UInt64
    public var members: Int
    public var violation: String?
    /// The last events before the violation (or before the end of the run).
    public var trace: [String]
    public var stats: SimulationStats
    /// The knobs the seed drew, for the report.
    public var settings: String
}

/// Runs one seeded simulation: members, a lossy network, slow disks, a client, faults, and
/// the safety and liveness checks after every event.
public func runSimulation(_ options: SimulationOptions) -> SimulationReport {
    let simulation = Simulation(options: options)
    return simulation.run()
}

final class Simulation {
    enum Event {
        case tick(NodeID, incarnation: Int)
        case deliver(Message)
        case syncDone(NodeID, incarnation: Int)
        case snapshotReport(leader: NodeID, follower: NodeID, failed: Bool)
        case client
        case fault
        /// Depose a new leader soon after its election, if it still leads in `term`.
        case disruptLeader(NodeID, term: Term)
        case heal
    }

    struct Link: Hashable {
        var from: NodeID
        var to: NodeID
    }

    let options: SimulationOptions
    var rng: SeededRandom
    var now = 0
    var queue = EventQueue<Event>()
    var nodes: [SimNode] = []
    var baseConfig: RaftConfig
    var nextNodeID: UInt64
    var blocked: Set<Link> = []
    var dropRate: Double
    var duplicateRate: Double
    /// Milliseconds between faults; some seeds are storms of faults.
    var faultIntervalMs: ClosedRange<Int>
    var stats = SimulationStats()
    var settings = ""

    // Checker state.
    var violation: String?
    var leaderByTerm: [Term: NodeID] = [:]
    /// `committedTerms[i]` is the term of the entry committed at index i (0: not yet seen).
    var committedTerms: [UInt64] = [0]
    /// `appliedHashes[i]` is the state hash after applying index i (0: not yet seen).
    var appliedHashes: [UInt64] = [0]
    var maxCommitted: LogIndex = 0

    // Client state.
    var nextOpID: UInt64 = 1
    var pendingWrites: [UInt64: Int] = [:]
    var maxAckedIndex: LogIndex = 0
    var pendingReads: [UInt64: (node: NodeID, ackedBefore: LogIndex)] = [:]
    var healTime: Int?
    var committedAfterHeal = false
    var endTime = Int.max

    var traceRing: [String] = []
    var traceNext = 0

    init(options: SimulationOptions) {
        self.options = options
        rng = SeededRandom(seed: options.seed)
        precondition(options.members >= 1, "a cluster needs a member")
        var config = RaftConfig(id: 1)
        config.electionTicks = 10
        config.heartbeatTicks = rng.int(in: 1...3)
        config.preVote = rng.chance(0.75)
        config.checkQuorum = rng.chance(0.7)
        config.appendBytesMax = rng.chance(0.5) ? 64 : 1 << 20
        config.inflightAppendsMax = rng.pick([1, 2, 8, 64])!
        // A leader cut off without check-quorum keeps taking proposals; the uncommitted limit
        // bounds that backlog (and exercises the refusal), so catching up after the heal stays
        // within the liveness bound even at one small append in flight.
        config.uncommittedBytesMax = rng.pick([1 << 10, 8 << 10, 64 << 10])!
        config.injectedBugs = options.injectedBugs
        baseConfig = config
        dropRate = Double(rng.int(in: 0...10)) / 100
        duplicateRate = Double(rng.int(in: 0...5)) / 100
        faultIntervalMs = rng.chance(0.3) ? 20...80 : 100...400
        nextNodeID = UInt64(options.members) + 1
        settings =
            "preVote=\(config.preVote) checkQuorum=\(config.checkQuorum) heartbeat=\(config.heartbeatTicks) "
            + "appendBytesMax=\(config.appendBytesMax) inflight=\(config.inflightAppendsMax) "
            + "uncommittedMax=\(config.uncommittedBytesMax) "
            + "drop=\(dropRate) dup=\(duplicateRate) faultEveryMs=\(faultIntervalMs)"
    }

    func node(_ id: NodeID) -> SimNode? { nodes.first { $0.id == id } }

    func run() -> SimulationReport {
        let voters = (1...options.members).map { NodeID(UInt64($0)) }
        for voter in voters {
            let member = SimNode(id: voter, tickIntervalMs: rng.int(in: 5...20))
            member.bootstrap(voters: voters)
            nodes.append(member)
            startNode(member)
        }
        queue.push(.client, at: rng.int(in: 1...5))
        queue.push(.fault, at: rng.int(in: 100...300))
        queue.push(.heal, at: options.faultPhaseMs)
        trace("start seed=\(options.seed) members=\(options.members) \(settings)")
        while violation == nil, let (time, event) = queue.pop() {
            if time > endTime { break }
            now = time
            stats.events += 1
            handle(event)
            if violation == nil && stats.events % 64 == 0 { checkLogMatching() }
        }
        if violation == nil, let healTime, !committedAfterHeal {
            fail("liveness: no write proposed after the heal at \(healTime) ms committed within \(options.livenessBoundMs) ms")
        }
        if violation == nil { checkLogMatching() }
        return SimulationReport(
            seed: options.seed, members: options.members, violation: violation, trace: traceTail(),
            stats: stats, settings: settings)
    }

    // MARK: - Events

    func handle(_ event: Event) {
        switch event {
        case .tick(let id, let incarnation):
            guard let member = node(id), member.isUp, member.incarnation == incarnation else { return }
            member.raft!.tick()
            drain(member)
            if member.isUp { queue.push(.tick(id, incarnation: incarnation), at: now + member.tickIntervalMs) }
        case .deliver(let message):
            deliver(message)
        case .syncDone(let id, let incarnation):
            guard let member = node(id), member.isUp, member.incarnation == incarnation else { return }
            let released = member.completeWrites(count: member.syncingCount)
            member.syncingCount = 0
            for message in released { send(message) }
            drain(member)
            startSync(member)
        case .snapshotReport(let leaderID, let follower, let failed):
            guard let leader = node(leaderID), leader.isUp else { return }
            leader.raft!.reportSnapshot(to: follower, failed: failed)
            drain(leader)
        case .client:
            clientStep()
            queue.push(.client, at: now + rng.int(in: 2...8))
        case .fault:
            guard healTime == nil else { return }
            injectFault()
            queue.push(.fault, at: now + rng.int(in: faultIntervalMs))
        case .heal:
            heal()
        case .disruptLeader(let id, let term):
            guard healTime == nil, let member = node(id), member.isUp, member.raft!.role == .leader,
                member.raft!.term == term
            else { return }
            if rng.chance(0.5) {
                stats.crashes += 1
                trace("n\(id) CRASH new leader of term \(term)")
                member.crash()
            } else {
                isolateLeader()
            }
        }
    }

    func startNode(_ member: SimNode) {
        var config = baseConfig
        config.id = member.id
        member.start(config: config, random: rng.fork())
        trace("n\(member.id) start (term \(member.raft!.term), commit \(member.raft!.commitIndex))")
        queue.push(.tick(member.id, incarnation: member.incarnation), at: now + rng.int(in: 1...member.tickIntervalMs))
        drain(member)
    }

    /// Carries out every `Ready` the member has, then checks its state.
    func drain(_ member: SimNode) {
        var removals: [NodeID] = []
        while violation == nil, member.isUp, let ready = member.raft!.takeReady() {
            if let soft = ready.softState, soft.role == .leader {
                stats.leadersElected += 1
                trace("n\(member.id) becomes leader in term \(member.raft!.term)")
                // Leaders deposed just after election, with entries of earlier terms only partly
                // replicated, are where commit rules are tested hardest (Raft figure 8).
                if healTime == nil && rng.chance(0.2) {
                    queue.push(.disruptLeader(member.id, term: member.raft!.term), at: now + rng.int(in: 0...20))
                }
            }
            for message in ready.messages { send(message) }
            if ready.needsPersistence || !member.writeQueue.isEmpty {
                member.writeQueue.append(SimNode.PendingWrite(ready: ready))
                startSync(member)
            } else {
                for message in ready.persistedMessages { send(message) }
            }
            removals += apply(ready.committedEntries, on: member)
            for readState in ready.readStates { checkRead(readState, on: member) }
            checkNode(member)
        }
        for removed in removals { removeMember(removed) }
    }

    func startSync(_ member: SimNode) {
        guard member.syncingCount == 0, !member.writeQueue.isEmpty else { return }
        // Group commit: one fsync covers every write waiting now.
        member.syncingCount = member.writeQueue.count
        let latency = rng.chance(0.03) ? rng.int(in: 30...80) : rng.int(in: 1...8)
        queue.push(.syncDone(member.id, incarnation: member.incarnation), at: now + latency)
    }

    func apply(_ entries: [Entry], on member: SimNode) -> [NodeID] {
        var removals: [NodeID] = []
        for entry in entries {
            guard entry.index == member.appliedIndex + 1 else {
                fail("n\(member.id) applied index \(entry.index) after \(member.appliedIndex)")
                return removals
            }
            member.apply(entry)
            checkApplied(entry.index, hash: member.stateHash, on: member)
            if entry.kind == .confChange, let change = ConfChange(decoding: entry.data) {
                member.appliedConf = member.raft!.applyConfChange(change)
                stats.confChangesApplied += 1
                if change.kind == .removeNode { removals.append(change.nodeID) }
            } else if let opID = SimClient.writeID(entry.data), pendingWrites.removeValue(forKey: opID) != nil {
                stats.writesCommitted += 1
                maxAckedIndex = max(maxAckedIndex, entry.index)
                if healTime != nil && !committedAfterHeal && opID >= firstOpAfterHeal {
                    // Liveness shown; run a little longer for the safety checks, then stop.
                    committedAfterHeal = true
                    endTime = min(endTime, now + 300)
                }
            }
        }
        if let last = entries.last { member.raft!.applied(through: last.index) }
        return removals
    }

    var firstOpAfterHeal: UInt64 = .max

    func removeMember(_ id: NodeID) {
        guard let member = node(id), !member.removed else { return }
        trace("n\(id) removed from the cluster; stopping it")
        member.crash()
        member.removed = true
    }

    // MARK: - Network

    func send(_ message: Message) {
        stats.messagesSent += 1
        let link = Link(from: message.from, to: message.to)
        if blocked.contains(link) || rng.chance(dropRate) {
            stats.messagesDropped += 1
            if message.kind == .snapshot {
                queue.push(.snapshotReport(leader: message.from, follower: message.to, failed: true), at: now + 5)
            }
            return
        }
        queue.push(.deliver(message), at: now + messageDelay())
        if rng.chance(duplicateRate) { queue.push(.deliver(message), at: now + messageDelay()) }
    }

    func messageDelay() -> Int {
        rng.chance(0.05) ? rng.int(in: 30...200) : rng.int(in: 1...10)
    }

    func deliver(_ message: Message) {
        guard let target = node(message.to), target.isUp,
            !blocked.contains(Link(from: message.from, to: message.to))
        else {
            stats.messagesDropped += 1
            if message.kind == .snapshot {
                queue.push(.snapshotReport(leader: message.from, follower: message.to, failed: true), at: now + 1)
            }
            return
        }
        if options.traceAll || message.kind != .heartbeat && message.kind != .heartbeatResponse {
            trace(describe(message))
        }
        target.raft!.step(message)
        if message.kind == .snapshot {
            stats.snapshotsInstalled += 1
            queue.push(.snapshotReport(leader: message.from, follower: message.to, failed: false), at: now + 1)
        }
        drain(target)
    }

    // MARK: - Client

    func clientStep() {
        let up = nodes.filter { $0.isUp }
        guard let member = rng.pick(up) else { return }
        if rng.chance(0.7) {
            // Mostly single writes; sometimes a batch, as a store member sends them.
            let count = rng.chance(0.2) ? rng.int(in: 2...6) : 1
            let opIDs = (0..<count).map { nextOpID + UInt64($0) }
            nextOpID += UInt64(count)
            stats.writesProposed += count
            do {
                try member.raft!.propose(batch: opIDs.map { SimClient.writeData($0) })
                for opID in opIDs { pendingWrites[opID] = now }
            } catch {
                // Refused (no leader, transfer in progress...): the client would retry elsewhere.
                if options.traceAll { trace("n\(member.id) refused a proposal: \(error)") }
            }
        } else {
            let requestID = nextOpID
            nextOpID += 1
            stats.readsStarted += 1
            do {
                try member.raft!.readIndex(requestID: requestID)
                pendingReads[requestID] = (member.id, maxAckedIndex)
            } catch {}
        }
        drain(member)
    }

    // MARK: - Faults

    func injectFault() {
        let up = nodes.filter { $0.isUp }
        let down = nodes.filter { !$0.isUp && !$0.removed }
        switch rng.nextInt(below: 14) {
        case 9, 11:
            // Leaders are where unreplicated entries pile up: crash one.
            guard let victim = currentLeader ?? rng.pick(up) else { return }
            stats.crashes += 1
            trace("n\(victim.id) CRASH leader (unsynced writes lost)")
            victim.crash()
        case 10, 12, 13:
            isolateLeader()
        case 0:
            guard let victim = rng.pick(up) else { return }
            stats.crashes += 1
            trace("n\(victim.id) CRASH (unsynced writes lost)")
            victim.crash()
        case 1:
            guard let member = rng.pick(down) else { return }
            trace("n\(member.id) RESTART")
            startNode(member)
        case 2:
            partitionSymmetric()
        case 3:
            partitionOneWay()
        case 4:
            if !blocked.isEmpty { trace("HEAL partitions") }
            blocked = []
        case 5:
            transferLeadership()
        case 6:
            changeMembership()
        case 7:
            compact()
        default:
            guard let member = rng.pick(nodes) else { return }
            member.tickIntervalMs = rng.int(in: 3...30)
            trace("n\(member.id) tick interval now \(member.tickIntervalMs) ms")
        }
    }

    func partitionSymmetric() {
        let live = nodes.filter { !$0.removed }.map(\.id)
        guard live.count > 1 else { return }
        var shuffled = live
        for i in stride(from: shuffled.count - 1, to: 0, by: -1) { shuffled.swapAt(i, rng.nextInt(below: i + 1)) }
        let cut = rng.int(in: 1...(shuffled.count - 1))
        let left = Array(shuffled[..<cut]).sorted()
        let right = Array(shuffled[cut...]).sorted()
        for a in left {
            for b in right {
                blocked.insert(Link(from: a, to: b))
                blocked.insert(Link(from: b, to: a))
            }
        }
        stats.partitions += 1
        trace("PARTITION \(left) | \(right)")
    }

    func isolateLeader() {
        guard let leader = currentLeader else { return }
        for other in nodes where other.id != leader.id {
            blocked.insert(Link(from: leader.id, to: other.id))
            blocked.insert(Link(from: other.id, to: leader.id))
        }
        stats.partitions += 1
        trace("PARTITION leader n\(leader.id) isolated")
    }

    func partitionOneWay() {
        let live = nodes.filter { !$0.removed }.map(\.id)
        guard let victim = rng.pick(live) else { return }
        let inbound = rng.chance(0.5)
        for other in live where other != victim {
            blocked.insert(inbound ? Link(from: other, to: victim) : Link(from: victim, to: other))
        }
        stats.partitions += 1
        trace("PARTITION one-way: n\(victim) \(inbound ? "cannot receive" : "cannot send")")
    }

    var currentLeader: SimNode? {
        nodes.filter { $0.isUp && $0.raft!.role == .leader }.max { $0.raft!.term < $1.raft!.term }
    }

    func transferLeadership() {
        guard let leader = currentLeader else { return }
        let candidates = leader.raft!.confState.voters.filter { $0 != leader.id }
        guard let target = rng.pick(candidates) else { return }
        stats.transfers += 1
        do {
            try leader.raft!.transferLeadership(to: target)
            trace("n\(leader.id) TRANSFER leadership to n\(target)")
        } catch {
            trace("n\(leader.id) transfer to n\(target) refused: \(error)")
        }
        drain(leader)
    }

    func changeMembership() {
        guard let leader = currentLeader else { return }
        let conf = leader.raft!.confState
        var choices: [ConfChange] = []
        let addedSoFar = Int(nextNodeID) - options.members - 1
        if addedSoFar < options.addedMembersMax {
            choices.append(ConfChange(kind: .addLearner, nodeID: NodeID(nextNodeID)))
            choices.append(ConfChange(kind: .addVoter, nodeID: NodeID(nextNodeID)))
        }
        for learner in conf.learners { choices.append(ConfChange(kind: .addVoter, nodeID: learner)) }
        if conf.voters.count > 2 {
            for voter in conf.voters { choices.append(ConfChange(kind: .removeNode, nodeID: voter)) }
        }
        for learner in conf.learners { choices.append(ConfChange(kind: .removeNode, nodeID: learner)) }
        guard let change = rng.pick(choices) else { return }
        if change.nodeID.rawValue == nextNodeID {
            nextNodeID += 1
            let newcomer = SimNode(id: change.nodeID, tickIntervalMs: rng.int(in: 5...20))
            nodes.append(newcomer)
            startNode(newcomer)
        }
        do {
            try leader.raft!.proposeConfChange(change)
            trace("n\(leader.id) PROPOSE \(change.kind) n\(change.nodeID)")
        } catch {
            trace("n\(leader.id) conf change \(change.kind) n\(change.nodeID) refused: \(error)")
        }
        drain(leader)
    }

    func compact() {
        let candidates = nodes.filter { $0.isUp && $0.appliedIndex > $0.disk.firstIndex() + 4 }
        guard let member = rng.pick(candidates) else { return }
        let index = member.appliedIndex
        do {
            _ = try member.disk.createSnapshot(at: index, confState: member.appliedConf, data: member.snapshotData)
            let keep = UInt64(rng.int(in: 0...3))
            try member.disk.compact(through: index - keep)
            trace("n\(member.id) SNAPSHOT at \(index), log compacted through \(index - keep)")
        } catch {
            trace("n\(member.id) snapshot at \(index) failed: \(error)")
        }
    }

    func heal() {
        trace("HEAL everything: partitions, drops, crashed members restart")
        blocked = []
        dropRate = 0
        duplicateRate = 0
        healTime = now
        firstOpAfterHeal = nextOpID
        // Clocks that ran uneven go back to a normal spread.
        for member in nodes { member.tickIntervalMs = rng.int(in: 8...12) }
        for member in nodes where !member.isUp && !member.removed { startNode(member) }
        endTime = now + options.livenessBoundMs
    }
}

/// How the simulated client encodes its writes: "w" followed by the 8-byte operation ID.
enum SimClient {
    static func writeData(_ opID: UInt64) -> [UInt8] {
        var data: [UInt8] = [0x77]
        withUnsafeBytes(of: opID.littleEndian) { data.append(contentsOf: $0) }
        return data
    }

    static func writeID(_ data: [UInt8]) -> UInt64? {
        guard data.count == 9, data[0] == 0x77 else { return nil }
        var value: UInt64 = 0
        for i in 0..<8 { value |= UInt64(data[1 + i]) << (8 * UInt64(i)) }
        return value
    }
}
