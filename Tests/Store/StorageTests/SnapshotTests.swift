import Base
import Raft
import StorageTestSupport
import Testing

@testable import Storage

struct SnapshotTests {
    func snapshot(index: UInt64, bytes: Int) -> Snapshot {
        // Key-value-like data: compressible, but not trivially so.
        var data: [UInt8] = []
        data.reserveCapacity(bytes)
        var i = 0
        while data.count < bytes {
            data.append(contentsOf: Array("/registry/pods/default/pod-\(i)={\"phase\":\"Running\",\"n\":\(i % 97)};".utf8))
            i += 1
        }
        data.removeSubrange(bytes...)
        let meta = SnapshotMetadata(index: LogIndex(index), term: 3, confState: ConfState(voters: [1, 2, 3], learners: [4]))
        return Snapshot(metadata: meta, data: data)
    }

    @Test func roundTripAcrossBlocks() throws {
        let fs = SimulatedFileSystem()
        try fs.createDirectory("/data")
        let store = try SnapshotStore(directory: "/data/snap", fs: fs)
        for size in [0, 1, StorageLimits.snapshotBlockBytes, 2 * StorageLimits.snapshotBlockBytes + 12_345] {
            let original = snapshot(index: UInt64(10 + size), bytes: size)
            let path = try store.save(original)
            let loaded = try store.loadNewest()
            #expect(loaded.snapshot == original)
            #expect(loaded.damaged.isEmpty)
            if size > 1 << 20 {
                let onDisk = fs.contents(path)!.count
                #expect(onDisk * 3 < size, "compressed \(size) to \(onDisk)")
            }
        }
    }

    @Test func aDamagedSnapshotIsReportedAndTheNewestValidOneLoaded() throws {
        let fs = SimulatedFileSystem()
        try fs.createDirectory("/data")
        let store = try SnapshotStore(directory: "/data/snap", fs: fs, retained: 3)
        let older = snapshot(index: 100, bytes: 50_000)
        try store.save(older)
        let newerPath = try store.save(snapshot(index: 200, bytes: 50_000))
        fs.flipBit(path: newerPath, offset: fs.contents(newerPath)!.count - 10)
        let loaded = try store.loadNewest()
        #expect(loaded.snapshot == older)
        #expect(loaded.damaged.count == 1)
        guard case .damaged(let file, let offset, let reason)? = loaded.damaged.first else {
            Issue.record("no damage reported")
            return
        }
        #expect(file == newerPath && offset > 0 && reason.contains("checksum"))
    }

    @Test func onlyTheNewestAreRetained() throws {
        let fs = SimulatedFileSystem()
        try fs.createDirectory("/data")
        let store = try SnapshotStore(directory: "/data/snap", fs: fs, retained: 2)
        for index in [5, 6, 7, 8] as [UInt64] { try store.save(snapshot(index: index, bytes: 100)) }
        let names = try fs.listDirectory("/data/snap")
        #expect(
            names == [
                SnapshotStore.fileName(snapshot(index: 7, bytes: 0).metadata),
                SnapshotStore.fileName(snapshot(index: 8, bytes: 0).metadata)
            ])
    }

    @Test func aCrashDuringSaveLeavesTheOldSnapshot() throws {
        let fs = SimulatedFileSystem()
        try fs.createDirectory("/data")
        try fs.syncDirectory("/")
        try fs.syncDirectory("/data")
        let store = try SnapshotStore(directory: "/data/snap", fs: fs)
        try fs.syncDirectory("/data")
        let old = snapshot(index: 10, bytes: 10_000)
        try store.save(old)
        // The directory sync of the next save fails, and then the machine crashes.
        fs.failSyncs = .io
        #expect(throws: SnapshotError.self) { try store.save(snapshot(index: 20, bytes: 10_000)) }
        fs.failSyncs = nil
        var generator = SeededRandom(seed: 7)
        fs.crash(random: &generator)
        let reopened = try SnapshotStore(directory: "/data/snap", fs: fs)
        let loaded = try reopened.loadNewest()
        #expect(loaded.snapshot == old)
        #expect(try fs.listDirectory("/data/snap").allSatisfy { !$0.hasSuffix(".tmp") })
    }
}
