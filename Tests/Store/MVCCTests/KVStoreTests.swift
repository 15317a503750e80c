import Base
import Testing

@testable import MVCC

func b(_ s: String) -> [UInt8] { Array(s.utf8) }

/// Runs a throwing call and returns its error, or nil.
func failure<T>(_ body: () throws -> T) -> MVCCError? {
    do {
        _ = try body()
        return nil
    } catch { return error as? MVCCError }
}

@Suite struct KVStoreTests {
    @Test func revisionsStartAtOneAndTxnWritesShareOne() throws {
        let s = KVStore()
        #expect(s.revision == 1)
        #expect(try s.put(PutRequest(key: b("a"), value: b("1"))).revision == 2)
        let t = try s.txn(
            TxnRequest(success: [
                .put(PutRequest(key: b("b"), value: b("2"))),
                .put(PutRequest(key: b("c"), value: b("3"))),
                .range(RangeRequest(key: b("a"), rangeEnd: [0]))
            ]))
        #expect(t.revision == 3 && t.succeeded)
        guard case .range(let seen) = t.responses[2] else {
            Issue.record("no range answer")
            return
        }
        #expect(seen.kvs.map(\.key) == [b("a"), b("b"), b("c")], "reads inside a txn see its own writes")
        #expect(s.view.tree.get(b("b"))!.modRevision == Revision(main: 3, sub: 0))
        #expect(s.view.tree.get(b("c"))!.modRevision == Revision(main: 3, sub: 1))
        // A delete that deletes nothing and a read-only txn do not move the revision.
        #expect(try s.deleteRange(DeleteRangeRequest(key: b("zz"))).revision == 3)
        #expect(try s.txn(TxnRequest(success: [.range(RangeRequest(key: b("a")))])).revision == 3)
        #expect(s.revision == 3)
    }

    @Test func generationsAcrossDeleteAndRecreate() throws {
        let s = KVStore()
        _ = try s.put(PutRequest(key: b("k"), value: b("1")))  // 2
        _ = try s.put(PutRequest(key: b("k"), value: b("2")))  // 3
        let d = try s.deleteRange(DeleteRangeRequest(key: b("k"), prevKV: true))  // 4
        #expect(d.deleted == 1 && d.prevKVs.first?.version == 2)
        _ = try s.put(PutRequest(key: b("k"), value: b("3")))  // 5
        let now = try s.view.range(RangeRequest(key: b("k"))).kvs[0]
        #expect(now.createRevision == 5 && now.version == 1 && now.modRevision == 5)
        #expect(try s.view.range(RangeRequest(key: b("k"), revision: 3)).kvs[0].value == b("2"))
        #expect(try s.view.range(RangeRequest(key: b("k"), revision: 4)).kvs.isEmpty)
        _ = try s.compact(4)
        #expect(failure { try s.view.range(RangeRequest(key: b("k"), revision: 3)) } == .compacted)
        #expect(try s.view.range(RangeRequest(key: b("k"), revision: 4)).kvs.isEmpty)
        #expect(failure { try s.compact(4) } == .compacted)
        #expect(failure { try s.compact(9) } == .futureRevision)
        #expect(failure { try s.view.range(RangeRequest(key: b("k"), revision: 6)) } == .futureRevision)
    }

    @Test func errorsCarryEtcdCodesAndMessages() {
        #expect(MVCCError.compacted.description == "etcdserver: mvcc: required revision has been compacted")
        #expect(MVCCError.compacted.code == .outOfRange)
        #expect(MVCCError.futureRevision.description == "etcdserver: mvcc: required revision is a future revision")
        #expect(MVCCError.duplicateKey.description == "etcdserver: duplicate key given in txn request")
        #expect(MVCCError.tooManyOps.description == "etcdserver: too many operations in txn request")
        #expect(MVCCError.noSpace.description == "etcdserver: mvcc: database space exceeded")
        #expect(MVCCError.noSpace.code == .resourceExhausted)
        #expect(MVCCError.leaseNotFound.code == .notFound)
    }

