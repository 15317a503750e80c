import Base
import Checker
import Testing

typealias KVOp = Operation<KVModel.Input, KVModel.Output>

func op(_ client: Int, _ input: KVModel.Input, _ call: UInt64, _ output: KVModel.Output, _ ret: UInt64) -> KVOp {
    Operation(client: client, input: input, call: call, output: output, ret: ret)
}

@Suite struct LinearizabilityTests {
    @Test func sequentialAndOverlappingHistoriesPass() {
        let sequential = [
            op(0, .put(key: "a", value: "1"), 0, .ok, 1), op(0, .get(key: "a"), 2, .value("1"), 3),
            op(1, .delete(key: "a"), 4, .deleted(1), 5), op(1, .get(key: "a"), 6, .value(nil), 7)
        ]
        #expect(Linearizability.check(KVModel.self, sequential).isLinearizable)
        // A read overlapping a put may see either value.
        for seen in ["1", nil] as [String?] {
            let h = [op(0, .put(key: "a", value: "1"), 0, .ok, 10), op(1, .get(key: "a"), 5, .value(seen), 6)]
            #expect(Linearizability.check(KVModel.self, h).isLinearizable)
        }
    }

    @Test func aStaleReadIsCaughtWithAMinimalHistory() {
        let h = [
            op(0, .put(key: "a", value: "1"), 0, .ok, 1),
            op(2, .put(key: "b", value: "x"), 0, .ok, 9),
            op(1, .get(key: "a"), 2, .value("1"), 3),
            op(0, .put(key: "a", value: "2"), 4, .ok, 5),
            op(1, .get(key: "a"), 6, .value("1"), 7),  // stale: 2 was acknowledged before this read began
            op(2, .get(key: "b"), 10, .value("x"), 11)
        ]
        guard case .violation(let minimal, let part) = Linearizability.check(KVModel.self, h) else {
            Issue.record("a stale read passed")
            return
        }
        #expect(part.allSatisfy { $0.input.keys == ["a"] })
        // The write that explains the value read stays; the read that was not stale goes.
        #expect(minimal.map(\.input) == [.put(key: "a", value: "1"), .put(key: "a", value: "2"), .get(key: "a")])
        #expect(minimal.last?.call == 6)
    }

    @Test func aLostWriteAndADoubleCompareAndSetAreCaught() {
        let lost = [
            op(0, .put(key: "k", value: "1"), 0, .ok, 1), op(1, .put(key: "k", value: "2"), 2, .ok, 3),
            op(2, .get(key: "k"), 4, .value("1"), 5)
        ]
        #expect(!Linearizability.check(KVModel.self, lost).isLinearizable)
        // Two concurrent creates cannot both win.
        let twice = [
            op(0, .cas(key: "k", expected: nil, new: "a"), 0, .cas(true), 10),
            op(1, .cas(key: "k", expected: nil, new: "b"), 1, .cas(true), 9)
        ]
        #expect(!Linearizability.check(KVModel.self, twice).isLinearizable)
        let oneWins = [
            op(0, .cas(key: "k", expected: nil, new: "a"), 0, .cas(true), 10),
            op(1, .cas(key: "k", expected: nil, new: "b"), 1, .cas(false), 9),
            op(2, .get(key: "k"), 11, .value("a"), 12)
        ]
        #expect(Linearizability.check(KVModel.self, oneWins).isLinearizable)
    }

    /// A write with no answer may have happened (a later read sees it) or not (nobody does).
    @Test func writesWithUnknownOutcomesMayOrMayNotHaveHappened() {
        for seen in ["2", "1"] {
            let h = [
                op(0, .put(key: "k", value: "1"), 0, .ok, 1),
                op(1, .put(key: "k", value: "2"), 2, .unknown, .max),
                op(2, .get(key: "k"), 5, .value(seen), 6)
            ]
            #expect(Linearizability.check(KVModel.self, h).isLinearizable, "read \(seen)")
        }
        // But it cannot be seen and then unseen.
        let flip = [
            op(0, .put(key: "k", value: "1"), 0, .ok, 1),
            op(1, .put(key: "k", value: "2"), 2, .unknown, .max),
            op(2, .get(key: "k"), 5, .value("2"), 6),
            op(2, .get(key: "k"), 7, .value("1"), 8)
        ]
        #expect(!Linearizability.check(KVModel.self, flip).isLinearizable)
    }

