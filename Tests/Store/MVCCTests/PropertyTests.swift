import Testing

@testable import MVCC

/// A small deterministic generator (SplitMix64) so a failing seed replays exactly.
struct Gen {
    var state: UInt64
    init(seed: UInt64) {
        state = seed
        state = next() ^ 0x5DEE_CE66_D1CE_4E5B
    }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func chance(_ percent: Int) -> Bool { int(100) < percent }
    mutating func pick<T>(_ xs: [T]) -> T { xs[int(xs.count)] }
}

/// Builds random requests over a key space of `keyCount` keys with shared prefixes.
struct RequestGen {
    var g: Gen
    let keyCount: Int
    init(seed: UInt64, keyCount: Int) {
        g = Gen(seed: seed)
        self.keyCount = keyCount
    }

    mutating func key() -> [UInt8] {
        let n = g.int(keyCount)
        return Array("\(["a", "b", "ab", "c/"][n % 4])\(n / 4)".utf8)
    }
    mutating func value() -> [UInt8] { g.chance(10) ? [] : Array("v\(g.int(50))".utf8) }
    mutating func end(for key: [UInt8]) -> [UInt8] {
        switch g.int(5) {
        case 0, 1: return []
        case 2: return [0]
        case 3:
            var e = key
            e[e.count - 1] &+= 1
            return e
        default: return self.key()
        }
    }
    mutating func revision(_ m: ReferenceModel) -> Int64 {
        // Mostly current; otherwise anywhere from just below the compaction revision to just past the head.
        let low = max(m.compactRevision - 2, 0)
        return g.chance(60) ? 0 : low + Int64(g.int(Int(m.revision - low) + 2))
    }
    mutating func lease() -> Int64 { g.chance(70) ? 0 : Int64(g.int(4)) + 1 }

    mutating func range(_ m: ReferenceModel) -> RangeRequest {
        let k = g.chance(2) ? [] : key()
        var r = RangeRequest(key: k, rangeEnd: k.isEmpty ? [] : end(for: k))
        if g.chance(30) { r.limit = Int64(g.int(4)) }
        r.revision = revision(m)
        if g.chance(30) {
            r.sortOrder = g.pick([.none, .ascend, .descend])
            r.sortTarget = g.pick([.key, .version, .create, .mod, .value])
        }
        r.keysOnly = g.chance(15)
        r.countOnly = g.chance(10)
        if g.chance(10) { r.minModRevision = Int64(g.int(Int(m.revision) + 1)) }
        if g.chance(10) { r.maxModRevision = Int64(g.int(Int(m.revision) + 1)) }
        if g.chance(10) { r.minCreateRevision = Int64(g.int(Int(m.revision) + 1)) }
        if g.chance(10) { r.maxCreateRevision = Int64(g.int(Int(m.revision) + 1)) }
        return r
    }

    mutating func put() -> PutRequest {
        var p = PutRequest(key: g.chance(1) ? [] : key(), value: value(), lease: lease(), prevKV: g.chance(50))
        if g.chance(10) {
            p.ignoreValue = true
            if !g.chance(10) { p.value = [] }
        }
        if g.chance(10) {
            p.ignoreLease = true
            if !g.chance(10) { p.lease = 0 }
        }
        return p
    }

    mutating func delete() -> DeleteRangeRequest {
        let k = g.chance(1) ? [] : key()
        return DeleteRangeRequest(key: k, rangeEnd: k.isEmpty ? [] : (g.chance(60) ? [] : end(for: k)), prevKV: g.chance(50))
    }

    mutating func compare(_ m: ReferenceModel) -> Compare {
        let k = key()
        let operand: CompareOperand
        switch g.int(5) {
        case 0: operand = .version(Int64(g.int(4)))
        case 1: operand = .createRevision(Int64(g.int(Int(m.revision) + 2)))
        case 2: operand = .modRevision(Int64(g.int(Int(m.revision) + 2)))
        case 3: operand = .value(value())
        default: operand = .lease(Int64(g.int(3)))
        }
        return Compare(
            key: k, rangeEnd: g.chance(20) ? end(for: k) : [], operand,
            g.pick([.equal, .notEqual, .less, .greater]))
    }

    mutating func txn(_ m: ReferenceModel, depth: Int) -> TxnRequest {
        func ops(_ me: inout RequestGen) -> [RequestOp] {
            (0..<me.g.int(4)).map { _ in
                switch me.g.int(depth > 0 ? 10 : 9) {
                case 0, 1, 2: .range(me.range(m))
                case 3, 4, 5, 6: .put(me.put())
                case 7, 8: .deleteRange(me.delete())
                default: .txn(me.txn(m, depth: depth - 1))
                }
            }
        }
        return TxnRequest(compare: (0..<g.int(3)).map { _ in compare(m) }, success: ops(&self), failure: ops(&self))
    }
}

