/// Checks a history whose operations carry etcd's revisions, against the log of what happened
/// at each revision (from watchers of every key): etcd gives every write a revision and every
/// response the revision it was served at, so they witness where each operation took effect,
/// and multi-key operations (ranges, txns) can be checked without a search:
///
/// - a range served at revision R returned exactly the keys, values and mod revisions the log
///   gives at R (serializable ranges included: they may be old, never wrong);
/// - a conditional txn (Kubernetes' create, update and delete: compare mod_revision, then put or
///   delete, else get) that succeeded at R is in the log at R, and the key's mod revision just
///   before R was the one compared; one that failed saw a mod revision at R other than the one
///   compared, and its else-get returned the key as the log has it at R;
/// - real time: an operation that began after another ended was served at a revision no lower
///   (a write that took effect: higher) — serializable ranges excepted.
public enum RevisionChecker {
    public struct KV: Equatable, Sendable {
        public var key: String
        public var value: String
        public var modRevision: Int64
        public var lease: Int64

        public init(key: String, value: String, modRevision: Int64, lease: Int64 = 0) {
            self.key = key
            self.value = value
            self.modRevision = modRevision
            self.lease = lease
        }
    }

    public enum Kind: Sendable {
        /// A range over the keys with `prefix`, and what it returned.
        case list(prefix: String, serializable: Bool, kvs: [KV])
        /// If `key`'s mod revision is `expected` (0: absent), put `put` (nil: delete it), else get it.
        case conditional(key: String, expected: Int64, put: String?, succeeded: Bool, current: KV?)
        /// A get of one key, and what it returned (nil: absent).
        case get(key: String, serializable: Bool, kv: KV?)
        /// A put (attached to `lease` unless 0).
        case put(key: String, value: String, lease: Int64)
        /// A delete of one key, and how many keys it deleted.
        case delete(key: String, deleted: Int64)
        /// A txn of puts to several keys at once (one revision: all or nothing).
        case multiPut(keys: [String], values: [String])
        /// A lease revoked: the keys attached to it go at its revision.
        case leaseRevoke(lease: Int64)
        /// A get of `key` as it was at revision `at`, and the highest compaction acknowledged
        /// before the get began (0: none): revisions below it must be refused.
        case getAt(key: String, at: Int64, kv: KV?, compactedBefore: Int64)
    }

    public struct Operation: Sendable {
        public var client: Int
        public var call: UInt64
        public var ret: UInt64
        /// The response header's revision.
        public var revision: Int64
        public var kind: Kind

        public init(client: Int, call: UInt64, ret: UInt64, revision: Int64, kind: Kind) {
            self.client = client
            self.call = call
            self.ret = ret
            self.revision = revision
            self.kind = kind
        }

        var isStale: Bool {
            switch kind {
            case .list(_, true, _), .get(_, true, _): true
            default: false
            }
        }

        /// Whether it made a new revision for certain (a revoke made one only if keys were attached).
        var wrote: Bool {
            switch kind {
            case .conditional(_, _, _, true, _), .put, .multiPut: true
            case .delete(_, let n): n > 0
            default: false
            }
        }

        var needsStateBefore: Bool {
            if wrote { return true }
            if case .leaseRevoke = kind { return true }
            return false
        }
    }

    public struct Violation: Sendable, Codable, CustomStringConvertible {
        public var client: Int
        public var revision: Int64
        public var detail: String
        public var description: String { "client \(client), revision \(revision): \(detail)" }
    }

    /// What happened at each revision: the events of every key, from watchers that saw everything.
    public static func log(from watchers: [WatchChecker.Watcher]) -> [Int64: [WatchChecker.Event]] {
        var out: [Int64: [String: WatchChecker.Event]] = [:]
        for w in watchers {
            for r in w.responses {
                for e in r.events { out[e.revision, default: [:]][e.key] = e }
            }
        }
        return out.mapValues { Array($0.values) }
    }

    /// Every violation (at most `limit`); operations whose outcome is unknown are left out by the caller.
    public static func check(_ operations: [Operation], log: [Int64: [WatchChecker.Event]], limit: Int = 100) -> [Violation] {
        var found: [Violation] = []
        func report(_ op: Operation, _ detail: String) {
            if found.count < limit { found.append(Violation(client: op.client, revision: op.revision, detail: detail)) }
        }
        let states = statesServed(operations, log: log)
        let known = log.keys.max() ?? 0

        for op in operations {
            guard op.revision <= known else {
                report(op, "served at a revision beyond anything the watchers saw (\(known))")
                continue
            }
            checkOutcome(op, states: states, log: log) { report(op, $0) }
        }
        checkRealTime(operations, report: report)
        return found
    }

