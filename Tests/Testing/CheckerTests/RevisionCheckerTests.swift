import Checker
import Testing

@Suite struct RevisionCheckerTests {
    typealias R = RevisionChecker
    typealias E = WatchChecker.Event

    /// Revisions 2–5: create a, create b, update a, delete b.
    static let log: [Int64: [E]] = [
        2: [E(revision: 2, key: "/p/a", value: "a1")],
        3: [E(revision: 3, key: "/p/b", value: "b1")],
        4: [E(revision: 4, key: "/p/a", value: "a2")],
        5: [E(revision: 5, key: "/p/b", value: nil)]
    ]

    static func op(_ client: Int, _ call: UInt64, _ ret: UInt64, _ revision: Int64, _ kind: R.Kind) -> R.Operation {
        R.Operation(client: client, call: call, ret: ret, revision: revision, kind: kind)
    }

    /// The history that made the log, with reads and a failed update between the writes.
    static func clean() -> [R.Operation] {
        [
            op(0, 10, 20, 2, .conditional(key: "/p/a", expected: 0, put: "a1", succeeded: true, current: nil)),
            op(1, 25, 30, 3, .conditional(key: "/p/b", expected: 0, put: "b1", succeeded: true, current: nil)),
            op(
                2, 31, 35, 3,
                .list(
                    prefix: "/p/", serializable: false,
                    kvs: [
                        R.KV(key: "/p/a", value: "a1", modRevision: 2),
                        R.KV(key: "/p/b", value: "b1", modRevision: 3)
                    ])),
            op(0, 36, 40, 4, .conditional(key: "/p/a", expected: 2, put: "a2", succeeded: true, current: nil)),
            op(
                1, 41, 45, 4,
                .conditional(
                    key: "/p/a", expected: 2, put: "a9", succeeded: false,
                    current: R.KV(key: "/p/a", value: "a2", modRevision: 4))),
            op(2, 46, 50, 5, .conditional(key: "/p/b", expected: 3, put: nil, succeeded: true, current: nil)),
            // A stale (serializable) list may be old, never wrong.
            op(
                3, 51, 55, 3,
                .list(
                    prefix: "/p/", serializable: true,
                    kvs: [
                        R.KV(key: "/p/a", value: "a1", modRevision: 2),
                        R.KV(key: "/p/b", value: "b1", modRevision: 3)
                    ])),
            op(3, 56, 60, 5, .list(prefix: "/p/", serializable: false, kvs: [R.KV(key: "/p/a", value: "a2", modRevision: 4)]))
        ]
    }

    @Test func aCleanHistoryPasses() {
        #expect(R.check(Self.clean(), log: Self.log).isEmpty)
    }

    @Test func staleWrongAndMisplacedAnswersAreCaught() {
        func violations(_ change: (inout [R.Operation]) -> Void) -> [R.Violation] {
            var ops = Self.clean()
            change(&ops)
            return R.check(ops, log: Self.log)
        }
        // A linearizable list served at an old revision after a newer write ended: real time.
        let stale = violations {
            $0[7].revision = 3
            $0[7].kind = .list(
                prefix: "/p/", serializable: false,
                kvs: [
                    R.KV(key: "/p/a", value: "a1", modRevision: 2), R.KV(key: "/p/b", value: "b1", modRevision: 3)
                ])
        }
        #expect(stale.contains { $0.detail.contains("ended before it began") }, "\(stale)")
        // A list whose contents are not the log's at its revision.
        let wrong = violations {
            $0[6].kind = .list(prefix: "/p/", serializable: true, kvs: [R.KV(key: "/p/a", value: "a2", modRevision: 4)])
        }
        #expect(wrong.contains { $0.detail.contains("returned") }, "\(wrong)")
        // An update that claims success although the mod revision it compared was not the key's.
        let compare = violations { $0[3].kind = .conditional(key: "/p/a", expected: 7, put: "a2", succeeded: true, current: nil) }
        #expect(compare.contains { $0.detail.contains("just before") }, "\(compare)")
        // A failed update whose else-get disagrees with the log.
        let elseGet = violations {
            $0[4].kind = .conditional(
                key: "/p/a", expected: 2, put: "a9", succeeded: false,
                current: R.KV(key: "/p/a", value: "a1", modRevision: 2))
        }
        #expect(elseGet.contains { $0.detail.contains("else-get") }, "\(elseGet)")
        // A write acknowledged at a revision where the log has something else.
        let lost = violations { $0[5].kind = .conditional(key: "/p/b", expected: 3, put: "b2", succeeded: true, current: nil) }
        #expect(lost.contains { $0.detail.contains("not what the log has") }, "\(lost)")
        // A write that took effect at a revision an earlier operation had already seen.
        let early = violations {
            $0[5].call = 31
            $0[2].ret = 30
            $0[2].revision = 5
            $0[2].kind = .list(
                prefix: "/p/", serializable: false,
                kvs: [R.KV(key: "/p/a", value: "a2", modRevision: 4)])
        }
        #expect(!early.isEmpty, "\(early)")
    }

