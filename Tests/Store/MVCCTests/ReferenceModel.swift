@testable import MVCC

/// A deliberately simple model of etcd's key space: the whole map at every revision, copied
/// on each write. Slow and obviously right; the property tests hold `KVStore` to it.
/// It shares only `Validation` (the request-shape checks) with the code under test.
final class ReferenceModel {
    var states: [Int64: [[UInt8]: KeyValue]] = [1: [:]]
    var revision: Int64 = 1
    var compactRevision: Int64 = -1
    var leases: [Int64: Int64] = [:]
    let limits: MVCCLimits

    init(limits: MVCCLimits = MVCCLimits()) { self.limits = limits }

    var current: [[UInt8]: KeyValue] { states[revision]! }

    static func inRange(_ k: [UInt8], _ key: [UInt8], _ end: [UInt8]) -> Bool {
        if end.isEmpty { return k == key }
        if end == [0] { return !k.lexicographicallyPrecedes(key) }
        return !k.lexicographicallyPrecedes(key) && k.lexicographicallyPrecedes(end)
    }

    static func keys(_ state: [[UInt8]: KeyValue], _ key: [UInt8], _ end: [UInt8]) -> [KeyValue] {
        state.values.filter { inRange($0.key, key, end) }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
    }

    func range(_ r: RangeRequest, in state: [[UInt8]: KeyValue]? = nil, current: Int64? = nil) throws(MVCCError) -> RangeResponse {
        try Validation.check(r)
        let now = current ?? revision
        var source = state ?? self.current
        if r.revision > 0 {
            if r.revision > revision { throw .futureRevision }
            if r.revision < compactRevision { throw .compacted }
            source = states[r.revision]!
        }
        let all = Self.keys(source, r.key, r.rangeEnd)
        var kvs = r.countOnly ? [] : all
        // etcd's quirk, kept for compatibility: with no sort order, no revision filters and a
        // limit, only the first limit + 1 keys are fetched, and then sorted by a non-key target.
        let filtered = r.minModRevision != 0 || r.maxModRevision != 0 || r.minCreateRevision != 0 || r.maxCreateRevision != 0
        if r.limit > 0 && r.sortOrder == .none && !filtered { kvs = Array(kvs.prefix(Int(r.limit) + 1)) }
        kvs = kvs.filter { kv in
            (r.maxModRevision == 0 || kv.modRevision <= r.maxModRevision)
                && (r.minModRevision == 0 || kv.modRevision >= r.minModRevision)
                && (r.maxCreateRevision == 0 || kv.createRevision <= r.maxCreateRevision)
                && (r.minCreateRevision == 0 || kv.createRevision >= r.minCreateRevision)
        }
        var order = r.sortOrder
        if order == .none && r.sortTarget != .key { order = .ascend }
        if order != .none {
            func key(_ kv: KeyValue) -> [UInt8] {
                func be(_ x: Int64) -> [UInt8] { withUnsafeBytes(of: UInt64(bitPattern: x ^ Int64.min).bigEndian) { Array($0) } }
                switch r.sortTarget {
                case .key: return kv.key
                case .version: return be(kv.version)
                case .create: return be(kv.createRevision)
                case .mod: return be(kv.modRevision)
                case .value: return kv.value
                }
            }
            // Ties keep key order in both directions.
            let indexed = kvs.enumerated().map { (key($0.element), $0.offset, $0.element) }
            kvs = indexed.sorted { a, b in
                if a.0 != b.0 { return order == .ascend ? a.0.lexicographicallyPrecedes(b.0) : b.0.lexicographicallyPrecedes(a.0) }
                return a.1 < b.1
            }.map(\.2)
        }
        var more = false
        if r.limit > 0 && kvs.count > r.limit {
            kvs = Array(kvs.prefix(Int(r.limit)))
            more = true
        }
        if r.keysOnly {
            kvs = kvs.map {
                var kv = $0
                kv.value = []
                return kv
            }
        }
        return RangeResponse(revision: now, kvs: kvs, more: more, count: Int64(all.count))
    }

    /// A write in progress: the map being built and the next sub-revision.
    struct Write {
        var state: [[UInt8]: KeyValue]
        var main: Int64
        var writes = 0
    }

    func commit(_ w: Write) {
        if w.writes > 0 {
            revision = w.main
            states[revision] = w.state
        }
    }

    func checkPut(_ r: PutRequest) throws(MVCCError) {
        if (r.ignoreValue || r.ignoreLease) && current[r.key] == nil { throw .keyNotFound }
        if r.lease != 0 && leases[r.lease] == nil { throw .leaseNotFound }
    }

    func apply(_ r: PutRequest, _ w: inout Write) -> PutResponse {
        let old = w.state[r.key]
        w.state[r.key] = KeyValue(
            key: r.key, createRevision: old?.createRevision ?? w.main, modRevision: w.main,
            version: (old?.version ?? 0) + 1, value: r.ignoreValue ? old!.value : r.value,
            lease: r.ignoreLease ? old!.lease : r.lease)
        w.writes += 1
        return PutResponse(revision: w.main, prevKV: r.prevKV ? old : nil)
    }

    func apply(_ r: DeleteRangeRequest, _ w: inout Write) -> DeleteRangeResponse {
        let gone = Self.keys(w.state, r.key, r.rangeEnd)
        for kv in gone { w.state[kv.key] = nil }
        w.writes += gone.count
        return DeleteRangeResponse(
            revision: w.writes > 0 ? w.main : w.main - 1, deleted: Int64(gone.count),
            prevKVs: r.prevKV ? gone : [])
    }

