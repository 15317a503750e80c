import Foundation
import MVCC
import Raft
import Testing
@testable import StoreServer

@Suite struct AutoCompactorTests {
    @Test func targetsFollowEtcdsRules() {
        let t0 = ContinuousClock.now
        #expect(AutoCompactor.target(.revision(100), samples: [], now: t0, revision: 1000) == 900)
        #expect(AutoCompactor.target(.revision(100), samples: [], now: t0, revision: 50) == nil)
        let samples = [(t0, Int64(10)), (t0 + .seconds(30), 20), (t0 + .seconds(60), 30), (t0 + .seconds(90), 40)]
        // An hour's retention an hour and a minute later: the newest sample at least an hour old.
        #expect(AutoCompactor.target(.periodic(.seconds(3600)), samples: samples, now: t0 + .seconds(3660), revision: 50) == 30)
        #expect(AutoCompactor.target(.periodic(.seconds(3600)), samples: samples, now: t0 + .seconds(600), revision: 50) == nil)
    }

    @Test func theLeaderCompactsKeepingTheNewestRevisions() async throws {
        let c = try LocalCluster(size: 1)
        defer { c.shutdown() }
        let leader = try await c.leader()
        let m = c.members[leader]!
        let compactor = AutoCompactor(member: m, mode: .revision(5), every: .milliseconds(100))
        compactor.start()
        defer { compactor.stop() }
        for i in 0..<20 { _ = try await c.write(via: leader, .put(PutRequest(key: b("k"), value: b("\(i)")))) }
        let deadline = ContinuousClock.now + .seconds(20)
        while m.view.compactRevision < 16 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(m.view.compactRevision == 16, "revision 21 keeps 5: compacted to 16")
        #expect(throws: MVCCError.compacted) { try m.view.range(RangeRequest(key: b("k"), revision: 15)) }
        #expect(try m.view.range(RangeRequest(key: b("k"), revision: 16)).kvs.count == 1)
    }
}