    /// etcd's mix: a put with a lease, a 2-key txn, a revoke that deletes the leased key, deletes.
    static let mixLog: [Int64: [E]] = [
        2: [E(revision: 2, key: "a", value: "a1", lease: 7)],
        3: [E(revision: 3, key: "b", value: "b1"), E(revision: 3, key: "c", value: "c1")],
        4: [E(revision: 4, key: "a", value: nil)],
        5: [E(revision: 5, key: "b", value: nil)]
    ]

    static func mix() -> [R.Operation] {
        [
            op(0, 10, 20, 2, .put(key: "a", value: "a1", lease: 7)),
            op(1, 21, 25, 3, .multiPut(keys: ["b", "c"], values: ["b1", "c1"])),
            op(2, 26, 30, 3, .get(key: "a", serializable: false, kv: R.KV(key: "a", value: "a1", modRevision: 2, lease: 7))),
            op(0, 31, 35, 4, .leaseRevoke(lease: 7)),
            op(2, 36, 40, 4, .get(key: "a", serializable: false, kv: nil)),
            op(1, 41, 45, 5, .delete(key: "b", deleted: 1)),
            op(2, 46, 50, 5, .delete(key: "zz", deleted: 0)),
            op(3, 51, 55, 2, .get(key: "a", serializable: true, kv: R.KV(key: "a", value: "a1", modRevision: 2, lease: 7))),
            op(3, 56, 60, 5, .getAt(key: "b", at: 3, kv: R.KV(key: "b", value: "b1", modRevision: 3), compactedBefore: 2))
        ]
    }

    @Test func etcdsMixIsCheckedToo() {
        #expect(R.check(Self.mix(), log: Self.mixLog).isEmpty, "\(R.check(Self.mix(), log: Self.mixLog))")
        // The revoke left its key (the log has no deletion at 4, and the rest moved on).
        var kept = Self.mixLog
        kept[4] = [E(revision: 4, key: "d", value: "d1")]
        #expect(R.check(Self.mix(), log: kept).contains { $0.detail.contains("still there") })
        // A txn half applied.
        var half = Self.mixLog
        half[3] = [E(revision: 3, key: "b", value: "b1")]
        #expect(R.check(Self.mix(), log: half).contains { $0.detail.contains("a txn") })
        // A put the log has with another value; a delete the log does not have.
        var ops = Self.mix()
        ops[0].kind = .put(key: "a", value: "other", lease: 7)
        ops[6].kind = .delete(key: "zz", deleted: 1)
        let v = R.check(ops, log: Self.mixLog)
        #expect(v.contains { $0.detail.contains("put a=other") } && v.contains { $0.detail.contains("no such deletion") }, "\(v)")
        // A get of the past that answers for a compacted revision, or answers wrongly.
        var past = Self.mix()
        past[8].kind = .getAt(key: "b", at: 3, kv: R.KV(key: "b", value: "b1", modRevision: 3), compactedBefore: 4)
        #expect(R.check(past, log: Self.mixLog).contains { $0.detail.contains("compaction") })
        // The compaction's own revision stays readable.
        past[8].kind = .getAt(key: "b", at: 3, kv: R.KV(key: "b", value: "b1", modRevision: 3), compactedBefore: 3)
        #expect(!R.check(past, log: Self.mixLog).contains { $0.detail.contains("compaction") })
        past[8].kind = .getAt(key: "b", at: 3, kv: nil, compactedBefore: 0)
        #expect(R.check(past, log: Self.mixLog).contains { $0.detail.contains("at revision 3 returned") })
    }

    /// Keys put with a lease left to expire go, not before the TTL, and not never.
    @Test func leaseExpiryIsCheckedBothWays() {
        let lease = R.ExpiringLease(id: 9, ttl: 3_000, grantCall: 100)
        let log: [Int64: [E]] = [
            2: [E(revision: 2, key: "x", value: "1", lease: 9)], 3: [E(revision: 3, key: "y", value: "2")],
            4: [E(revision: 4, key: "x", value: nil)]
        ]
        let put = Self.op(0, 200, 210, 2, .put(key: "x", value: "1", lease: 9))
        // Seen gone at 3,200 (after 100 + 3,000): fine; seen gone at 2,000: too early.
        for (seenAt, early) in [(3_200, false), (2_000, true)] as [(UInt64, Bool)] {
            let read = Self.op(1, seenAt - 10, seenAt, 4, .get(key: "x", serializable: false, kv: nil))
            let found = R.checkExpiry([put, read], log: log, leases: [lease], end: 10_000, late: 5_000)
            #expect(found.contains { $0.detail.contains("before the TTL") } == early, "\(found)")
        }
        // Never deleted: reported once `late` has passed since the put, not before.
        var kept = log
        kept[4] = nil
        #expect(R.checkExpiry([put], log: kept, leases: [lease], end: 10_000, late: 5_000).contains { $0.detail.contains("never expired") })
        #expect(R.checkExpiry([put], log: kept, leases: [lease], end: 4_000, late: 5_000).isEmpty)
        // A put with another lease is not this check's business.
        let other = Self.op(0, 200, 210, 3, .put(key: "y", value: "2", lease: 0))
        #expect(R.checkExpiry([other], log: kept, leases: [lease], end: 10_000, late: 5_000).isEmpty)
    }
}
