import Base
import Raft
import StorageTestSupport
import Testing

@testable import Storage

/// A single member running on `DiskLogStorage`, driven the way a member drives its Ready loop.
struct DiskMember {
    var raft: RaftNode
    let storage: DiskLogStorage
    var applied: [LogIndex: [UInt8]] = [:]

    static func start(_ directory: String, fs: any FileSystem, bootstrap: Bool) async throws -> DiskMember {
        let (storage, snapshot) = try DiskLogStorage.open(
            directory: directory, fs: fs, segmentBytes: 8192,
            cachedEntriesMax: 8)
        if bootstrap {
            let entry = Entry(term: 1, index: 1, kind: .confChange, data: ConfChange(kind: .addVoter, nodeID: 1).encoded())
            try await storage.save(entries: [entry], hardState: HardState(term: 1, commit: 1), snapshot: nil)
        }
        var config = RaftConfig(id: 1)
        config.applied = snapshot?.metadata.index ?? 0
        var member = DiskMember(
            raft: try RaftNode(config: config, storage: storage, random: SeededRandom(seed: 1)),
            storage: storage)
        if let snapshot { member.raft.applied(through: snapshot.metadata.index) }
        try await member.settle()
        return member
    }

    /// A new single member in `/m1/data` on `fs`, bootstrapped and elected.
    static func leader(fs: SimulatedFileSystem) async throws -> DiskMember {
        try fs.createDirectory("/m1")
        var member = try await start("/m1/data", fs: fs, bootstrap: true)
        member.raft.campaign()
        try await member.settle()
        return member
    }

    mutating func settle() async throws {
        while let ready = raft.takeReady() {
            try await storage.save(entries: ready.entries, hardState: ready.hardState, snapshot: ready.snapshot)
            raft.persisted(ready.number)
            for entry in ready.committedEntries {
                if entry.kind == .confChange, let change = ConfChange(decoding: entry.data) {
                    raft.applyConfChange(change)
                } else if !entry.data.isEmpty {
                    applied[entry.index] = entry.data
                }
            }
            if let last = ready.committedEntries.last { raft.applied(through: last.index) }
        }
    }
}

struct DiskLogStorageTests {
    @Test func aMemberCommitsRestartsAndReadsOldEntriesFromDisk() async throws {
        let fs = SimulatedFileSystem()
        var member = try await DiskMember.leader(fs: fs)
        #expect(member.raft.role == .leader)
        for i in 0..<100 {
            try member.raft.propose(Array("value-\(i)".utf8))
            try await member.settle()
        }
        #expect(member.applied.count == 100)
        let last = member.raft.lastIndex
        member.storage.close()

        // Restart from disk alone.
        var again = try await DiskMember.start("/m1/data", fs: fs, bootstrap: false)
        #expect(again.raft.lastIndex == last)
        #expect(again.raft.commitIndex == last)
        #expect(again.applied.count == 100)  // Re-applied from the log.
        // Entries far older than the 8 cached ones come back from the WAL.
        let old = try again.storage.entries(from: 3, to: 13, maxBytes: .max)
        #expect(old.map { String(decoding: $0.data, as: UTF8.self) } == (0..<10).map { "value-\($0)" })
        #expect(try again.storage.entries(from: 3, to: 13, maxBytes: 1).count == 1)
        // A range from disk into the cache comes back whole and in order.
        let span = try again.storage.entries(from: 3, to: last + 1, maxBytes: .max)
        #expect(span.map(\.index) == (3...last.rawValue).map { LogIndex($0) })
        again.raft.campaign()
        try await again.settle()
        try again.raft.propose(Array("after".utf8))
        try await again.settle()
        #expect(again.applied.values.contains(Array("after".utf8)))
        again.storage.close()
    }