    @Test func duplicateKeyRules() {
        let s = KVStore()
        func txn(_ ops: [RequestOp]) -> MVCCError? { failure { try s.txn(TxnRequest(success: ops)) } }
        let put = { (k: String) in RequestOp.put(PutRequest(key: b(k))) }
        let del = { (k: String, e: String) in RequestOp.deleteRange(DeleteRangeRequest(key: b(k), rangeEnd: b(e))) }
        #expect(txn([put("a"), put("a")]) == .duplicateKey)
        #expect(txn([del("a", "c"), put("b")]) == .duplicateKey)
        #expect(txn([put("b"), .deleteRange(DeleteRangeRequest(key: b("a"), rangeEnd: [0]))]) == .duplicateKey)
        #expect(txn([del("a", "c"), del("b", "d")]) == nil, "overlapping deletes are allowed")
        // Both branches of a nested txn may write the same key: only one runs.
        let nested = RequestOp.txn(TxnRequest(success: [put("x")], failure: [put("x")]))
        #expect(txn([nested]) == nil)
        #expect(txn([nested, put("x")]) == .duplicateKey)
        #expect(txn([del("w", "y"), nested]) == .duplicateKey)
        let tooMany = (0..<129).map { put("k\($0)") }
        #expect(txn(tooMany) == .tooManyOps)
        #expect(txn([.put(PutRequest(key: b("v"), value: b("x"), ignoreValue: true))]) == .valueProvided)
        #expect(s.revision == 2, "only the nested txn that passed wrote anything")
    }

    @Test func txnNestingIsBounded() throws {
        func nested(_ depth: Int) -> TxnRequest {
            var t = TxnRequest(success: [.put(PutRequest(key: b("deep")))])
            for _ in 1..<depth { t = TxnRequest(success: [.txn(t)]) }
            return t
        }
        let s = KVStore()
        #expect(try s.txn(nested(64)).succeeded)
        #expect(failure { try s.txn(nested(65)) } == .tooManyOps)
        #expect(failure { try s.txn(nested(1_000)) } == .tooManyOps)
    }

    @Test func failedTxnWritesNothing() throws {
        let s = KVStore()
        // The second put names a missing lease: the whole txn fails before the first put.
        let e = failure {
            try s.txn(TxnRequest(success: [.put(PutRequest(key: b("a"))), .put(PutRequest(key: b("b"), lease: 7))]))
        }
        #expect(e == .leaseNotFound)
        #expect(s.revision == 1 && s.view.indexedKeys == 0)
    }

    @Test func kubernetesTxnShapes() throws {
        let s = KVStore()
        let create = TxnRequest(
            compare: [Compare(key: b("/registry/pods/a"), .modRevision(0), .equal)],
            success: [.put(PutRequest(key: b("/registry/pods/a"), value: b("v1")))],
            failure: [.range(RangeRequest(key: b("/registry/pods/a")))])
        #expect(try s.txn(create).succeeded)
        let again = try s.txn(create)
        #expect(!again.succeeded)
        guard case .range(let current) = again.responses[0] else {
            Issue.record("no range")
            return
        }
        let update = TxnRequest(
            compare: [Compare(key: b("/registry/pods/a"), .modRevision(current.kvs[0].modRevision), .equal)],
            success: [.put(PutRequest(key: b("/registry/pods/a"), value: b("v2")))])
        #expect(try s.txn(update).succeeded)
        #expect(try !s.txn(update).succeeded, "a stale resourceVersion loses")
    }

    @Test func quotaRaisesNoSpaceAndDeletesStillWork() throws {
        var limits = MVCCLimits()
        limits.quotaBytes = 1000
        let s = KVStore(limits: limits)
        var i = 0
        var lastError: MVCCError? = nil
        while lastError == nil && i < 100 {
            lastError = failure { try s.put(PutRequest(key: b("k\(i)"), value: [UInt8](repeating: 1, count: 100))) }
            i += 1
        }
        #expect(lastError == .noSpace)
        #expect(s.noSpace)
        #expect(s.accountedBytes <= 1000)
        let written = s.revision
        #expect(failure { try s.put(PutRequest(key: b("small"))) } == .noSpace)
        #expect(failure { try s.leaseGrant(id: 1, ttl: 10) } == .noSpace)
        #expect(failure { try s.txn(TxnRequest(failure: [.put(PutRequest(key: b("t")))])) } == .noSpace)
        #expect(try s.txn(TxnRequest(success: [.range(RangeRequest(key: b("k0")))])).succeeded, "reads still work")
        let full = s.accountedBytes
        let deleted = try s.deleteRange(DeleteRangeRequest(key: b("k"), rangeEnd: b("l"))).deleted
        _ = try s.compact(s.revision)
        #expect(s.revision == written + 1)
        // What remains are the tombstones at the compaction revision itself.
        #expect(s.accountedBytes == deleted * (2 + MVCCLimits.versionOverheadBytes))
        #expect(s.accountedBytes < full / 2)
        #expect(s.deactivate(AlarmMember(memberID: 0, alarm: .noSpace)))
        _ = try s.put(PutRequest(key: b("after"), value: b("ok")))
    }