@Suite struct PropertyTests {
    /// Runs `steps` random operations against the store and the model; every answer and every
    /// error must be identical. Every so often the store is snapshotted and restored, and
    /// continues from the restored copy.
    static func run(seed: UInt64, steps: Int, keyCount: Int) throws {
        var gen = RequestGen(seed: seed, keyCount: keyCount)
        let model = ReferenceModel()
        var store = KVStore()
        var outcomes: [String: Int] = [:]
        for step in 0..<steps {
            let what = gen.g.int(100)
            func same<T: Equatable>(_ a: Result<T, MVCCError>, _ b: Result<T, MVCCError>, _ label: String) {
                #expect(a == b, "seed \(seed) step \(step) \(label)")
                let kind = String(label.prefix { $0 != " " })
                switch a {
                case .success: outcomes[kind + " ok", default: 0] += 1
                case .failure(let e): outcomes[kind + " \(e)", default: 0] += 1
                }
            }
            switch what {
            case 0..<25:
                let r = gen.range(model)
                same(
                    Result { () throws(MVCCError) in try store.view.range(r) }, Result { () throws(MVCCError) in try model.range(r) },
                    "range \(r)")
            case 25..<50:
                let r = gen.put()
                same(Result { () throws(MVCCError) in try store.put(r) }, Result { () throws(MVCCError) in try model.put(r) }, "put \(r)")
            case 50..<60:
                let r = gen.delete()
                same(
                    Result { () throws(MVCCError) in try store.deleteRange(r) },
                    Result { () throws(MVCCError) in try model.deleteRange(r) }, "delete \(r)")
            case 60..<85:
                let r = gen.txn(model, depth: 2)
                same(Result { () throws(MVCCError) in try store.txn(r) }, Result { () throws(MVCCError) in try model.txn(r) }, "txn \(r)")
            case 85..<89:
                let rev = max(model.compactRevision, 0) + Int64(gen.g.int(60)) - 3
                same(
                    Result { () throws(MVCCError) in try store.compact(rev) }, Result { () throws(MVCCError) in try model.compact(rev) },
                    "compact \(rev)")
            case 89..<94:
                let id = Int64(gen.g.int(5))
                let ttl = Int64(gen.g.int(10))
                same(
                    Result { () throws(MVCCError) in try store.leaseGrant(id: id, ttl: ttl) },
                    Result { () throws(MVCCError) in try model.leaseGrant(id: id, ttl: ttl) }, "grant \(id)")
            case 94..<98:
                let id = Int64(gen.g.int(5))
                same(
                    Result { () throws(MVCCError) in try store.leaseRevoke(id: id) },
                    Result { () throws(MVCCError) in try model.leaseRevoke(id: id) }, "revoke \(id)")
            default:
                let restored = try MVCCSnapshot.decode(MVCCSnapshot.encode(store))
                #expect(try restored.view.hashKV(revision: 0) == store.view.hashKV(revision: 0))
                store = restored
            }
            if step % 97 == 0 {
                try checkInvariants(store, model)
            }
        }
        try checkInvariants(store, model)
        // The run must have exercised every kind of operation, succeeding and failing.
        for kind in [
            "range ok", "put ok", "delete ok", "txn ok", "compact ok", "grant ok", "revoke ok",
            "range \(MVCCError.compacted)", "range \(MVCCError.futureRevision)", "put \(MVCCError.keyNotFound)",
            "put \(MVCCError.leaseNotFound)", "txn \(MVCCError.duplicateKey)", "compact \(MVCCError.compacted)",
            "grant \(MVCCError.leaseExists)", "revoke \(MVCCError.leaseNotFound)"
        ] {
            #expect(outcomes[kind, default: 0] > 0, "seed \(seed): no '\(kind)' in \(outcomes)")
        }
    }

    /// Whole-state checks: every retained revision reads the same as the model, the tree is
    /// well formed, the accounted size matches the versions held, lease keys match.
    static func checkInvariants(_ store: KVStore, _ model: ReferenceModel) throws {
        #expect(store.revision == model.revision)
        #expect(store.compactRevision == model.compactRevision)
        #expect(store.view.tree.validate() == nil)
        let everything = RangeRequest(key: [0], rangeEnd: [0])
        for rev in max(model.compactRevision, 1)...model.revision {
            var r = everything
            r.revision = rev
            #expect(try store.view.range(r) == model.range(r), "revision \(rev)")
        }
        var sum: Int64 = 0
        store.view.tree.forEach(from: []) { head in
            var node: KeyVersion? = head
            while let v = node {
                sum += v.accountedBytes
                node = v.prev
            }
            return true
        }
        #expect(sum == store.accountedBytes)
        #expect(Set(store.leases.keys) == Set(model.leases.keys))
        for (id, lease) in store.leases {
            let attached = Set(model.current.values.filter { $0.lease == id }.map(\.key))
            #expect(lease.keys == attached, "lease \(id)")
        }
    }

    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6, 7, 8])
    func smallKeySpace(seed: UInt64) throws {
        try Self.run(seed: seed, steps: 3000, keyCount: 12)
    }

    @Test(arguments: [UInt64(101), 102])
    func largerKeySpace(seed: UInt64) throws {
        try Self.run(seed: seed, steps: 4000, keyCount: 400)
    }
}
