/// When leases expire. This is not replicated state: only the leader keeps it, from its own
/// clock (injected, in nanoseconds), and it revokes an expired lease by proposing the revoke
/// through the log, so every member deletes the same keys at the same revision.
///
/// Keep-alives go to the leader and are not logged, so followers never see them. A new leader
/// therefore gives every lease a full TTL from the moment it takes over (`promote`), as etcd
/// does: a shorter remaining TTL could revoke a lease whose owner is alive and renewing.
public struct LeaseClock: Sendable {
    private var deadlines: [Int64: Int64] = [:]
    /// (deadline, id); entries whose deadline no longer matches are stale and skipped.
    private var heap: [(deadline: Int64, id: Int64)] = []

    public init() {}

    public var count: Int { deadlines.count }

    /// Becoming leader: every lease expires a full TTL from `now`.
    public mutating func promote(_ leases: some Sequence<LeaseRecord>, now: Int64) {
        deadlines.removeAll(keepingCapacity: true)
        heap.removeAll(keepingCapacity: true)
        for l in leases { track(l.id, ttl: l.ttl, now: now) }
    }

    /// Losing leadership: the next leader decides expiry.
    public mutating func demote() {
        deadlines.removeAll()
        heap.removeAll()
    }

    /// A granted lease, or a renewed one (keep-alive): it expires `ttl` seconds from `now`.
    public mutating func track(_ id: Int64, ttl: Int64, now: Int64) {
        let (product, overflow) = ttl.multipliedReportingOverflow(by: 1_000_000_000)
        let (deadline, overflow2) = now.addingReportingOverflow(overflow ? .max : product)
        let d = overflow || overflow2 ? Int64.max : deadline
        deadlines[id] = d
        push((d, id))
        if heap.count > 2 * deadlines.count + 64 { rebuild() }
    }

    public mutating func forget(_ id: Int64) { deadlines[id] = nil }

    /// Whole seconds left before the lease expires (etcd truncates), or nil if it is not tracked.
    public func remaining(_ id: Int64, now: Int64) -> Int64? {
        guard let d = deadlines[id] else { return nil }
        return max(0, (d - now) / 1_000_000_000)
    }

    /// Up to `limit` leases whose deadline has passed, earliest first. They stay tracked until
    /// their revoke is applied (`forget`), so asking again before that returns them again.
    public mutating func expired(now: Int64, limit: Int) -> [Int64] {
        var found: [Int64] = []
        var putBack: [(deadline: Int64, id: Int64)] = []
        while found.count < limit, let top = heap.first, top.deadline <= now {
            pop()
            guard deadlines[top.id] == top.deadline else { continue }
            found.append(top.id)
            putBack.append(top)
        }
        for e in putBack { push(e) }
        return found
    }

    private mutating func rebuild() {
        heap = deadlines.map { (deadline: $0.value, id: $0.key) }
        for i in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(i) }
    }

    private static func less(_ a: (deadline: Int64, id: Int64), _ b: (deadline: Int64, id: Int64)) -> Bool {
        a.deadline != b.deadline ? a.deadline < b.deadline : a.id < b.id
    }

    private mutating func push(_ e: (deadline: Int64, id: Int64)) {
        heap.append(e)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.less(heap[i], heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    private mutating func pop() {
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        if !heap.isEmpty { siftDown(0) }
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1
            let r = l + 1
            var m = i
            if l < heap.count && Self.less(heap[l], heap[m]) { m = l }
            if r < heap.count && Self.less(heap[r], heap[m]) { m = r }
            if m == i { return }
            heap.swapAt(i, m)
            i = m
        }
    }
}