    /// The state at each revision the operations were served at (and just before the writes).
    private static func statesServed(_ operations: [Operation], log: [Int64: [WatchChecker.Event]]) -> [Int64: [String: KV]] {
        var wanted = Set(operations.map(\.revision))
        for op in operations where op.needsStateBefore { wanted.insert(op.revision - 1) }
        for op in operations { if case .getAt(_, let at, _, _) = op.kind { wanted.insert(at) } }
        var states: [Int64: [String: KV]] = [:]
        var state: [String: KV] = [:]
        var revision: Int64 = 0
        let top = max(log.keys.max() ?? 0, wanted.max() ?? 0)
        for r in wanted.sorted() where r >= 0 {
            while revision < r && revision < top {
                revision += 1
                for e in log[revision] ?? [] {
                    if let v = e.value {
                        state[e.key] = KV(key: e.key, value: v, modRevision: revision, lease: e.lease)
                    } else {
                        state[e.key] = nil
                    }
                }
            }
            states[r] = state
        }
        return states
    }

    /// Reports where what `op` returned or did differs from the log's state at its revision.
    private static func checkOutcome(
        _ op: Operation, states: [Int64: [String: KV]], log: [Int64: [WatchChecker.Event]], report: (String) -> Void
    ) {
        let at = states[op.revision] ?? [:]
        switch op.kind {
        case .list(let prefix, _, let kvs):
            let expected = at.values.filter { $0.key.hasPrefix(prefix) }.sorted { $0.key < $1.key }
            if kvs != expected {
                report("range \"\(prefix)\" returned \(show(kvs)); at this revision the keys were \(show(expected))")
            }
        case .getAt(let key, let at, let kv, let compacted):
            if at < compacted {
                // A compaction at C keeps revision C readable (etcd refuses only below it).
                report("get \(key) at revision \(at) answered, but a compaction at \(compacted) had been acknowledged before")
            } else if at > op.revision {
                report("get \(key) at revision \(at) answered at revision \(op.revision), before it")
            } else if kv != states[at]?[key] {
                report(
                    "get \(key) at revision \(at) returned \(kv.map(show) ?? "absent"); the log has \(states[at]?[key].map(show) ?? "absent")"
                )
            }
        case .get(let key, _, let kv):
            if kv != at[key] {
                report("get \(key) returned \(kv.map(show) ?? "absent"); at this revision it was \(at[key].map(show) ?? "absent")")
            }
        case .put(let key, let value, let lease):
            if at[key] != KV(key: key, value: value, modRevision: op.revision, lease: lease) {
                report("put \(key)=\(value) is not what the log has at its revision (\(at[key].map(show) ?? "absent"))")
            }
        case .delete(let key, let deleted):
            if at[key] != nil { report("delete \(key) answered, but the key is there at its revision") }
            if deleted > 0 && (states[op.revision - 1]?[key] == nil || !(log[op.revision] ?? []).contains { $0.key == key }) {
                report("delete \(key) said it deleted \(deleted), but the log has no such deletion at its revision")
            }
        case .multiPut(let keys, let values):
            for (k, v) in zip(keys, values) where at[k]?.value != v || at[k]?.modRevision != op.revision {
                report("a txn put \(k)=\(v) at its revision, but the log has \(at[k].map(show) ?? "absent") there")
            }
            if (log[op.revision] ?? []).count != keys.count {
                report("a txn of \(keys.count) puts, but the log has \((log[op.revision] ?? []).count) events at its revision")
            }
        case .leaseRevoke(let lease):
            let attached = (states[op.revision - 1] ?? [:]).values.filter { $0.lease == lease }.map(\.key)
            for k in attached where at[k]?.lease == lease {
                report("lease \(lease) revoked, but its key \(k) is still there at the revoke's revision")
            }
        case .conditional(let key, let expected, let put, let succeeded, let current):
            checkConditional(
                op, key: key, expected: expected, put: put, succeeded: succeeded, current: current, states: states, log: log,
                report: report)
        }
    }

    /// Reports where a conditional txn's outcome (the compare, then the write or the else-get)
    /// differs from the log around its revision.
    private static func checkConditional(
        _ op: Operation, key: String, expected: Int64, put: String?, succeeded: Bool, current: KV?, states: [Int64: [String: KV]],
        log: [Int64: [WatchChecker.Event]], report: (String) -> Void
    ) {
        let at = states[op.revision] ?? [:]
        if succeeded {
            let before = states[op.revision - 1]?[key]?.modRevision ?? 0
            if before != expected {
                report("succeeded comparing \(key)'s mod revision with \(expected), but it was \(before) just before")
            }
            let after = at[key]
            let wrote = put.map { after?.value == $0 && after?.modRevision == op.revision } ?? (after == nil)
            if !wrote || !(log[op.revision] ?? []).contains(where: { $0.key == key }) {
                report(
                    "\(put.map { "put \(key)=\($0)" } ?? "delete \(key)") is not what the log has at its revision (\(after.map(show) ?? "absent"))"
                )
            }
        } else {
            let now = at[key]
            if (now?.modRevision ?? 0) == expected {
                report("failed comparing \(key)'s mod revision with \(expected), which it was")
            }
            if current != now {
                report(
                    "the else-get of \(key) returned \(current.map(show) ?? "absent"); at this revision it was \(now.map(show) ?? "absent")"
                )
            }
        }
    }