    @Test func leaseRevokeDeletesAttachedKeysInOneRevision() throws {
        let s = KVStore()
        #expect(try s.leaseGrant(id: 5, ttl: 1).ttl == 2, "raised to the minimum TTL")
        #expect(failure { try s.leaseGrant(id: 5, ttl: 10) } == .leaseExists)
        #expect(failure { try s.leaseGrant(id: 6, ttl: 9_000_000_001) } == .leaseTTLTooLarge)
        for k in ["a", "b", "c"] { _ = try s.put(PutRequest(key: b(k), lease: 5)) }
        _ = try s.put(PutRequest(key: b("c"), value: b("moved")))  // detaches c
        #expect(s.leases[5]!.keys == [b("a"), b("b")])
        let before = s.revision
        #expect(try s.leaseRevoke(id: 5) == before + 1)
        #expect(try s.view.range(RangeRequest(key: b("a"), rangeEnd: [0])).kvs.map(\.key) == [b("c")])
        #expect(failure { try s.leaseRevoke(id: 5) } == .leaseNotFound)
        #expect(failure { try s.put(PutRequest(key: b("d"), lease: 5)) } == .leaseNotFound)
    }

    @Test func hashKVAgreesAcrossMembersAndDetectsDivergence() throws {
        let (x, y) = (KVStore(), KVStore())
        for s in [x, y] {
            for i in 0..<50 { _ = try s.put(PutRequest(key: b("k\(i % 7)"), value: b("\(i)"))) }
            _ = try s.compact(30)
        }
        #expect(try x.view.hashKV(revision: 0) == y.view.hashKV(revision: 0))
        #expect(try x.view.hashKV(revision: 40) == y.view.hashKV(revision: 40))
        #expect(try x.view.hashKV(revision: 40).hash != x.view.hashKV(revision: 0).hash)
        _ = try y.put(PutRequest(key: b("k1"), value: b("diverged")))
        _ = try x.put(PutRequest(key: b("k1"), value: b("other")))
        #expect(try x.view.hashKV(revision: 0).hash != y.view.hashKV(revision: 0).hash)
        #expect(failure { try x.view.hashKV(revision: 10) } == .compacted)
    }

    @Test func oldReadViewIsUnaffectedByLaterWrites() throws {
        let s = KVStore()
        for i in 0..<2000 { _ = try s.put(PutRequest(key: b(String(format: "k%05d", i)), value: b("old"))) }
        let view = s.view
        let before = try view.range(RangeRequest(key: b("k"), rangeEnd: b("l")))
        for i in 0..<2000 where i % 3 == 0 { _ = try s.put(PutRequest(key: b(String(format: "k%05d", i)), value: b("new"))) }
        _ = try s.deleteRange(DeleteRangeRequest(key: b("k00"), rangeEnd: b("k01")))
        _ = try s.compact(s.revision)
        #expect(try view.range(RangeRequest(key: b("k"), rangeEnd: b("l"))) == before)
        #expect(view.tree.validate() == nil && s.view.tree.validate() == nil)
    }

    /// A version of `key` with an empty value, written at revision `step`.
    static func version(of key: [UInt8], at step: Int) -> KeyVersion {
        key.withUnsafeBytes { k in
            KeyVersion.make(
                key: k, value: UnsafeRawBufferPointer(start: nil, count: 0), modRevision: Revision(main: Int64(step)),
                createRevision: 1, version: 1, lease: 0, prev: nil)
        }
    }

