/// The checks etcd makes before a request is proposed. The API layer calls them to answer bad
/// input at once; the state machine calls them again, so an entry in the log can never crash or
/// half-apply.
public enum Validation {
    public static func check(_ r: RangeRequest) throws(MVCCError) {
        if r.key.isEmpty { throw .emptyKey }
    }

    public static func check(_ r: PutRequest) throws(MVCCError) {
        if r.key.isEmpty { throw .emptyKey }
        if r.ignoreValue && !r.value.isEmpty { throw .valueProvided }
        if r.ignoreLease && r.lease != 0 { throw .leaseProvided }
    }

    public static func check(_ r: DeleteRangeRequest) throws(MVCCError) {
        if r.key.isEmpty { throw .emptyKey }
    }

    public static func check(_ r: TxnRequest, limits: MVCCLimits) throws(MVCCError) {
        try check(r, limits: limits, depth: 1)
    }

    static func check(_ r: TxnRequest, limits: MVCCLimits, depth: Int) throws(MVCCError) {
        // Nesting is bounded too (etcd has no bound; a deep enough request would exhaust the
        // stack here, and swift-protobuf refuses to decode messages nested over 100 deep anyway).
        if depth > limits.maxTxnDepth { throw .tooManyOps }
        if max(r.compare.count, r.success.count, r.failure.count) > limits.maxTxnOps { throw .tooManyOps }
        for c in r.compare where c.key.isEmpty { throw .emptyKey }
        for op in r.success { try check(op, limits: limits, depth: depth) }
        for op in r.failure { try check(op, limits: limits, depth: depth) }
        if depth == 1 {
            _ = try writes(r.success)
            _ = try writes(r.failure)
        }
    }

    static func check(_ op: RequestOp, limits: MVCCLimits, depth: Int) throws(MVCCError) {
        switch op {
        case .range(let r): try check(r)
        case .put(let r): try check(r)
        case .deleteRange(let r): try check(r)
        case .txn(let r): try check(r, limits: limits, depth: depth + 1)
        }
    }

    /// A range of keys a delete covers: `end` nil is one key; `[0]` is every key >= start.
    struct DeletedRange {
        var start: [UInt8]
        var end: [UInt8]?
        func contains(_ key: [UInt8]) -> Bool {
            guard let end else { return key == start }
            if compareBytes(key, start) < 0 { return false }
            return end == [0] || compareBytes(key, end) < 0
        }
    }

    /// The keys one branch puts and the ranges it deletes, nested transactions included; throws
    /// `duplicateKey` when a key would be written twice. Both branches of a nested transaction
    /// may put the same key, since only one of them runs.
    static func writes(_ ops: [RequestOp]) throws(MVCCError) -> (puts: Set<[UInt8]>, deletes: [DeletedRange]) {
        var deletes: [DeletedRange] = []
        for case .deleteRange(let d) in ops {
            deletes.append(DeletedRange(start: d.key, end: d.rangeEnd.isEmpty ? nil : d.rangeEnd))
        }
        var puts = Set<[UInt8]>()
        for case .txn(let t) in ops {
            let then = try writes(t.success)
            let otherwise = try writes(t.failure)
            for k in then.puts {
                if puts.contains(k) || deletes.contains(where: { $0.contains(k) }) { throw .duplicateKey }
                puts.insert(k)
            }
            for k in otherwise.puts {
                if puts.contains(k) && !then.puts.contains(k) { throw .duplicateKey }
                if deletes.contains(where: { $0.contains(k) }) { throw .duplicateKey }
                puts.insert(k)
            }
            deletes += then.deletes
            deletes += otherwise.deletes
        }
        for case .put(let p) in ops {
            if puts.contains(p.key) || deletes.contains(where: { $0.contains(p.key) }) { throw .duplicateKey }
            puts.insert(p.key)
        }
        return (puts, deletes)
    }
}
