import Base
public import Raft

/// A cluster in one process with no I/O: storage in memory, writes durable at once, messages
/// routed through arrays. For the micro-benchmark and for tests that need a working quorum
/// without the simulator's faults.
public final class InMemoryCluster {
    struct Member {
        var raft: RaftNode
        let storage: MemoryStorage
        var inbox: [Message] = []
    }

    var members: [Member] = []
    /// Entries applied on the leader, counted for the caller.
    public private(set) var appliedOnLeader = 0

    public init(size: Int) throws {
        let ids = (1...size).map { NodeID(UInt64($0)) }
        let bootstrap = ids.enumerated().map { i, id in
            Entry(
                term: 1, index: LogIndex(UInt64(i + 1)), kind: .confChange,
                data: ConfChange(kind: .addVoter, nodeID: id).encoded())
        }
        for id in ids {
            let storage = MemoryStorage()
            storage.append(bootstrap)
            storage.setHardState(HardState(term: 1, commit: LogIndex(UInt64(size))))
            var config = RaftConfig(id: id)
            config.preVote = true
            config.checkQuorum = true
            members.append(
                Member(
                    raft: try RaftNode(config: config, storage: storage, random: SeededRandom(seed: id.rawValue)),
                    storage: storage))
        }
        settle()
        members[0].raft.campaign()
        settle()
        precondition(members[0].raft.role == .leader, "member 1 did not become leader")
        appliedOnLeader = 0
    }

    /// Proposes `entries` on the leader and runs the cluster until nothing moves.
    /// Returns how many of them the leader applied.
    public func proposeAndCommit(_ entries: [[UInt8]]) throws(RaftError) -> Int {
        let before = appliedOnLeader
        try members[0].raft.propose(batch: entries)
        settle()
        return appliedOnLeader - before
    }

    /// Handles every `Ready` and delivers every message until the cluster is quiet.
    public func settle() {
        var moved = true
        while moved {
            moved = false
            for i in members.indices {
                while let ready = members[i].raft.takeReady() {
                    moved = true
                    handle(ready, at: i)
                }
            }
            for i in members.indices where !members[i].inbox.isEmpty {
                moved = true
                let messages = members[i].inbox
                members[i].inbox.removeAll(keepingCapacity: true)
                for message in messages { members[i].raft.step(message) }
            }
        }
    }

    func handle(_ ready: Ready, at i: Int) {
        route(ready.messages)
        try? members[i].storage.store(ready)
        members[i].raft.persisted(ready.number)
        route(ready.persistedMessages)
        for entry in ready.committedEntries where entry.kind == .confChange {
            if let change = ConfChange(decoding: entry.data) { members[i].raft.applyConfChange(change) }
        }
        if let last = ready.committedEntries.last {
            if i == 0 { appliedOnLeader += ready.committedEntries.count { $0.kind == .normal && !$0.data.isEmpty } }
            members[i].raft.applied(through: last.index)
        }
    }

    func route(_ messages: [Message]) {
        for message in messages {
            let target = Int(message.to.rawValue) - 1
            if members.indices.contains(target) { members[target].inbox.append(message) }
        }
    }
}
