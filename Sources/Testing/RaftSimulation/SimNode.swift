import Base
import Raft

/// One simulated member: a `RaftNode` over a durable `MemoryStorage` (the simulated disk),
/// a write pipeline whose fsyncs take simulated time, and a state machine that folds every
/// applied entry into a running hash.
final class SimNode {
    let id: NodeID
    /// nil while crashed (or after removal).
    var raft: RaftNode?
    /// What survives a crash: only what completed writing.
    let disk = MemoryStorage()
    var removed = false
    /// Bumped at each crash so that events scheduled for an earlier life are ignored.
    var incarnation = 0
    var tickIntervalMs: Int

    /// Ready batches whose durable part is still being written, oldest first.
    var writeQueue: [PendingWrite] = []
    /// How many of `writeQueue` the fsync in flight covers (0: none in flight).
    var syncingCount = 0

    // The state machine, rebuilt from the disk's snapshot after a restart.
    var appliedIndex: LogIndex = 0
    var stateHash: UInt64 = 0
    var appliedConf = ConfState()

    // Checker bookkeeping for this life.
    var lastCommitSeen: LogIndex = 0
    var leaderTermSeen: Term?

    struct PendingWrite {
        var ready: Ready
    }

    init(id: NodeID, tickIntervalMs: Int) {
        self.id = id
        self.tickIntervalMs = tickIntervalMs
    }

    var isUp: Bool { raft != nil }

    /// Writes the bootstrap log every initial member starts with: one membership entry per
    /// voter at term 1, already committed.
    func bootstrap(voters: [NodeID]) {
        var entries: [Entry] = []
        for (i, voter) in voters.enumerated() {
            entries.append(
                Entry(
                    term: 1, index: LogIndex(UInt64(i + 1)), kind: .confChange,
                    data: ConfChange(kind: .addVoter, nodeID: voter).encoded()))
        }
        disk.append(entries)
        disk.setHardState(HardState(term: 1, vote: .none, commit: LogIndex(UInt64(voters.count))))
    }

    /// Starts (or restarts) the member from its disk.
    func start(config: RaftConfig, random: SeededRandom) {
        let snapshot = (try? disk.snapshot()) ?? Snapshot()
        appliedIndex = snapshot.metadata.index
        stateHash = SimNode.hash(fromSnapshotData: snapshot.data)
        appliedConf = snapshot.metadata.confState
        var config = config
        config.applied = appliedIndex
        do {
            raft = try RaftNode(config: config, storage: disk, random: random)
        } catch {
            preconditionFailure("member \(id) could not start: \(error)")
        }
        writeQueue = []
        syncingCount = 0
        lastCommitSeen = raft!.commitIndex
        leaderTermSeen = nil
    }

    func crash() {
        raft = nil
        writeQueue = []
        syncingCount = 0
        incarnation += 1
    }

    /// Carries out the durable part of the oldest `count` writes, as a completed fsync.
    /// Returns the messages that may now be sent.
    func completeWrites(count: Int) -> [Message] {
        var released: [Message] = []
        for write in writeQueue.prefix(count) {
            let ready = write.ready
            do {
                try disk.store(ready)
            } catch {
                preconditionFailure("member \(id): snapshot \(ready.snapshot?.metadata.index ?? 0) older than the disk's")
            }
            if let snapshot = ready.snapshot {
                stateHash = SimNode.hash(fromSnapshotData: snapshot.data)
                appliedIndex = snapshot.metadata.index
                appliedConf = snapshot.metadata.confState
            }
            raft!.persisted(ready.number)
            if ready.snapshot != nil { raft!.applied(through: appliedIndex) }
            released.append(contentsOf: ready.persistedMessages)
        }
        writeQueue.removeFirst(count)
        return released
    }

    /// Folds an applied entry into the state hash.
    func apply(_ entry: Entry) {
        var h = stateHash ^ UInt64(entry.kind.rawValue)
        for byte in entry.data { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        stateHash = (h ^ entry.index.rawValue) &* 0x9E37_79B9_7F4A_7C15
        appliedIndex = entry.index
    }

    /// The snapshot image: the state hash (8 bytes, little endian).
    var snapshotData: [UInt8] {
        withUnsafeBytes(of: stateHash.littleEndian) { Array($0) }
    }

    static func hash(fromSnapshotData data: [UInt8]) -> UInt64 {
        guard data.count == 8 else { return 0 }
        var value: UInt64 = 0
        for i in 0..<8 { value |= UInt64(data[i]) << (8 * UInt64(i)) }
        return value
    }
}
