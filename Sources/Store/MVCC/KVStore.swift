/// A lease as the replicated state knows it: its granted TTL and the keys attached to it.
/// When it expires is not replicated state; the leader's `LeaseClock` decides that.
public struct LeaseRecord: Equatable, Sendable {
    public var id: Int64
    public var ttl: Int64
    public var keys: Set<[UInt8]>
}

public struct LeaseGrantResponse: Equatable, Sendable {
    public var revision: Int64
    public var id: Int64
    public var ttl: Int64
}

/// The replicated state machine: the revisioned key space, the leases and the alarms. Every
/// member applies the same committed requests in the same order and reaches the same state.
/// Owned by one apply loop (not thread-safe); readers on other threads use `view`.
/// Everything a snapshot holds, taken from a `KVStore` in O(1) (the key space is a
/// copy-on-write read view): encoded later, on another thread, while the store goes on.
public struct StoreImage: Sendable {
    public let view: ReadView
    public let leases: [Int64: LeaseRecord]
    public let alarms: Set<AlarmMember>
    public let accountedBytes: Int64
}

public final class KVStore {
    public let limits: MVCCLimits
    /// The current image; reading this property is the O(1) way to publish a read view.
    public private(set) var view = ReadView()
    public private(set) var leases: [Int64: LeaseRecord] = [:]
    public private(set) var alarms: Set<AlarmMember> = []
    /// The bytes charged against the quota: every retained version's key, value and overhead.
    public private(set) var accountedBytes: Int64 = 0
    /// The member a NOSPACE alarm raised now is raised for. The apply loop sets it to the
    /// member that proposed the request being applied, so every member raises the same alarm.
    public var alarmMemberID: UInt64 = 0

    public init(limits: MVCCLimits = MVCCLimits()) {
        self.limits = limits
    }

    /// The state as a snapshot image (O(1)).
    public var image: StoreImage { StoreImage(view: view, leases: leases, alarms: alarms, accountedBytes: accountedBytes) }

    public var revision: Int64 { view.revision }
    public var compactRevision: Int64 { view.compactRevision }
    public var noSpace: Bool { alarms.contains { $0.alarm == .noSpace } }

    // MARK: - Writes

    /// One write transaction in progress: writes share `main` and take increasing sub-revisions.
    struct WriteTxn {
        let begin: Int64
        var sub: Int64 = 0
        var main: Int64 { begin + 1 }
        /// The revision reads inside the transaction see.
        var current: Int64 { sub > 0 ? begin + 1 : begin }
        init(begin: Int64) { self.begin = begin }
        mutating func next() -> Revision {
            defer { sub += 1 }
            return Revision(main: main, sub: sub)
        }
    }

    private func finish(_ w: WriteTxn) {
        if w.sub > 0 { view.revision = w.main }
    }

    /// Reserves quota for a write costing `cost` bytes, raising NOSPACE when it does not fit.
    private func reserve(_ cost: Int64) throws(MVCCError) {
        if noSpace { throw .noSpace }
        if accountedBytes + cost > limits.quotaBytes {
            alarms.insert(AlarmMember(memberID: alarmMemberID, alarm: .noSpace))
            throw .noSpace
        }
    }

    static func putCost(_ r: PutRequest) -> Int64 {
        Int64(r.key.count + r.value.count) + MVCCLimits.versionOverheadBytes
    }

    public func put(_ r: PutRequest) throws(MVCCError) -> PutResponse {
        try Validation.check(r)
        try checkPut(r)
        try reserve(Self.putCost(r))
        var w = WriteTxn(begin: view.revision)
        let response = doPut(r, &w)
        finish(w)
        return response
    }

    private func checkPut(_ r: PutRequest) throws(MVCCError) {
        if r.ignoreValue || r.ignoreLease, view.tree.get(r.key)?.live(at: .max) == nil { throw .keyNotFound }
        if r.lease != 0 && leases[r.lease] == nil { throw .leaseNotFound }
    }