    @Test func snapshotsCompactTheLogAndRestoreOnRestart() async throws {
        let fs = SimulatedFileSystem()
        var member = try await DiskMember.leader(fs: fs)
        for i in 0..<200 {
            try member.raft.propose([UInt8](repeating: UInt8(i % 251), count: 100))
            try await member.settle()
        }
        let segmentsBefore = member.storage.wal.segmentPaths.count
        let index = member.raft.appliedIndex
        let snapshot = try await member.storage.createSnapshot(
            at: index, confState: member.raft.confState,
            data: Array("state at \(index)".utf8))
        #expect(snapshot.metadata.index == index)
        #expect(member.storage.firstIndex() == index + 1)
        #expect(member.storage.wal.segmentPaths.count < segmentsBefore)
        #expect(throws: LogStorageError.compacted) { try member.storage.entries(from: 5, to: 6, maxBytes: .max) }
        try member.raft.propose(Array("later".utf8))
        try await member.settle()
        member.storage.close()

        let (storage, restored) = try DiskLogStorage.open(directory: "/m1/data", fs: fs, segmentBytes: 8192)
        defer { storage.close() }
        #expect(restored?.metadata.index == index)
        #expect(restored?.data == Array("state at \(index)".utf8))
        #expect(restored?.metadata.confState.voters == [1])
        #expect(storage.firstIndex() == index + 1)
        #expect(
            try storage.entries(from: index + 1, to: storage.lastIndex() + 1, maxBytes: .max).last?.data
                == Array("later".utf8))
    }

    /// Entries replaced from an index inside the cache, and from one older than the cache, read
    /// back as the new ones (from memory and from disk) while the cache is trimmed in steps.
    @Test func conflictingEntriesReplaceCachedAndOlderOnes() async throws {
        let fs = SimulatedFileSystem()
        try fs.createDirectory("/m1")
        let (storage, _) = try DiskLogStorage.open(directory: "/m1/data", fs: fs, segmentBytes: 8192, cachedEntriesMax: 8)
        func batch(_ range: ClosedRange<UInt64>, term: UInt64) -> [Entry] {
            range.map { Entry(term: Term(term), index: LogIndex($0), data: Array("e\($0)t\(term)".utf8)) }
        }
        var expected: [Entry] = []
        for start in stride(from: UInt64(1), through: 28, by: 3) {
            let b = batch(start...(start + 2), term: 1)
            try await storage.save(entries: b, hardState: nil, snapshot: nil)
            expected += b
        }
        #expect(storage.lastIndex() == 30)
        // Inside the cache: 25...30 become 25...27 of term 2.
        let inCache = batch(25...27, term: 2)
        try await storage.save(entries: inCache, hardState: nil, snapshot: nil)
        expected = Array(expected.prefix(24)) + inCache
        #expect(storage.lastIndex() == 27)
        #expect(try storage.entries(from: 1, to: 28, maxBytes: .max) == expected)
        // Older than the cache (which now starts after 5): 5... replaced by term 3.
        let older = batch(5...9, term: 3)
        try await storage.save(entries: older, hardState: nil, snapshot: nil)
        expected = Array(expected.prefix(4)) + older
        #expect(storage.lastIndex() == 9)
        #expect(try storage.entries(from: 1, to: 10, maxBytes: .max) == expected)
        #expect(try storage.term(at: 9) == 3 && storage.term(at: 4) == 1)
        storage.close()
    }

    @Test func aMissingSnapshotFileIsRefused() async throws {
        let fs = SimulatedFileSystem()
        var member = try await DiskMember.leader(fs: fs)
        for _ in 0..<20 {
            try member.raft.propose([1, 2, 3])
            try await member.settle()
        }
        _ = try await member.storage.createSnapshot(at: member.raft.appliedIndex, confState: member.raft.confState, data: [7])
        member.storage.close()
        for name in try fs.listDirectory("/m1/data/snap") { try fs.remove("/m1/data/snap/" + name) }
        #expect {
            _ = try DiskLogStorage.open(directory: "/m1/data", fs: fs, segmentBytes: 8192)
        } throws: { error in
            "\(error)".contains("snapshot at index")
        }
    }
}
