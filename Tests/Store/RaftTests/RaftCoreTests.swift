import Base
import RaftSimulation
import Testing

@testable import Raft

struct StorageTests {
    func entries(_ range: ClosedRange<UInt64>, term: UInt64) -> [Entry] {
        range.map { Entry(term: Term($0 == 0 ? 0 : term), index: LogIndex($0), data: [UInt8(truncatingIfNeeded: $0)]) }
    }

    @Test func appendReplacesConflictingSuffix() throws {
        let storage = MemoryStorage()
        storage.append(entries(1...5, term: 1))
        storage.append(entries(4...6, term: 2))
        #expect(storage.lastIndex() == 6)
        #expect(try storage.term(at: 3) == 1)
        #expect(try storage.term(at: 4) == 2)
        #expect(throws: LogStorageError.unavailable) { try storage.term(at: 7) }
    }

    @Test func compactionAndSnapshots() throws {
        let storage = MemoryStorage()
        storage.append(entries(1...10, term: 1))
        _ = try storage.createSnapshot(at: 6, confState: ConfState(voters: [1]), data: [9])
        try storage.compact(through: 4)
        #expect(storage.firstIndex() == 5)
        #expect(try storage.term(at: 4) == 1)  // The entry before the first is still answered.
        #expect(throws: LogStorageError.compacted) { try storage.term(at: 3) }
        #expect(throws: LogStorageError.compacted) { try storage.entries(from: 4, to: 6, maxBytes: .max) }
        #expect(throws: LogStorageError.compacted) { try storage.compact(through: 3) }
        #expect(throws: LogStorageError.compacted) {
            _ = try storage.createSnapshot(at: 5, confState: ConfState(), data: [])
        }
        #expect(try storage.entries(from: 5, to: 11, maxBytes: 1).count == 1)
    }

    @Test func byteLimitAlwaysReturnsOneEntry() throws {
        let storage = MemoryStorage()
        storage.append(entries(1...3, term: 1))
        #expect(try storage.entries(from: 1, to: 4, maxBytes: 0).count == 1)
        #expect(try storage.entries(from: 1, to: 4, maxBytes: 2 * (1 + Entry.overheadBytes)).count == 2)
    }
}

struct ProgressTests {
    @Test func inflightsBoundCountAndBytes() {
        var inflights = Inflights(capacity: 3, bytesMax: 100)
        inflights.add(index: 1, bytes: 10)
        inflights.add(index: 2, bytes: 10)
        #expect(!inflights.isFull)
        inflights.add(index: 3, bytes: 10)
        #expect(inflights.isFull)
        inflights.freeLE(2)
        #expect(inflights.count == 1 && inflights.bytes == 10)
        inflights.add(index: 4, bytes: 95)
        #expect(inflights.isFull)  // Over the byte limit.
        inflights.freeFirst()
        #expect(inflights.count == 1 && inflights.bytes == 95)
    }

    @Test func staleRejectionsAreIgnored() {
        var progress = Progress(next: 10, inflightsMax: 4, inflightBytesMax: 0, isLearner: false)
        _ = progress.maybeUpdate(5)
        progress.becomeReplicate()
        let stale = progress.maybeDecrTo(rejected: 4, matchHint: 2)
        let fresh = progress.maybeDecrTo(rejected: 8, matchHint: 2)
        #expect(!stale)
        #expect(fresh)
        #expect(progress.next == 6)
    }
}

struct EncodingTests {
    @Test func confChangeRoundTrip() {
        let change = ConfChange(kind: .addLearner, nodeID: 0x0102_0304_0506_0708, context: Array("peer".utf8))
        #expect(ConfChange(decoding: change.encoded()) == change)
        #expect(ConfChange(decoding: [9, 1, 0, 0, 0, 0, 0, 0, 0]) == nil)  // Unknown kind.
        #expect(ConfChange(decoding: [0, 1, 2]) == nil)  // Too short.
        #expect(ConfChange(decoding: [0, 0, 0, 0, 0, 0, 0, 0, 0]) == nil)  // Node 0.
    }
}

/// Runs a request and returns how it was refused, or nil if it was accepted.
func refusal(_ body: () throws(RaftError) -> Void) -> RaftError? {
    do {
        try body()
        return nil
    } catch {
        return error
    }
}

struct RaftNodeTests {
    func singleNode(_ configure: (inout RaftConfig) -> Void = { _ in }) throws -> (RaftNode, MemoryStorage) {
        let storage = MemoryStorage()
        storage.append([
            Entry(
                term: 1, index: 1, kind: .confChange,
                data: ConfChange(kind: .addVoter, nodeID: 1).encoded())
        ])
        storage.setHardState(HardState(term: 1, commit: 1))
        var config = RaftConfig(id: 1)
        configure(&config)
        var node = try RaftNode(config: config, storage: storage, random: SeededRandom(seed: 1))
        let first = node.takeReady()
        let ready = try #require(first)
        for entry in ready.committedEntries where entry.kind == .confChange {
            node.applyConfChange(ConfChange(decoding: entry.data)!)
        }
        node.applied(through: 1)
        return (node, storage)
    }