    private func doPut(_ r: PutRequest, _ w: inout WriteTxn) -> PutResponse {
        var live: KeyVersion?
        var lease: Int64 = 0
        // One descent of the tree finds the key's current version and puts the new one in its place.
        let made = r.key.withUnsafeBytes { k in
            view.tree.update(k) { head in
                live = head?.live(at: .max)
                lease = r.ignoreLease ? (live?.lease ?? 0) : r.lease
                let rev = w.next()
                let make = { (v: UnsafeRawBufferPointer) in
                    KeyVersion.make(
                        key: k, value: v, modRevision: rev, createRevision: live?.createRevision ?? rev.main,
                        version: (live?.version ?? 0) + 1, lease: lease, prev: head)
                }
                if r.ignoreValue, let live { return live.withValue(make) }
                return r.value.withUnsafeBytes(make)
            }
        }
        logged(made)
        if let old = live?.lease, old != 0, old != lease { leases[old]?.keys.remove(r.key) }
        if lease != 0 { leases[lease]?.keys.insert(r.key) }
        return PutResponse(revision: w.main, prevKV: r.prevKV ? live?.keyValue() : nil)
    }

    private func record(_ v: KeyVersion) {
        view.tree.set(v)
        logged(v)
    }

    /// A version now in the tree goes into the history and the accounted bytes.
    private func logged(_ v: KeyVersion) {
        view.events.append(v)
        accountedBytes += v.accountedBytes
    }

    public func deleteRange(_ r: DeleteRangeRequest) throws(MVCCError) -> DeleteRangeResponse {
        try Validation.check(r)
        var w = WriteTxn(begin: view.revision)
        let response = doDelete(key: r.key, end: r.rangeEnd, prevKV: r.prevKV, &w)
        finish(w)
        return response
    }

    private func doDelete(key: [UInt8], end: [UInt8], prevKV: Bool, _ w: inout WriteTxn) -> DeleteRangeResponse {
        var victims: [KeyVersion] = []
        view.scan(key: key, end: end, at: .max) {
            victims.append($0)
            return true
        }
        var prev: [KeyValue] = []
        for live in victims {
            let tombstone = live.withKey { k in
                KeyVersion.make(
                    key: k, value: UnsafeRawBufferPointer(start: nil, count: 0), modRevision: w.next(),
                    createRevision: 0, version: 0, lease: 0, prev: view.tree.get(k))
            }
            record(tombstone)
            if live.lease != 0 { leases[live.lease]?.keys.remove(live.key) }
            if prevKV { prev.append(live.keyValue()) }
        }
        return DeleteRangeResponse(revision: w.sub > 0 ? w.main : w.begin, deleted: Int64(victims.count), prevKVs: prev)
    }

    // MARK: - Txn

    public func txn(_ r: TxnRequest) throws(MVCCError) -> TxnResponse {
        try Validation.check(r, limits: limits)
        // Like etcd, every compare on the chosen path (nested ones too) is decided against the
        // state before the transaction writes anything, and the path is checked before any write.
        var path: [Bool] = []
        choosePath(r, &path)
        var cursor = 0
        try checkPath(r, path, &cursor)
        let cost = Self.txnCost(r)
        if cost > 0 { try reserve(cost) }
        var w = WriteTxn(begin: view.revision)
        cursor = 0
        let response = execute(r, path, &cursor, &w)
        finish(w)
        return response
    }

    /// etcd charges a transaction the larger of its two branches' puts.
    static func txnCost(_ r: TxnRequest) -> Int64 {
        func cost(_ ops: [RequestOp]) -> Int64 {
            ops.reduce(0) { sum, op in
                switch op {
                case .put(let p): sum + putCost(p)
                case .txn(let t): sum + txnCost(t)
                default: sum
                }
            }
        }
        return max(cost(r.success), cost(r.failure))
    }

    private func compare(_ c: Compare) -> Bool {
        var matched: [KeyVersion] = []
        view.scan(key: c.key, end: c.rangeEnd, at: .max) {
            matched.append($0)
            return true
        }
        if matched.isEmpty {
            if case .value = c.operand { return false }
            return Self.compare(c, nil)
        }
        return matched.allSatisfy { Self.compare(c, $0) }
    }