    /// Keys that are prefixes of one another, end in zero bytes, share long prefixes or none:
    /// the tree orders them as bytes do (what any shortcut in its key comparisons must keep).
    @Test(arguments: [1, 2, 3])
    func keyTreeOrdersAwkwardKeysAsBytesDo(seed: UInt64) {
        var g = Gen(seed: seed)
        var tree = KeyTree()
        var truth: [[UInt8]: Int64] = [:]
        func key() -> [UInt8] {
            let alphabet: [UInt8] = [0x00, 0x01, 0x61, 0x7F, 0xFF]
            let tail = (0..<g.int(14)).map { _ in g.pick(alphabet) }
            switch g.int(3) {
            case 0: return [g.pick(alphabet)] + tail
            case 1: return b("/registry/pods/ns-\(g.int(3))/") + tail
            default: return b("/registry/pods/ns-1/pod-0000") + tail
            }
        }
        for step in 0..<20_000 {
            let k = key()
            if g.chance(65) {
                tree.set(Self.version(of: k, at: step))
                truth[k] = Int64(step)
            } else if g.chance(50) {
                #expect(tree.remove(k) == (truth.removeValue(forKey: k) != nil))
            } else {
                #expect(tree.get(k)?.modMain == truth[k])
                guard g.chance(25) else { continue }
                // The first key at or after k.
                var first: [UInt8]?
                tree.forEach(from: k) {
                    first = $0.key
                    return false
                }
                #expect(first == truth.keys.filter { !bytesLess($0, k) }.min(by: bytesLess))
            }
            if step % 3_000 == 0 { #expect(tree.validate() == nil, "step \(step)") }
        }
        #expect(tree.validate() == nil)
        var seen: [[UInt8]] = []
        tree.forEach(from: []) {
            seen.append($0.key)
            return true
        }
        let sorted = truth.keys.sorted(by: bytesLess)
        let firstDifference = zip(seen, sorted).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        #expect(
            seen.count == sorted.count && firstDifference == nil,
            "\(seen.count) keys visited of \(sorted.count); first out of place at \(firstDifference.map(String.init) ?? "-")")
    }

    @Test func keyTreeMatchesADictionaryUnderRandomChurn() {
        var g = Gen(seed: 42)
        var tree = KeyTree()
        var truth: [[UInt8]: Int64] = [:]
        var snapshots: [(KeyTree, [[UInt8]: Int64])] = []
        for step in 0..<40_000 {
            let key = b("key\(g.int(3000))")
            if g.chance(60) {
                tree.set(Self.version(of: key, at: step))
                truth[key] = Int64(step)
            } else {
                #expect(tree.remove(key) == (truth.removeValue(forKey: key) != nil))
            }
            if step % 5000 == 0 { snapshots.append((tree, truth)) }
        }
        #expect(tree.validate() == nil)
        for (old, expected) in snapshots + [(tree, truth)] {
            var seen: [[UInt8]: Int64] = [:]
            old.forEach(from: []) {
                seen[$0.key] = $0.modMain
                return true
            }
            #expect(seen == expected)
            #expect(old.count == expected.count)
        }
    }

    @Test func snapshotRejectsDamage() throws {
        let s = KVStore()
        _ = try s.leaseGrant(id: 3, ttl: 60)
        for i in 0..<20 { _ = try s.put(PutRequest(key: b("k\(i % 5)"), value: b("v\(i)"), lease: i % 2 == 0 ? 3 : 0)) }
        _ = try s.compact(10)
        let bytes = MVCCSnapshot.encode(s)
        let restored = try MVCCSnapshot.decode(bytes)
        #expect(restored.leases == s.leases && restored.compactRevision == 10 && restored.revision == s.revision)
        #expect(throws: DecodeError(offset: 0, what: "not a Capstan state-machine snapshot (bad magic)")) {
            try MVCCSnapshot.decode(Array(bytes.dropFirst()))
        }
        #expect(throws: DecodeError.self) { try MVCCSnapshot.decode(Array(bytes.dropLast())) }
        var flipped = bytes
        flipped[8 + 8 + 6] ^= 0x40  // the compaction revision, now past the head
        #expect(throws: DecodeError.self) { try MVCCSnapshot.decode(flipped) }
    }
}