    /// A txn is all or nothing: a range that saw half of it fails, even while it ran.
    @Test func aHalfSeenTxnIsCaught() {
        let txn = KVModel.Input.txn(
            compares: [.exists(key: "a", false)], success: [.put(key: "a", value: "1"), .put(key: "b", value: "2")],
            failure: [.get(key: "a")])
        for (seen, passes) in [([nil, nil], true), (["1", "2"], true), (["1", nil], false), ([nil, "2"], false)] as [([String?], Bool)] {
            let h = [
                op(0, txn, 0, .txn(succeeded: true, results: [.ok, .ok]), 10),
                op(1, .range(keys: ["a", "b"]), 2, .values(seen), 5)
            ]
            #expect(Linearizability.check(KVModel.self, h).isLinearizable == passes, "saw \(seen)")
        }
        // The failure branch answers what is there, and a compare of an absent key's value fails.
        let h = [
            op(0, .put(key: "a", value: "1"), 0, .ok, 1),
            op(1, txn, 2, .txn(succeeded: false, results: [.value("1")]), 3),
            op(
                1, .txn(compares: [.value(key: "b", value: "x", equal: false)], success: [.put(key: "b", value: "3")], failure: []),
                4, .txn(succeeded: true, results: [.ok]), 5)
        ]
        guard case .violation(let minimal, _) = Linearizability.check(KVModel.self, h) else {
            Issue.record("a compare of an absent key's value held")
            return
        }
        #expect(minimal.count == 1 && minimal[0].call == 4)
    }

