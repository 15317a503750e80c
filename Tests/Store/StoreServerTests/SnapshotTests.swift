import Crypto
import Foundation
import MVCC
import Raft
import Testing

@testable import StoreServer

@Suite struct SnapshotFileTests {
    /// etcdctl checks that a snapshot stream ends with the SHA-256 (FIPS 180-4, Go's
    /// crypto/sha256) of everything before it: swift-crypto's digest, over the padded file.
    @Test func theFileEndsWithTheSHA256EtcdctlChecks() {
        func hex(_ b: some Sequence<UInt8>) -> String { b.map { String(format: "%02x", $0) }.joined() }
        #expect(hex(SHA256.hash(data: b("abc"))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let file = SnapshotFile.encode(index: 7, term: 2, memberSnapshot: b("member snapshot bytes"))
        #expect((file.count - 32) % 512 == 0)
        #expect(hex(file.suffix(32)) == hex(SHA256.hash(data: file.dropLast(32))))
    }

    @Test func aMemberSnapshotRoundTripsThroughTheFileAndDamageIsFound() throws {
        let store = KVStore()
        _ = try store.put(PutRequest(key: b("a"), value: b("1")))
        _ = try store.leaseGrant(id: 7, ttl: 30)
        _ = try store.put(PutRequest(key: b("b"), value: b("2"), lease: 7))
        let members = ClusterMembers(
            members: [
                ClusterMember(id: 1, name: "m1", peerURLs: ["http://127.0.0.1:2380"], clientURLs: ["http://127.0.0.1:2379"]),
                ClusterMember(id: 2, peerURLs: ["http://127.0.0.1:2381"], isLearner: true)
            ], removed: [9])
        let file = SnapshotFile.encode(index: 42, term: 3, memberSnapshot: MemberSnapshot.encode(store, members))
        #expect(file.count % 512 == 32, "padded to 512 bytes, then the SHA-256")
        let (index, term, body) = try SnapshotFile.decode(file)
        #expect(index == 42 && term == 3)
        let (restored, restoredMembers) = try MemberSnapshot.decode(body, limits: MVCCLimits())
        #expect(restoredMembers == members)
        #expect(MVCCSnapshot.encode(restored) == MVCCSnapshot.encode(store))
        // Any flipped byte or truncation is refused.
        for at in [0, 10, 30, file.count / 2, file.count - 40, file.count - 1] {
            var bad = file
            bad[at] ^= 0x01
            #expect(throws: SnapshotFile.DecodeError.self) { try SnapshotFile.decode(bad) }
        }
        #expect(throws: SnapshotFile.DecodeError.self) { try SnapshotFile.decode(Array(file.dropLast(100))) }
        #expect(throws: MemberSnapshot.DecodeError.self) { try MemberSnapshot.decode(Array(body.dropLast(3)), limits: MVCCLimits()) }
    }
}

@Suite(.serialized) struct MemberSnapshotTests {
    /// With a small snapshot count, members compact their logs; a member stopped meanwhile
    /// catches up by installing the leader's snapshot, and everyone restarts from snapshots.
    @Test func aLaggingMemberInstallsTheLeadersSnapshot() async throws {
        let c = try LocalCluster(snapshotCount: 10)
        defer { c.shutdown() }
        let leader = try await c.leader()
        let lagging = c.ids.first { $0 != leader }!
        c.stop(lagging)
        for i in 0..<60 { _ = try await c.write(via: leader, .put(PutRequest(key: b("k\(i)"), value: b("v\(i)")))) }
        _ = try await c.write(via: leader, .leaseGrant(id: 5, ttl: 600))
        try c.start(lagging)
        let deadline = ContinuousClock.now + .seconds(30)
        while c.members[lagging]!.status.appliedIndex < c.members[leader]!.status.appliedIndex && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let view = c.members[lagging]!.view
        let r = try view.range(RangeRequest(key: b("k"), rangeEnd: b("l"), countOnly: true))
        #expect(r.count == 60)
        #expect(c.members[lagging]!.leaseIDs == [5])
        #expect(c.members[lagging]!.members.map(\.id) == c.ids)
        let snaps = try FileManager.default.contentsOfDirectory(atPath: "\(c.base)/m\(lagging.rawValue)/snap")
        #expect(!snaps.isEmpty)
        // A full restart: every member starts from its newest snapshot and the log after it.
        for id in c.ids { c.stop(id) }
        for id in c.ids { try c.start(id) }
        let next = try await c.leader()
        _ = try await c.write(via: next, .put(PutRequest(key: b("after"), value: b("restart"))))
        for id in c.ids {
            let count = try await c.members[id]!.range(RangeRequest(key: b("k"), rangeEnd: b("l"), countOnly: true)).count
            #expect(count == 60)
        }
    }
}
