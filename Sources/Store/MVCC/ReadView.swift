import Base
import Storage

/// An immutable image of the key space at one revision. Taking one is O(1); it may be read
/// from any thread while the apply loop goes on writing, and never blocks it.
public struct ReadView: Sendable {
    var tree = KeyTree()
    var events = EventLog()
    /// The store's current revision (etcd starts at 1; the first write makes 2).
    public internal(set) var revision: Int64 = 1
    /// The last compaction revision; -1 before the first compaction, as in etcd.
    public internal(set) var compactRevision: Int64 = -1

    /// Number of keys with any retained history (live or deleted).
    public var indexedKeys: Int { tree.count }

    /// Checks a requested revision: <= 0 means current.
    func resolve(_ requested: Int64) throws(MVCCError) -> Int64 {
        if requested <= 0 { return revision }
        if requested > revision { throw .futureRevision }
        if requested < compactRevision { throw .compacted }
        return requested
    }

    /// Visits the versions live at `rev` for keys in the range, in key order, until `body`
    /// returns false. `end` follows etcd: empty is the single key, `[0]` is every key >= key.
    func scan(key: [UInt8], end: [UInt8], at rev: Int64, _ body: (KeyVersion) -> Bool) {
        if end.isEmpty {
            if let v = tree.get(key)?.live(at: rev) { _ = body(v) }
            return
        }
        let fromKey = end == [0]
        if !fromKey && compareBytes(end, key) <= 0 { return }
        end.withUnsafeBytes { endBytes in
            tree.forEach(from: key) { head in
                if !fromKey && head.withKey({ compareBytes($0, endBytes) }) >= 0 { return false }
                if let v = head.live(at: rev) { return body(v) }
                return true
            }
        }
    }

    /// etcd's Range. The header revision is the current revision whatever revision was read.
    public func range(_ r: RangeRequest) throws(MVCCError) -> RangeResponse {
        try Validation.check(r)
        return try range(r, current: revision)
    }

    /// Range as seen from inside a write transaction whose view revision is `current`.
    func range(_ r: RangeRequest, current: Int64) throws(MVCCError) -> RangeResponse {
        let rev = r.revision <= 0 ? current : try resolve(r.revision)
        let filtered = r.minModRevision != 0 || r.maxModRevision != 0 || r.minCreateRevision != 0 || r.maxCreateRevision != 0
        var fetch = r.limit
        if r.sortOrder != .none || filtered { fetch = 0 }
        if fetch > 0 { fetch += 1 }
        var count: Int64 = 0
        var found: [KeyVersion] = []
        scan(key: r.key, end: r.rangeEnd, at: rev) { v in
            count += 1
            if !r.countOnly && (fetch <= 0 || Int64(found.count) < fetch) { found.append(v) }
            return true
        }
        if filtered {
            found.removeAll { v in
                (r.maxModRevision != 0 && v.modMain > r.maxModRevision)
                    || (r.minModRevision != 0 && v.modMain < r.minModRevision)
                    || (r.maxCreateRevision != 0 && v.createRevision > r.maxCreateRevision)
                    || (r.minCreateRevision != 0 && v.createRevision < r.minCreateRevision)
            }
        }
        var order = r.sortOrder
        if r.sortTarget != .key && order == .none { order = .ascend }
        var kvs = found.map { $0.keyValue(includeValue: !r.keysOnly || r.sortTarget == .value) }
        if order != .none && !(order == .ascend && r.sortTarget == .key) {
            let less: (KeyValue, KeyValue) -> Bool
            switch r.sortTarget {
            case .key: less = { bytesLess($0.key, $1.key) }
            case .version: less = { $0.version < $1.version }
            case .create: less = { $0.createRevision < $1.createRevision }
            case .mod: less = { $0.modRevision < $1.modRevision }
            case .value: less = { bytesLess($0.value, $1.value) }
            }
            // Stable, so equal targets stay in key order.
            kvs = kvs.enumerated().sorted { a, b in
                if order == .ascend {
                    if less(a.element, b.element) { return true }
                    if less(b.element, a.element) { return false }
                } else {
                    if less(b.element, a.element) { return true }
                    if less(a.element, b.element) { return false }
                }
                return a.offset < b.offset
            }.map(\.element)
        }
        var more = false
        if r.limit > 0 && kvs.count > Int(r.limit) {
            kvs.removeSubrange(Int(r.limit)...)
            more = true
        }
        if r.keysOnly { for i in kvs.indices { kvs[i].value = [] } }
        return RangeResponse(revision: current, kvs: kvs, more: more, count: count)
    }

    /// A CRC-32C over every version retained at or below `rev` (0: current), in key order.
    /// Members that applied the same log agree; a difference means divergence.
    public func hashKV(revision requested: Int64) throws(MVCCError) -> HashKVResponse {
        let rev = try resolve(requested)
        var crc: UInt32 = 0
        var scratch: [UInt8] = []
        scratch.reserveCapacity(64)
        tree.forEach(from: []) { head in
            var node: KeyVersion? = head
            while let v = node {
                if v.modMain <= rev {
                    scratch.removeAll(keepingCapacity: true)
                    for x in [
                        v.modMain, Int64(v.modRevision.sub), v.createRevision, v.version, v.lease,
                        Int64(v.keyCount), Int64(v.valueCount)
                    ] {
                        withUnsafeBytes(of: x.littleEndian) { scratch.append(contentsOf: $0) }
                    }
                    crc = scratch.withUnsafeBytes { CRC32C.checksum($0, continuing: crc) }
                    crc = v.withKey { CRC32C.checksum($0, continuing: crc) }
                    crc = v.withValue { CRC32C.checksum($0, continuing: crc) }
                }
                node = v.prev
            }
            return true
        }
        return HashKVResponse(revision: revision, hash: crc, compactRevision: compactRevision, hashRevision: rev)
    }
}

/// Hands the newest read view from the apply loop to readers on other threads. Publishing and
/// taking are O(1) under a lock held for a pointer copy.
///
/// The apply loop withdraws the view before it changes the store and publishes the new one
/// after: while a published view holds the key tree's nodes, every write copies the leaf (and
/// inner nodes) it changes — 64 references retained per copy, about half of the apply time of a
/// put — even when no reader ever took that view. Withdrawn, nodes no reader holds are changed
/// in place; a reader that comes meanwhile waits for the next publication (one applied batch,
/// bounded by the apply loop's `withdrawnEntriesLimit`), as etcd's reads wait for its backend's
/// batch commit. The apply loop itself never reads `current`.
public final class ViewPublisher: @unchecked Sendable {
    private let lock = Lock()
    private var latest: ReadView?

    public init(_ view: ReadView) { latest = view }

    /// Applied entries a reader may wait for: the apply loop publishes at least this often.
    public static let withdrawnEntriesLimit = 1_024

    /// Makes `view` the current one and wakes the readers waiting for it.
    public func publish(_ view: ReadView) {
        let old = lock.withLock {
            let old = latest
            latest = view
            if old == nil { lock.broadcast() }
            return old
        }
        // The view replaced is released outside the lock (freeing its nodes takes a while).
        withExtendedLifetime(old) {}
    }

    /// Drops the publisher's reference to the current view until the next `publish`.
    public func withdraw() {
        let old = lock.withLock { latest.take() }
        withExtendedLifetime(old) {}
    }

    /// The newest published view; waits while the apply loop has it withdrawn.
    public var current: ReadView {
        lock.withLock {
            while latest == nil { lock.wait() }
            return latest!
        }
    }
}
