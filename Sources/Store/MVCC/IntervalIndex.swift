/// Finds every interval [start, end) that contains a key, in O(log n + matches): the intervals
/// sorted by start, searched as an implicit balanced tree whose nodes carry the largest end in
/// their subtree. A nil end is unbounded (a from-key watch). Changes mark the index dirty and
/// it is rebuilt, O(n log n), at the next query; watch groups change far less often than events
/// arrive, and a burst of creations costs one rebuild.
struct IntervalIndex<Value: AnyObject> {
    struct Entry {
        var start: [UInt8]
        var end: [UInt8]?
        var value: Value
    }
    private var members: [ObjectIdentifier: Entry] = [:]
    private var sorted: [Entry] = []
    /// `maxEnd[i]`: the largest end in the subtree rooted at `i` (nil: unbounded).
    private var maxEnd: [[UInt8]?] = []
    private var dirty = false

    var count: Int { members.count }

    mutating func insert(start: [UInt8], end: [UInt8]?, _ value: Value) {
        members[ObjectIdentifier(value)] = Entry(start: start, end: end, value: value)
        dirty = true
    }

    mutating func remove(_ value: Value) {
        if members.removeValue(forKey: ObjectIdentifier(value)) != nil { dirty = true }
    }

    /// a < b where nil is +infinity.
    @inline(__always) private static func endLess(_ a: [UInt8]?, _ b: [UInt8]?) -> Bool {
        guard let a else { return false }
        guard let b else { return true }
        return bytesLess(a, b)
    }

    private mutating func rebuild() {
        sorted = members.values.sorted { bytesLess($0.start, $1.start) }
        maxEnd = Array(repeating: nil, count: sorted.count)
        _ = build(0, sorted.count)
        dirty = false
    }

    private mutating func build(_ lo: Int, _ hi: Int) -> (any: Bool, end: [UInt8]?) {
        guard lo < hi else { return (false, nil) }
        let mid = (lo + hi) >> 1
        var best = sorted[mid].end
        for child in [build(lo, mid), build(mid + 1, hi)] where child.any {
            if Self.endLess(best, child.end) { best = child.end }
        }
        maxEnd[mid] = best
        return (true, best)
    }

    /// Calls `body` with every value whose interval contains `key`.
    mutating func forEachContaining(_ key: UnsafeRawBufferPointer, _ body: (Value) -> Void) {
        if dirty { rebuild() }
        visit(0, sorted.count, key, body)
    }

    private func visit(_ lo: Int, _ hi: Int, _ key: UnsafeRawBufferPointer, _ body: (Value) -> Void) {
        guard lo < hi else { return }
        let mid = (lo + hi) >> 1
        // Every interval below ends at or before the key: nothing here contains it.
        if let e = maxEnd[mid], e.withUnsafeBytes({ compareBytes($0, key) }) <= 0 { return }
        visit(lo, mid, key, body)
        let entry = sorted[mid]
        guard entry.start.withUnsafeBytes({ compareBytes($0, key) }) <= 0 else { return }
        if entry.end.map({ $0.withUnsafeBytes { compareBytes(key, $0) } < 0 }) ?? true { body(entry.value) }
        visit(mid + 1, hi, key, body)
    }
}