    /// Real time: sweep by call time, keeping the highest revision among operations that ended before.
    private static func checkRealTime(_ operations: [Operation], report: (Operation, String) -> Void) {
        let byRet = operations.filter { !$0.isStale }.sorted { $0.ret < $1.ret }
        var i = 0
        var floor: (revision: Int64, op: Operation?) = (0, nil)
        for op in operations.filter({ !$0.isStale }).sorted(by: { $0.call < $1.call }) {
            while i < byRet.count && byRet[i].ret < op.call {
                if byRet[i].revision > floor.revision { floor = (byRet[i].revision, byRet[i]) }
                i += 1
            }
            // A write makes a new revision: it must be above everything already seen.
            if op.wrote ? op.revision <= floor.revision : op.revision < floor.revision {
                report(
                    op,
                    "served at revision \(op.revision), but an operation that ended before it began (client \(floor.op?.client ?? -1)) was at \(floor.revision)"
                )
            }
        }
    }

    /// A lease left to expire: its ID, its TTL and when its grant was called (nanoseconds, the
    /// operations' clock).
    public struct ExpiringLease: Sendable {
        public var id: Int64
        public var ttl: UInt64
        public var grantCall: UInt64

        public init(id: Int64, ttl: UInt64, grantCall: UInt64) {
            self.id = id
            self.ttl = ttl
            self.grantCall = grantCall
        }
    }

    /// Lease expiry, for keys put with a lease left to expire and written by nobody else: the key
    /// goes (the log deletes it after its put) — not before the TTL has passed since the grant
    /// was called (no operation served at or above the deletion's revision returned earlier),
    /// and, if its put returned more than `late` before `end`, not never.
    public static func checkExpiry(
        _ operations: [Operation], log: [Int64: [WatchChecker.Event]], leases: [ExpiringLease],
        end: UInt64, late: UInt64, limit: Int = 100
    ) -> [Violation] {
        var found: [Violation] = []
        let byID = Dictionary(leases.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        // Each key's deletions, in revision order.
        var deletions: [String: [Int64]] = [:]
        for (revision, events) in log {
            for e in events where e.value == nil { deletions[e.key, default: []].append(revision) }
        }
        for k in deletions.keys { deletions[k]!.sort() }
        // The earliest return among operations served at or above each revision (by revision).
        let byRevision = operations.sorted { $0.revision < $1.revision }
        var earliestFrom = [UInt64](repeating: .max, count: byRevision.count + 1)
        for i in stride(from: byRevision.count - 1, through: 0, by: -1) { earliestFrom[i] = min(earliestFrom[i + 1], byRevision[i].ret) }
        func earliestReturn(atOrAbove revision: Int64) -> UInt64 {
            var lo = 0
            var hi = byRevision.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if byRevision[mid].revision < revision { lo = mid + 1 } else { hi = mid }
            }
            return earliestFrom[lo]
        }
        for op in operations {
            guard found.count < limit, case .put(let key, _, let lease) = op.kind, let l = byID[lease] else { continue }
            if let gone = deletions[key]?.first(where: { $0 > op.revision }) {
                let seen = earliestReturn(atOrAbove: gone)
                if seen < l.grantCall + l.ttl {
                    found.append(
                        Violation(
                            client: op.client, revision: gone,
                            detail: "\(key) (lease \(lease), TTL \(l.ttl / 1_000_000_000) s) was deleted at revision \(gone), "
                                + "which an answer showed \((l.grantCall + l.ttl - seen) / 1_000_000) ms before the TTL had passed since the grant"
                        ))
                }
            } else if op.ret + late < end {
                found.append(
                    Violation(
                        client: op.client, revision: op.revision,
                        detail: "\(key) (lease \(lease), TTL \(l.ttl / 1_000_000_000) s) is still there "
                            + "\((end - op.ret) / 1_000_000) ms after its put: the lease never expired"))
            }
        }
        return found
    }

    static func show(_ kv: KV) -> String {
        "\(kv.key)=\(kv.value.prefix(40))@\(kv.modRevision)" + (kv.lease != 0 ? " lease \(kv.lease)" : "")
    }
    static func show(_ kvs: [KV]) -> String { "[" + kvs.map(show).joined(separator: ", ") + "]" }
}
