import Testing

@testable import MVCC

@Suite struct LeaseTests {
    let second: Int64 = 1_000_000_000

    @Test func clockExpiresRenewsAndReportsRemaining() {
        var clock = LeaseClock()
        clock.track(1, ttl: 5, now: 0)
        clock.track(2, ttl: 10, now: 0)
        #expect(clock.remaining(1, now: 2 * second + 1) == 2, "whole seconds, truncated")
        #expect(clock.expired(now: 4 * second, limit: 10).isEmpty)
        clock.track(1, ttl: 5, now: 4 * second)  // keep-alive
        #expect(clock.expired(now: 6 * second, limit: 10).isEmpty)
        #expect(clock.expired(now: 10 * second, limit: 10) == [1, 2], "earliest first")
        #expect(clock.expired(now: 10 * second, limit: 1) == [1], "still reported until the revoke is applied")
        clock.forget(1)
        #expect(clock.expired(now: 10 * second, limit: 10) == [2])
        #expect(clock.remaining(1, now: 0) == nil)
        clock.track(3, ttl: .max, now: 5)
        #expect(clock.expired(now: .max - 1, limit: 10) == [2], "a huge TTL saturates instead of overflowing")
    }

    @Test func renewalsDoNotGrowTheHeapWithoutBound() {
        var clock = LeaseClock()
        for i in 0..<100_000 { clock.track(Int64(i % 10), ttl: 60, now: Int64(i)) }
        #expect(clock.count == 10)
        #expect(clock.expired(now: 59 * second, limit: 100).isEmpty)
        #expect(clock.expired(now: 61 * second, limit: 100).count == 10)
    }

    /// A leader change: the new leader gives every lease a full TTL from the moment it takes over,
    /// because keep-alives the old leader accepted were never replicated.
    @Test func newLeaderExtendsEveryLease() throws {
        let store = KVStore()
        _ = try store.leaseGrant(id: 1, ttl: 10)
        _ = try store.leaseGrant(id: 2, ttl: 30)
        var oldLeader = LeaseClock()
        for l in store.leases.values { oldLeader.track(l.id, ttl: l.ttl, now: 0) }
        var newLeader = LeaseClock()
        newLeader.promote(store.leases.values, now: 8 * second)
        #expect(newLeader.remaining(1, now: 8 * second) == 10)
        #expect(newLeader.expired(now: 17 * second, limit: 10).isEmpty)
        #expect(newLeader.expired(now: 18 * second, limit: 10) == [1])
        oldLeader.demote()
        #expect(oldLeader.count == 0 && oldLeader.expired(now: .max, limit: 10).isEmpty)
    }

    /// Expiry is the leader's decision, carried out as a revoke through the log: every member
    /// applies the same revoke at the same point and ends in the same state.
    @Test func expiryThroughTheLogLeavesMembersIdentical() throws {
        let members = (0..<3).map { _ in KVStore() }
        var log: [(KVStore) throws -> Void] = []
        var leader = LeaseClock()
        var now: Int64 = 0
        var applied = 0
        func propose(_ op: @escaping (KVStore) throws -> Void) { log.append(op) }
        func applyAll() throws {
            while applied < log.count {
                for m in members { try? log[applied](m) }
                applied += 1
            }
        }
        for id in Int64(1)...5 {
            propose { _ = try $0.leaseGrant(id: id, ttl: id * 3) }
            leader.track(id, ttl: max(id * 3, 2), now: now)
        }
        for k in 0..<20 {
            let lease = Int64(k % 5) + 1
            propose { _ = try $0.put(PutRequest(key: b("k\(k)"), value: b("v"), lease: lease)) }
        }
        try applyAll()
        while now < 20 * second {
            now += second / 2
            if now == 4 * second { leader.track(1, ttl: 3, now: now) }  // a keep-alive for lease 1
            for id in leader.expired(now: now, limit: 100) {
                propose { _ = try $0.leaseRevoke(id: id) }
                leader.forget(id)
            }
            try applyAll()
        }
        #expect(members[0].leases.isEmpty)
        let hashes = try members.map { try $0.view.hashKV(revision: 0) }
        #expect(Set(hashes.map(\.hash)).count == 1)
        #expect(members.allSatisfy { $0.revision == members[0].revision })
        #expect(try members[0].view.range(RangeRequest(key: [0], rangeEnd: [0], countOnly: true)).count == 0)
    }
}

@Suite struct LeaseQueryTests {
    @Test func timeToLiveAndLeases() throws {
        let s = KVStore()
        _ = try s.leaseGrant(id: 9, ttl: 60)
        _ = try s.leaseGrant(id: 4, ttl: 5)
        _ = try s.put(PutRequest(key: b("b"), lease: 9))
        _ = try s.put(PutRequest(key: b("a"), lease: 9))
        #expect(
            s.leaseTimeToLive(id: 9, keys: true, remaining: 42)
                == LeaseTimeToLiveResponse(id: 9, ttl: 42, grantedTTL: 60, keys: [b("a"), b("b")]))
        #expect(s.leaseTimeToLive(id: 9, keys: false, remaining: nil).ttl == 60)
        #expect(s.leaseTimeToLive(id: 9, keys: false, remaining: nil).keys.isEmpty)
        #expect(s.leaseTimeToLive(id: 77, keys: true, remaining: nil) == LeaseTimeToLiveResponse(id: 77, ttl: -1, grantedTTL: 0, keys: []))
        #expect(s.leaseIDs == [4, 9])
    }

    @Test func generatedIDsArePositiveUniqueAndCarryTheMember() {
        var a = LeaseIDGenerator(memberID: 0x1234_5678_9ABC_DEF0, nowMilliseconds: 1_700_000_000_000)
        var b2 = LeaseIDGenerator(memberID: 0x0000_0000_0000_DEF1, nowMilliseconds: 1_700_000_000_000)
        var seen = Set<Int64>()
        for _ in 0..<10_000 {
            let x = a.generate()
            let y = b2.generate()
            #expect(x > 0 && y > 0)
            #expect(seen.insert(x).inserted && seen.insert(y).inserted)
        }
        #expect(UInt64(a.generate()) >> 48 == 0x5EF0, "high bytes from the member ID, sign bit clear")
        // A member restarted a second later does not repeat the IDs it handed out before.
        var again = LeaseIDGenerator(memberID: 0x1234_5678_9ABC_DEF0, nowMilliseconds: 1_700_000_001_000)
        #expect(!seen.contains(again.generate()))
    }
}