    func put(_ r: PutRequest) throws(MVCCError) -> PutResponse {
        try Validation.check(r)
        try checkPut(r)
        var w = Write(state: current, main: revision + 1)
        let resp = apply(r, &w)
        commit(w)
        return resp
    }

    func deleteRange(_ r: DeleteRangeRequest) throws(MVCCError) -> DeleteRangeResponse {
        try Validation.check(r)
        var w = Write(state: current, main: revision + 1)
        let resp = apply(r, &w)
        commit(w)
        return resp
    }

    func holds(_ c: Compare) -> Bool {
        let kvs = Self.keys(current, c.key, c.rangeEnd)
        func test(_ kv: KeyValue) -> Bool {
            let ord: Int
            switch c.operand {
            case .version(let x): ord = kv.version == x ? 0 : (kv.version < x ? -1 : 1)
            case .createRevision(let x): ord = kv.createRevision == x ? 0 : (kv.createRevision < x ? -1 : 1)
            case .modRevision(let x): ord = kv.modRevision == x ? 0 : (kv.modRevision < x ? -1 : 1)
            case .lease(let x): ord = kv.lease == x ? 0 : (kv.lease < x ? -1 : 1)
            case .value(let x): ord = kv.value == x ? 0 : (kv.value.lexicographicallyPrecedes(x) ? -1 : 1)
            }
            switch c.result {
            case .equal: return ord == 0
            case .notEqual: return ord != 0
            case .less: return ord < 0
            case .greater: return ord > 0
            }
        }
        if kvs.isEmpty {
            if case .value = c.operand { return false }
            return test(KeyValue(key: c.key))
        }
        return kvs.allSatisfy(test)
    }

    /// Checks the chosen path's puts and ranges against the state before the transaction.
    func check(_ r: TxnRequest) throws(MVCCError) {
        for op in r.compare.allSatisfy(holds) ? r.success : r.failure {
            switch op {
            case .put(let p): try checkPut(p)
            case .range(let q):
                if q.revision > revision { throw .futureRevision }
                if q.revision > 0 && q.revision < compactRevision { throw .compacted }
            case .txn(let t): try check(t)
            case .deleteRange: break
            }
        }
    }

    func txn(_ r: TxnRequest) throws(MVCCError) -> TxnResponse {
        try Validation.check(r, limits: limits)
        try check(r)
        var w = Write(state: current, main: revision + 1)
        let resp = run(r, &w)
        commit(w)
        return resp
    }

    private func run(_ r: TxnRequest, _ w: inout Write) -> TxnResponse {
        // Compares, nested ones too, see the state from before the transaction.
        let ok = r.compare.allSatisfy(holds)
        var out: [ResponseOp] = []
        for op in ok ? r.success : r.failure {
            switch op {
            case .range(let q):
                let now = w.writes > 0 ? w.main : w.main - 1
                out.append(.range(try! range(q, in: w.state, current: now)))
            case .put(let p): out.append(.put(apply(p, &w)))
            case .deleteRange(let d): out.append(.deleteRange(apply(d, &w)))
            case .txn(let t): out.append(.txn(run(t, &w)))
            }
        }
        return TxnResponse(revision: w.writes > 0 ? w.main : w.main - 1, succeeded: ok, responses: out)
    }

    func compact(_ rev: Int64) throws(MVCCError) -> CompactResponse {
        if rev <= compactRevision { throw .compacted }
        if rev > revision { throw .futureRevision }
        compactRevision = rev
        for r in states.keys where r < rev { states[r] = nil }
        return CompactResponse(revision: revision)
    }

    func leaseGrant(id: Int64, ttl: Int64) throws(MVCCError) -> LeaseGrantResponse {
        if ttl > limits.maxLeaseTTL { throw .leaseTTLTooLarge }
        if id == 0 { throw .leaseNotFound }
        if leases[id] != nil { throw .leaseExists }
        leases[id] = max(ttl, limits.minLeaseTTL)
        return LeaseGrantResponse(revision: revision, id: id, ttl: leases[id]!)
    }

    func leaseRevoke(id: Int64) throws(MVCCError) -> Int64 {
        guard leases.removeValue(forKey: id) != nil else { throw .leaseNotFound }
        var w = Write(state: current, main: revision + 1)
        for kv in current.values where kv.lease == id {
            w.state[kv.key] = nil
            w.writes += 1
        }
        commit(w)
        return revision
    }

    /// The events a watcher on [key, end) starting at `start` sees, up to the current revision.
    func events(key: [UInt8], end: [UInt8], from start: Int64) -> [(rev: Int64, kv: KeyValue, deleted: Bool)] {
        var out: [(Int64, KeyValue, Bool)] = []
        guard start <= revision else { return [] }
        for rev in max(start, 2)...max(revision, 1) where rev >= 2 {
            guard let now = states[rev], let before = states[rev - 1] else { continue }
            var changed: [KeyValue] = []
            for kv in now.values where Self.inRange(kv.key, key, end) && kv.modRevision == rev { changed.append(kv) }
            for kv in before.values where Self.inRange(kv.key, key, end) && now[kv.key] == nil {
                changed.append(KeyValue(key: kv.key, modRevision: rev))
            }
            changed.sort { $0.key.lexicographicallyPrecedes($1.key) }
            out += changed.map { (rev, $0, $0.version == 0) }
        }
        return out
    }
}
