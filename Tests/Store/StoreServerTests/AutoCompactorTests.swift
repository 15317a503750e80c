import Foundation
import Logging
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

@Suite(.serialized) struct ConsistencyCheckerTests {
    @Test func aDivergedMemberIsFoundAndAlarmed() async throws {
        let c = try LocalCluster()
        defer { c.shutdown() }
        let leader = try await c.leader()
        for i in 0..<10 { _ = try await c.write(via: leader, .put(PutRequest(key: b("k\(i)"), value: b("v")))) }
        let checker = ConsistencyChecker(member: c.members[leader]!, interval: .seconds(3600), logger: Logger(label: "test"))
        // Wait until everyone applied everything: then all agree.
        let deadline = ContinuousClock.now + .seconds(20)
        while Set(c.members.values.map(\.status.appliedIndex)).count > 1 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(await checker.check().isEmpty)
        // One follower's state changes without the log (same revision, different value).
        let follower = c.ids.first { $0 != leader }!
        c.members[follower]!.applyLocallyForTesting(.put(PutRequest(key: b("k3"), value: b("damaged"))))
        _ = try await c.write(via: leader, .put(PutRequest(key: b("k99"), value: b("v"))))
        // The leader's state and the follower's now differ in one value at the same revision.
        let end = ContinuousClock.now + .seconds(20)
        var found: [NodeID] = []
        while found.isEmpty && ContinuousClock.now < end {
            found = await checker.check()
            if found.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(found == [follower])
        #expect(c.members[leader]!.status.alarms.contains(AlarmMember(memberID: follower.rawValue, alarm: .corrupt)))
    }
}
