import EtcdWire
import Foundation
import Raft
import Storage
import Testing

@testable import MVCC

@Suite struct SnapshotRoundTripTests {
    /// The whole state — keys with their retained history, the compaction revision, leases with
    /// their keys, alarms — goes through the storage layer's snapshot files and comes back equal.
    @Test func throughTheStorageLayersSnapshotFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-mvcc-snap-\(UInt64.random(in: 0...UInt64.max))")
            .path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var gen = RequestGen(seed: 77, keyCount: 300)
        let model = ReferenceModel()
        let store = KVStore()
        for i in 0..<3000 {
            switch i % 10 {
            case 0: _ = try? store.leaseGrant(id: Int64(i % 7) + 1, ttl: 30)
            case 1: _ = try? store.txn(gen.txn(model, depth: 1))
            case 2: _ = try? store.deleteRange(gen.delete())
            default: _ = try? store.put(gen.put())
            }
            if i == 2000 { _ = try store.compact(store.revision - 300) }
        }
        store.activate(AlarmMember(memberID: 42, alarm: .corrupt))
        let snapshots = try SnapshotStore(directory: dir)
        try MVCCSnapshot.save(store, metadata: SnapshotMetadata(index: 100, term: 3), to: snapshots)
        let (loaded, damaged) = try snapshots.loadNewest()
        #expect(damaged.isEmpty)
        let snap = try #require(loaded)
        #expect(snap.metadata.index == 100)
        let restored = try MVCCSnapshot.decode(snap.data)
        #expect(restored.revision == store.revision && restored.compactRevision == store.compactRevision)
        #expect(restored.leases == store.leases && !store.leases.isEmpty)
        #expect(restored.alarms == store.alarms)
        #expect(restored.accountedBytes == store.accountedBytes)
        for rev in store.compactRevision...store.revision {
            let all = RangeRequest(key: [0], rangeEnd: [0], revision: rev)
            #expect(try restored.view.range(all) == store.view.range(all), "revision \(rev)")
        }
        #expect(try restored.view.hashKV(revision: 0) == store.view.hashKV(revision: 0))
        // The restored event history serves watchers exactly like the original.
        var seen: [[DecodedEvent]] = []
        for s in [store, restored] {
            let hub = WatchHub(revision: s.revision, encoder: EtcdWatchEncoder())
            let stream = hub.openStream()
            hub.watch(WatchCreate(key: [0], rangeEnd: [0], startRevision: s.compactRevision, prevKV: true), on: stream)
            for _ in 0..<1000 where hub.catchUp(s.view) {}
            let events = hub.drain(stream).flatMap { DecodedResponse($0).events }
            #expect(events.count > 500)
            seen.append(events)
        }
        #expect(seen[0].count == seen[1].count)
        if let i = seen[0].indices.first(where: { $0 < seen[1].count && seen[0][$0] != seen[1][$0] }) {
            Issue.record("first difference at \(i): \(seen[0][i]) vs \(seen[1][i]); compacted at \(store.compactRevision)")
        }
    }
}