    private static func compare(_ c: Compare, _ v: KeyVersion?) -> Bool {
        let order: Int
        switch c.operand {
        case .version(let x): order = sign((v?.version ?? 0) - x)
        case .createRevision(let x): order = sign((v?.createRevision ?? 0) - x)
        case .modRevision(let x): order = sign((v?.modMain ?? 0) - x)
        case .lease(let x): order = sign((v?.lease ?? 0) - x)
        case .value(let x): order = v.map { v in v.withValue { a in x.withUnsafeBytes { compareBytes(a, $0) } } } ?? 0
        }
        switch c.result {
        case .equal: return order == 0
        case .notEqual: return order != 0
        case .greater: return order > 0
        case .less: return order < 0
        }
    }

    private static func sign(_ x: Int64) -> Int { x == 0 ? 0 : (x < 0 ? -1 : 1) }

    /// The branch taken by this transaction and by every nested one on that branch, in order.
    private func choosePath(_ r: TxnRequest, _ path: inout [Bool]) {
        let ok = r.compare.allSatisfy(compare)
        path.append(ok)
        for case .txn(let t) in ok ? r.success : r.failure { choosePath(t, &path) }
    }

    private func checkPath(_ r: TxnRequest, _ path: [Bool], _ cursor: inout Int) throws(MVCCError) {
        let ok = path[cursor]
        cursor += 1
        for op in ok ? r.success : r.failure {
            switch op {
            case .put(let p): try checkPut(p)
            case .range(let q): if q.revision > 0 { _ = try view.resolve(q.revision) }
            case .txn(let t): try checkPath(t, path, &cursor)
            case .deleteRange: break
            }
        }
    }

    private func execute(_ r: TxnRequest, _ path: [Bool], _ cursor: inout Int, _ w: inout WriteTxn) -> TxnResponse {
        let ok = path[cursor]
        cursor += 1
        var responses: [ResponseOp] = []
        for op in ok ? r.success : r.failure {
            switch op {
            case .range(let q):
                // Checked above, so this cannot fail; an empty answer keeps the shape if it did.
                let answer = (try? view.range(q, current: w.current)) ?? RangeResponse(revision: w.current, kvs: [], more: false, count: 0)
                responses.append(.range(answer))
            case .put(let p): responses.append(.put(doPut(p, &w)))
            case .deleteRange(let d): responses.append(.deleteRange(doDelete(key: d.key, end: d.rangeEnd, prevKV: d.prevKV, &w)))
            case .txn(let t): responses.append(.txn(execute(t, path, &cursor, &w)))
            }
        }
        return TxnResponse(revision: w.current, succeeded: ok, responses: responses)
    }

    // MARK: - Compaction

    /// Removes history below `rev`: afterwards reads at revisions below it fail with
    /// `compacted`, and reads at `rev` or later answer exactly as before.
    public func compact(_ rev: Int64) throws(MVCCError) -> CompactResponse {
        if rev <= view.compactRevision { throw .compacted }
        if rev > view.revision { throw .futureRevision }
        // Only keys written since the last compaction can hold history to drop.
        var candidates: [[UInt8]] = []
        view.events.forEach(from: max(view.compactRevision, 0)) { v in
            if v.modMain > rev { return false }
            candidates.append(v.key)
            return true
        }
        for key in candidates { compactKey(key, rev) }
        view.events.dropBefore(rev)
        view.compactRevision = rev
        return CompactResponse(revision: view.revision)
    }

    /// Keeps the versions after `rev`, the version at `rev`, and the newest version before it
    /// if that is not a tombstone; everything older goes.
    private func compactKey(_ key: [UInt8], _ rev: Int64) {
        guard let head = view.tree.get(key) else { return }
        var above: [KeyVersion] = []
        var node = head
        while node.modMain > rev {
            above.append(node)
            guard let p = node.prev else { return }
            node = p
        }
        let keepCut = node.modMain == rev || !node.isTombstone
        if keepCut && node.prev == nil { return }
        var dropped: KeyVersion? = keepCut ? node.prev : node
        while let d = dropped {
            accountedBytes -= d.accountedBytes
            dropped = d.prev
        }
        var newer: KeyVersion? = keepCut ? node.copy(prev: nil) : nil
        for v in above.reversed() { newer = v.copy(prev: newer) }
        if let newer { view.tree.set(newer) } else { view.tree.remove(key) }
    }

    // MARK: - Leases