    @Test func configIsValidated() {
        var config = RaftConfig(id: 1)
        config.electionTicks = 1
        #expect(throws: RaftError.self) { try config.validate() }
        #expect(throws: RaftError.self) { try RaftConfig(id: .none).validate() }
    }

    @Test func proposalsWithoutALeaderAreRefused() throws {
        var (node, _) = try singleNode()
        let propose = refusal { () throws(RaftError) in try node.propose([1]) }
        let read = refusal { () throws(RaftError) in try node.readIndex(requestID: 5) }
        let transfer = refusal { () throws(RaftError) in try node.transferLeadership(to: 2) }
        #expect(propose == .noLeader)
        #expect(read == .noLeader)
        #expect(transfer == .notLeader(leader: .none))
    }

    @Test func uncommittedBytesAreBounded() throws {
        var (node, _) = try singleNode { $0.uncommittedBytesMax = 100 }
        node.campaign()
        #expect(node.role == .leader)
        // Nothing becomes durable here, so nothing commits: proposals pile up to the limit.
        try node.propose([UInt8](repeating: 1, count: 60))
        let second = refusal { () throws(RaftError) in try node.propose([UInt8](repeating: 1, count: 60)) }
        #expect(second == .uncommittedLimitReached)
        try node.propose([UInt8](repeating: 1, count: 40))
    }

    @Test func oneMembershipChangeAtATime() throws {
        var (node, _) = try singleNode()
        node.campaign()
        // Everything before the new leader's no-op is applied, so one change may be proposed;
        // a second waits until the first is applied.
        let first = refusal { () throws(RaftError) in try node.proposeConfChange(ConfChange(kind: .addLearner, nodeID: 2)) }
        let second = refusal { () throws(RaftError) in try node.proposeConfChange(ConfChange(kind: .addLearner, nodeID: 3)) }
        let remove = refusal { () throws(RaftError) in try node.proposeConfChange(ConfChange(kind: .removeNode, nodeID: 1)) }
        #expect(first == nil)
        #expect(second == .confChangeInProgress)
        #expect(remove == .invalidConfChange("removing member 1 would leave no voters"))
    }

    @Test func singleMemberCommitsOnlyAfterItsOwnWriteIsDurable() throws {
        var (node, storage) = try singleNode()
        node.campaign()
        try node.propose(Array("x".utf8))
        let taken = node.takeReady()
        let ready = try #require(taken)
        #expect(ready.entries.map(\.index) == [2, 3])
        #expect(ready.committedEntries.isEmpty)
        #expect(node.commitIndex == 1)
        storage.append(ready.entries)
        storage.setHardState(ready.hardState!)
        node.persisted(ready.number)
        #expect(node.commitIndex == 3)
        let after = node.takeReady()
        let next = try #require(after)
        #expect(next.committedEntries.map(\.index) == [2, 3])
    }

    @Test func leaderSendsAppendsBeforeItsOwnWriteIsDurable() throws {
        let driver = electedDriver()
        _ = driver.run("propose 1 x")
        let out = driver.run("process-ready 1")
        // The entries to write and the appends to followers come in the same batch, and the
        // appends are not held back until after the write.
        #expect(out.contains("Entries: 5/2 x"))
        #expect(out.contains("  send n1->n2 append"))
        #expect(!out.contains("send after persist n1->n2 append"))
    }
}

struct InMemoryClusterTests {
    @Test func threeMembersCommitEveryProposal() throws {
        let cluster = try InMemoryCluster(size: 3)
        let batch = (0..<100).map { _ in [UInt8](repeating: 7, count: 256) }
        let first = try cluster.proposeAndCommit(batch)
        let second = try cluster.proposeAndCommit(batch)
        #expect(first == 100)
        #expect(second == 100)
    }

    @Test func aBatchGoesToEachFollowerInOneAppend() {
        let driver = electedDriver()
        _ = driver.run("propose-batch 1 a b c")
        let out = driver.run("process-ready 1")
        #expect(out.contains("send n1->n2 append term=2 prev=4/2 entries=[\"5/2\", \"6/2\", \"7/2\"]"), "\(out)")
    }
}

/// A transcript driver with three members, member 1 elected and everything settled.
func electedDriver() -> TranscriptDriver {
    let driver = TranscriptDriver()
    _ = driver.run("add-nodes 3")
    _ = driver.run("campaign 1")
    _ = driver.run("stabilize")
    return driver
}
