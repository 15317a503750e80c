import Checker
import RaftSimulation
import Testing

typealias KVOp = Operation<KVModel.Input, KVModel.Output>

func op(_ client: Int, _ input: KVModel.Input, _ call: UInt64, _ output: KVModel.Output, _ ret: UInt64) -> KVOp {
    Operation(client: client, input: input, call: call, output: output, ret: ret)
}

@Suite struct LinearizabilityTests {
    @Test func sequentialAndOverlappingHistoriesPass() {
        let sequential = [op(0, .put(key: "a", value: "1"), 0, .ok, 1), op(0, .get(key: "a"), 2, .value("1"), 3),
                          op(1, .delete(key: "a"), 4, .ok, 5), op(1, .get(key: "a"), 6, .value(nil), 7)]
        #expect(Linearizability.check(KVModel.self, sequential).isLinearizable)
        // A read overlapping a put may see either value.
        for seen in ["1", nil] as [String?] {
            let h = [op(0, .put(key: "a", value: "1"), 0, .ok, 10), op(1, .get(key: "a"), 5, .value(seen), 6)]
            #expect(Linearizability.check(KVModel.self, h).isLinearizable)
        }
    }

    @Test func aStaleReadIsCaughtWithAMinimalHistory() {
        let h = [op(0, .put(key: "a", value: "1"), 0, .ok, 1),
                 op(2, .put(key: "b", value: "x"), 0, .ok, 9),
                 op(1, .get(key: "a"), 2, .value("1"), 3),
                 op(0, .put(key: "a", value: "2"), 4, .ok, 5),
                 op(1, .get(key: "a"), 6, .value("1"), 7),  // stale: 2 was acknowledged before this read began
                 op(2, .get(key: "b"), 10, .value("x"), 11)]
        guard case .violation(let minimal, let part) = Linearizability.check(KVModel.self, h) else {
            Issue.record("a stale read passed")
            return
        }
        #expect(part.allSatisfy { $0.input.key == "a" })
        // The write that explains the value read stays; the read that was not stale goes.
        #expect(minimal.map(\.input) == [.put(key: "a", value: "1"), .put(key: "a", value: "2"), .get(key: "a")])
        #expect(minimal.last?.call == 6)
    }

    @Test func aLostWriteAndADoubleCompareAndSetAreCaught() {
        let lost = [op(0, .put(key: "k", value: "1"), 0, .ok, 1), op(1, .put(key: "k", value: "2"), 2, .ok, 3),
                    op(2, .get(key: "k"), 4, .value("1"), 5)]
        #expect(!Linearizability.check(KVModel.self, lost).isLinearizable)
        // Two concurrent creates cannot both win.
        let twice = [op(0, .cas(key: "k", expected: nil, new: "a"), 0, .cas(true), 10),
                     op(1, .cas(key: "k", expected: nil, new: "b"), 1, .cas(true), 9)]
        #expect(!Linearizability.check(KVModel.self, twice).isLinearizable)
        let oneWins = [op(0, .cas(key: "k", expected: nil, new: "a"), 0, .cas(true), 10),
                       op(1, .cas(key: "k", expected: nil, new: "b"), 1, .cas(false), 9),
                       op(2, .get(key: "k"), 11, .value("a"), 12)]
        #expect(Linearizability.check(KVModel.self, oneWins).isLinearizable)
    }

    /// A write with no answer may have happened (a later read sees it) or not (nobody does).
    @Test func writesWithUnknownOutcomesMayOrMayNotHaveHappened() {
        for seen in ["2", "1"] {
            let h = [op(0, .put(key: "k", value: "1"), 0, .ok, 1),
                     op(1, .put(key: "k", value: "2"), 2, .unknown, .max),
                     op(2, .get(key: "k"), 5, .value(seen), 6)]
            #expect(Linearizability.check(KVModel.self, h).isLinearizable, "read \(seen)")
        }
        // But it cannot be seen and then unseen.
        let flip = [op(0, .put(key: "k", value: "1"), 0, .ok, 1),
                    op(1, .put(key: "k", value: "2"), 2, .unknown, .max),
                    op(2, .get(key: "k"), 5, .value("2"), 6),
                    op(2, .get(key: "k"), 7, .value("1"), 8)]
        #expect(!Linearizability.check(KVModel.self, flip).isLinearizable)
    }

    /// Histories made by a real linearizable execution (each operation takes effect at a random
    /// instant inside its call–return window, several clients at once) always pass; changing one
    /// read's answer to a value never written always fails.
    @Test(arguments: 1...30) func randomLinearizableHistoriesPassAndCorruptedOnesFail(seed: UInt64) {
        var rng = SimRandom(seed: seed)
        var ops: [KVOp] = []
        var values: [String: String] = [:]
        var time: UInt64 = 0
        var written = 0
        // Clients start operations at random times; each takes effect at `effect`, inside its window.
        var pending: [(effect: UInt64, client: Int, input: KVModel.Input, call: UInt64, ret: UInt64)] = []
        for i in 0..<60 {
            time += rng.next() % 5
            let key = ["a", "b"][Int(rng.next() % 2)]
            let input: KVModel.Input
            switch rng.next() % 4 {
            case 0, 1: input = .get(key: key)
            case 2:
                written += 1
                input = .put(key: key, value: "v\(written)")
            default:
                written += 1
                input = .cas(key: key, expected: i % 3 == 0 ? nil : "v\(max(written - 2, 1))", new: "v\(written)")
            }
            let effect = time + 1 + rng.next() % 8
            pending.append((effect, i % 5, input, time, effect + 1 + rng.next() % 8))
        }
        for p in pending.sorted(by: { $0.effect < $1.effect }) {
            let key = p.input.key
            let output: KVModel.Output
            switch p.input {
            case .get: output = .value(values[key])
            case .put(_, let v):
                values[key] = v
                output = .ok
            case .delete:
                values[key] = nil
                output = .ok
            case .cas(_, let expected, let new):
                let matches = values[key] == expected
                if matches { values[key] = new }
                output = .cas(matches)
            }
            ops.append(op(p.client, p.input, p.call, output, p.ret))
        }
        #expect(Linearizability.check(KVModel.self, ops).isLinearizable)
        if let read = ops.firstIndex(where: { if case .get = $0.input { return true } else { return false } }) {
            var corrupted = ops
            corrupted[read].output = .value("never-written")
            #expect(!Linearizability.check(KVModel.self, corrupted).isLinearizable)
        }
    }
}