    /// Grants lease `id` (the proposer picked it; never 0) for `ttl` seconds, raised to the
    /// minimum TTL.
    public func leaseGrant(id: Int64, ttl: Int64) throws(MVCCError) -> LeaseGrantResponse {
        if ttl > limits.maxLeaseTTL { throw .leaseTTLTooLarge }
        if id == 0 { throw .leaseNotFound }
        if leases[id] != nil { throw .leaseExists }
        if noSpace { throw .noSpace }
        let granted = max(ttl, limits.minLeaseTTL)
        leases[id] = LeaseRecord(id: id, ttl: granted, keys: [])
        return LeaseGrantResponse(revision: view.revision, id: id, ttl: granted)
    }

    /// Revokes a lease and deletes every key attached to it in one revision (none if it has no keys).
    public func leaseRevoke(id: Int64) throws(MVCCError) -> Int64 {
        guard let lease = leases.removeValue(forKey: id) else { throw .leaseNotFound }
        var w = WriteTxn(begin: view.revision)
        for key in lease.keys.sorted(by: bytesLess) {
            _ = doDelete(key: key, end: [], prevKV: false, &w)
        }
        finish(w)
        return view.revision
    }

    // MARK: - Alarms

    public func activate(_ alarm: AlarmMember) { alarms.insert(alarm) }

    /// Clears an alarm; returns whether it was set.
    @discardableResult
    public func deactivate(_ alarm: AlarmMember) -> Bool { alarms.remove(alarm) != nil }

    // MARK: - Restore

    /// Replaces the whole state (snapshot restore).
    func restore(view: ReadView, leases: [Int64: LeaseRecord], alarms: Set<AlarmMember>, accountedBytes: Int64) {
        self.view = view
        self.leases = leases
        self.alarms = alarms
        self.accountedBytes = accountedBytes
    }
}

/// etcd's `LeaseTimeToLiveResponse` (without the header).
public struct LeaseTimeToLiveResponse: Equatable, Sendable {
    public var id: Int64
    /// Seconds left, or -1 when the lease does not exist (etcd answers so, not with an error).
    public var ttl: Int64
    public var grantedTTL: Int64
    /// The attached keys in key order, when asked for.
    public var keys: [[UInt8]]

    public init(id: Int64, ttl: Int64, grantedTTL: Int64, keys: [[UInt8]]) {
        self.id = id
        self.ttl = ttl
        self.grantedTTL = grantedTTL
        self.keys = keys
    }
}

extension KVStore {
    /// TimeToLive: `remaining` comes from the leader's `LeaseClock`; without it (no deadline
    /// tracked) the granted TTL is reported.
    public func leaseTimeToLive(id: Int64, keys: Bool, remaining: Int64?) -> LeaseTimeToLiveResponse {
        guard let lease = leases[id] else { return LeaseTimeToLiveResponse(id: id, ttl: -1, grantedTTL: 0, keys: []) }
        return LeaseTimeToLiveResponse(
            id: id, ttl: remaining ?? lease.ttl, grantedTTL: lease.ttl,
            keys: keys ? lease.keys.sorted(by: bytesLess) : [])
    }

    /// LeaseLeases: every lease ID, ascending.
    public var leaseIDs: [Int64] { leases.keys.sorted() }
}

/// Lease IDs for grants that leave the choice to the server, in etcd's layout: the high 2 bytes
/// from the member ID (so members never collide), the next 5 from the time the generator
/// started (milliseconds, so a restarted member does not repeat itself), the low byte a counter
/// that carries upward; the sign bit cleared. The ID is picked before proposing, so every member
/// applies the same one.
public struct LeaseIDGenerator: Sendable {
    private var next: UInt64

    public init(memberID: UInt64, nowMilliseconds: Int64) {
        let prefix = (memberID & 0xFFFF) << 48
        let time = (UInt64(truncatingIfNeeded: nowMilliseconds) & 0xFF_FFFF_FFFF) << 8
        next = prefix | time
    }

    public mutating func generate() -> Int64 {
        next = (next & 0xFFFF_0000_0000_0000) | ((next &+ 1) & 0x0000_FFFF_FFFF_FFFF)
        let id = Int64(bitPattern: next & 0x7FFF_FFFF_FFFF_FFFF)
        return id == 0 ? generate() : id
    }
}