    /// A revoke deletes the keys attached to its lease; a lease revoked (or never granted) is
    /// not found by a put; one whose grant has no answer may or may not be there, but not both.
    @Test func leasesAreModelled() {
        let granted = [
            op(0, .leaseGrant(id: 7), 0, .ok, 1), op(0, .put(key: "a", value: "1", lease: 7), 2, .ok, 3),
            op(0, .put(key: "b", value: "2"), 2, .ok, 3), op(1, .leaseRevoke(id: 7), 4, .ok, 5)
        ]
        #expect(Linearizability.check(KVModel.self, granted + [op(2, .range(keys: ["a", "b"]), 6, .values([nil, "2"]), 7)]).isLinearizable)
        #expect(!Linearizability.check(KVModel.self, granted + [op(2, .get(key: "a"), 6, .value("1"), 7)]).isLinearizable)
        #expect(!Linearizability.check(KVModel.self, granted + [op(2, .put(key: "c", value: "3", lease: 7), 6, .ok, 7)]).isLinearizable)
        #expect(
            Linearizability.check(KVModel.self, granted + [op(2, .put(key: "c", value: "3", lease: 7), 6, .leaseNotFound, 7)])
                .isLinearizable)
        #expect(!Linearizability.check(KVModel.self, granted + [op(2, .leaseRevoke(id: 7), 6, .ok, 7)]).isLinearizable)
        #expect(!Linearizability.check(KVModel.self, [op(0, .put(key: "a", value: "1", lease: 9), 0, .ok, 1)]).isLinearizable)
        for first in [KVModel.Output.ok, .leaseNotFound] {
            let unknown = [op(0, .leaseGrant(id: 9), 0, .unknown, .max), op(1, .put(key: "a", value: "1", lease: 9), 2, first, 3)]
            #expect(Linearizability.check(KVModel.self, unknown).isLinearizable)
            // Found, then not found with nobody revoking it: impossible.
            let flip = unknown + [op(1, .put(key: "a", value: "2", lease: 9), 4, first == .ok ? .leaseNotFound : .ok, 5)]
            #expect(Linearizability.check(KVModel.self, flip).isLinearizable == (first == .leaseNotFound))
        }
    }

    /// Parts share no key and no lease: a txn joins its keys, a lease the keys attached to it.
    @Test func partsAreJoinedByTxnsAndLeases() {
        let h = [
            op(0, .put(key: "a", value: "1"), 0, .ok, 1), op(0, .put(key: "b", value: "1"), 0, .ok, 1),
            op(0, .put(key: "c", value: "1", lease: 5), 0, .ok, 1), op(0, .put(key: "d", value: "1", lease: 5), 0, .ok, 1),
            op(0, .put(key: "e", value: "1"), 0, .ok, 1)
        ]
        #expect(KVModel.partition(h).count == 4)
        let txn = op(
            1, .txn(compares: [], success: [.put(key: "a", value: "2"), .delete(key: "b")], failure: []), 2,
            .txn(succeeded: true, results: [.ok, .deleted(1)]), 3)
        let parts = KVModel.partition(h + [txn, op(1, .leaseGrant(id: 5), 0, .ok, 1)])
        #expect(parts.map { Set($0.flatMap(\.input.keys)) }.sorted { $0.count > $1.count } == [["a", "b"], ["c", "d"], ["e"]])
    }

    /// Histories made by a real linearizable execution (each operation takes effect at a random
    /// instant inside its call–return window, several clients at once, outputs from a reference
    /// written here, not the model's) always pass; changing one read's answer to a value never
    /// written always fails.
    @Test(arguments: 1...30) func randomLinearizableHistoriesPassAndCorruptedOnesFail(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        var ops: [KVOp] = []
        var values: [String: (value: String, lease: Int64)] = [:]
        var leases: Set<Int64> = []
        var time: UInt64 = 0
        var written = 0
        // Clients start operations at random times; each takes effect at `effect`, inside its window.
        var pending: [(effect: UInt64, client: Int, input: KVModel.Input, call: UInt64, ret: UInt64)] = []
        for i in 0..<60 {
            time += rng.next() % 5
            let key = ["a", "b", "c"][Int(rng.next() % 3)]
            let other = key == "a" ? "b" : "a"
            written += 1
            let input: KVModel.Input
            switch rng.next() % 9 {
            case 0, 1: input = .get(key: key)
            case 2: input = .put(key: key, value: "v\(written)", lease: rng.next() % 2 == 0 ? 0 : Int64(1 + rng.next() % 2))
            case 3: input = .cas(key: key, expected: i % 3 == 0 ? nil : "v\(max(written - 2, 1))", new: "v\(written)")
            case 4: input = .range(keys: ["a", "b", "c"])
            case 5: input = .delete(key: key)
            case 6: input = rng.next() % 2 == 0 ? .leaseGrant(id: Int64(1 + rng.next() % 2)) : .leaseRevoke(id: Int64(1 + rng.next() % 2))
            default:
                input = .txn(
                    compares: [
                        rng.next() % 2 == 0 ? .exists(key: key, false) : .value(key: key, value: "v\(max(written - 2, 1))", equal: true)
                    ],
                    success: [.put(key: key, value: "v\(written)"), .delete(key: other)], failure: [.get(key: key), .get(key: other)])
            }
            let effect = time + 1 + rng.next() % 8
            pending.append((effect, i % 5, input, time, effect + 1 + rng.next() % 8))
        }
        func run(_ input: KVModel.Input) -> KVModel.Output {
            switch input {
            case .get(let key): return .value(values[key]?.value)
            case .range(let keys): return .values(keys.map { values[$0]?.value })
            case .put(let key, let v, let lease):
                guard lease == 0 || leases.contains(lease) else { return .leaseNotFound }
                values[key] = (v, lease)
                return .ok
            case .delete(let key): return .deleted(values.removeValue(forKey: key) == nil ? 0 : 1)
            case .cas(let key, let expected, let new):
                guard values[key]?.value == expected else { return .cas(false) }
                values[key] = (new, 0)
                return .cas(true)
            case .leaseGrant(let id): return leases.insert(id).inserted ? .ok : .leaseExists
            case .leaseRevoke(let id):
                guard leases.remove(id) != nil else { return .leaseNotFound }
                values = values.filter { $0.value.lease != id }
                return .ok
            case .txn(let compares, let success, let failure):
                let holds = compares.allSatisfy { c in
                    switch c {
                    case .exists(let key, let exists): (values[key] != nil) == exists
                    case .value(let key, let value, let equal): values[key].map { ($0.value == value) == equal } ?? false
                    }
                }
                return .txn(succeeded: holds, results: (holds ? success : failure).map(run))
            }
        }
        for p in pending.sorted(by: { $0.effect < $1.effect }) {
            ops.append(op(p.client, p.input, p.call, run(p.input), p.ret))
        }
        #expect(Linearizability.check(KVModel.self, ops).isLinearizable)
        if let read = ops.firstIndex(where: { if case .get = $0.input { return true } else { return false } }) {
            var corrupted = ops
            corrupted[read].output = .value("never-written")
            #expect(!Linearizability.check(KVModel.self, corrupted).isLinearizable)
        }
    }
}
