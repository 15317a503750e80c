import Base
import Foundation
import MVCC
import Raft
import Testing

@testable import StoreServer

/// Writes through every member while the leader is cut off again and again: every write that
/// was acknowledged must be in the state at the revision it was acknowledged with, and all
/// members must end with the same state.
@Suite(.serialized) struct LeaderChangeTests {
    @Test func acknowledgedWritesSurviveLeaderChanges() async throws {
        let c = try LocalCluster(requestTimeout: .seconds(2), tickOverride: .milliseconds(10))
        defer { c.shutdown() }
        _ = try await c.leader()
        let acknowledged = Locked<[(key: String, value: String, revision: Int64)]>([])
        let failed = Locked<Int>(0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<30 {
                group.addTask {
                    for i in 0..<40 {
                        let key = "k\((w * 40 + i) % 97)"
                        let value = "w\(w)-\(i)"
                        let via = c.ids[(w + i) % c.ids.count]
                        do {
                            let r = try await c.members[via]!.write(.put(PutRequest(key: b(key), value: b(value))))
                            guard case .put(let p) = r else { continue }
                            acknowledged.withLock { $0.append((key, value, p.revision)) }
                        } catch {
                            failed.withLock { $0 += 1 }
                        }
                    }
                }
            }
            group.addTask {
                // Three times: cut the leader off, let the others elect, heal.
                for _ in 0..<3 {
                    try await Task.sleep(for: .milliseconds(150))
                    guard let leader = c.members.values.compactMap(\.status.leader).first else { continue }
                    c.network.isolate(leader, true)
                    try await Task.sleep(for: .milliseconds(300))
                    c.network.isolate(leader, false)
                }
            }
            try await group.waitForAll()
        }
        let terms = Set(c.ids.map { c.members[$0]!.status.term })
        // Converge, then compare.
        _ = try await c.write(via: c.ids[0], .put(PutRequest(key: b("final"), value: b("x"))))
        let top = try await c.members[c.ids[0]]!.range(RangeRequest(key: b("final"))).revision
        let deadline = ContinuousClock.now + .seconds(60)
        while c.ids.contains(where: { c.members[$0]!.view.revision < top }) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let hashes = try c.ids.map { try c.members[$0]!.view.hashKV(revision: top).hash }
        #expect(Set(hashes).count == 1, "members diverged")
        let view = c.members[c.ids[0]]!.view
        for a in acknowledged.current {
            let got = try view.range(RangeRequest(key: b(a.key), revision: a.revision))
            #expect(got.kvs.first?.value == b(a.value), "acknowledged \(a.key)=\(a.value) at \(a.revision) is not there")
            #expect(got.kvs.first?.modRevision == a.revision)
        }
        #expect(acknowledged.current.count + failed.current == 1200)
        #expect(acknowledged.current.count > 600, "most writes go through (\(failed.current) failed)")
        #expect(terms.allSatisfy { $0 > 2 }, "the leader changed")
        print("leader changes: \(acknowledged.current.count) acknowledged, \(failed.current) failed, terms \(terms.sorted())")
    }
}
