public import Base
public import Raft
public import Storage

/// The whole state machine as bytes, for Raft snapshots (saved and sent through `Storage`'s
/// snapshot files, which add compression and checksums). Little-endian, versioned by its magic:
///
///     "CAPMVCC1" revision compactRevision accountedBytes
///     alarms:  u32 n, then n × (u64 memberID, u8 type)
///     leases:  u32 n, then n × (i64 id, i64 ttl)
///     keys:    u64 n, then n × (u32 versions, then each version oldest first:
///              i64 modMain, i64 modSub, i64 create, i64 version, i64 lease, u32 key, key, u32 value, value)
public enum MVCCSnapshot {
    static let magic: [UInt8] = Array("CAPMVCC1".utf8)

    public static func encode(_ store: KVStore) -> [UInt8] { encode(store.image) }

    /// Encodes an image taken with `KVStore.image` (O(1) on the apply thread); safe on any thread.
    public static func encode(_ store: StoreImage) -> [UInt8] {
        var out: [UInt8] = []
        encode(store, into: &out)
        return out
    }

    /// Appends the encoding to `out`, growing it once: a snapshot of a large store is one pass
    /// over its versions, without the copies of a buffer doubling as it fills.
    public static func encode(_ store: StoreImage, into out: inout [UInt8]) {
        // Each version: 40 bytes of fields and lengths besides its key and value, which the
        // accounted bytes cover (with some overhead of their own: the estimate is generous).
        out.reserveCapacity(out.count + 4096 + Int(store.accountedBytes) + 48 * store.view.tree.count)
        out += magic
        func put<T: FixedWidthInteger>(_ x: T) { withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) } }
        put(store.view.revision)
        put(store.view.compactRevision)
        put(store.accountedBytes)
        put(UInt32(store.alarms.count))
        for a in store.alarms.sorted() {
            put(a.memberID)
            put(UInt8(a.alarm.rawValue))
        }
        put(UInt32(store.leases.count))
        for id in store.leases.keys.sorted() {
            put(id)
            put(store.leases[id]!.ttl)
        }
        put(UInt64(store.view.tree.count))
        store.view.tree.forEach(from: []) { head in
            var chain: [KeyVersion] = []
            var node: KeyVersion? = head
            while let v = node {
                chain.append(v)
                node = v.prev
            }
            put(UInt32(chain.count))
            for v in chain.reversed() {
                put(v.modMain)
                put(v.modRevision.sub)
                put(v.createRevision)
                put(v.version)
                put(v.lease)
                put(UInt32(v.keyCount))
                v.withKey { out.append(contentsOf: $0) }
                put(UInt32(v.valueCount))
                v.withValue { out.append(contentsOf: $0) }
            }
            return true
        }
    }

    /// Rebuilds a store from `encode`'s bytes, checking every invariant a valid image holds.
    public static func decode(_ bytes: [UInt8], limits: MVCCLimits = MVCCLimits()) throws(DecodeError) -> KVStore {
        var r = ByteReader(bytes)
        guard bytes.starts(with: magic) else { throw DecodeError(offset: 0, what: "not a Capstan state-machine snapshot (bad magic)") }
        _ = try r.take(magic.count)
        var view = ReadView()
        view.revision = try r.int(Int64.self)
        view.compactRevision = try r.int(Int64.self)
        let accounted = try r.int(Int64.self)
        guard view.revision >= 1, view.compactRevision >= -1, view.compactRevision <= view.revision else {
            throw .invalid("revision \(view.revision), compaction revision \(view.compactRevision)", offset: r.offset)
        }
        let alarms = try readAlarms(&r)
        var leases = try readLeases(&r)
        let keyCount = try r.int(UInt64.self)
        var all: [KeyVersion] = []
        var previousKey: [UInt8]? = nil
        var sum: Int64 = 0
        for _ in 0..<keyCount {
            let n = try r.int(UInt32.self)
            guard n > 0 else { throw .invalid("key with no versions", offset: r.offset) }
            var head: KeyVersion? = nil
            var thisKey: [UInt8]? = nil
            for _ in 0..<n {
                let at = r.offset
                let modMain = try r.int(Int64.self)
                let modSub = try r.int(Int64.self)
                let create = try r.int(Int64.self)
                let version = try r.int(Int64.self)
                let lease = try r.int(Int64.self)
                let key = try r.take(Int(try r.int(UInt32.self)))
                let value = try r.take(Int(try r.int(UInt32.self)))
                guard modMain >= 1, modMain <= view.revision, modSub >= 0, modSub <= Int64(Int32.max), version >= 0,
                    head.map({ $0.modRevision < Revision(main: modMain, sub: modSub) }) ?? true
                else {
                    throw .invalid("version at revision \(modMain).\(modSub)", offset: at)
                }
                if let k = thisKey {
                    guard k.elementsEqual(key) else { throw .invalid("key changes within its history", offset: at) }
                } else {
                    let k = Array(key)
                    guard !k.isEmpty, previousKey.map({ bytesLess($0, k) }) ?? true else { throw .invalid("keys out of order", offset: at) }
                    thisKey = k
                }
                let v = key.withUnsafeBytes { k in
                    value.withUnsafeBytes { val in
                        KeyVersion.make(
                            key: k, value: val, modRevision: Revision(main: modMain, sub: modSub),
                            createRevision: create, version: version, lease: lease, prev: head)
                    }
                }
                head = v
                sum += v.accountedBytes
                if modMain >= view.compactRevision { all.append(v) }
            }
            let newest = head!
            if !newest.isTombstone && newest.lease != 0 {
                guard leases[newest.lease] != nil else { throw .invalid("key attached to unknown lease \(newest.lease)", offset: r.offset) }
                leases[newest.lease]!.keys.insert(thisKey!)
            }
            view.tree.set(newest)
            previousKey = thisKey
        }
        guard r.offset == bytes.count else { throw .invalid("trailing bytes", offset: r.offset) }
        guard sum == accounted else { throw .invalid("accounted size \(accounted), versions add up to \(sum)", offset: r.offset) }
        all.sort { $0.modRevision < $1.modRevision }
        for v in all { view.events.append(v) }
        let store = KVStore(limits: limits)
        store.restore(view: view, leases: leases, alarms: alarms, accountedBytes: accounted)
        return store
    }

    /// The alarms in force: member ID and alarm type each.
    private static func readAlarms(_ r: inout ByteReader) throws(DecodeError) -> Set<AlarmMember> {
        var alarms = Set<AlarmMember>()
        for _ in 0..<(try r.int(UInt32.self)) {
            let member = try r.int(UInt64.self)
            let at = r.offset
            guard let type = AlarmType(rawValue: Int(try r.int(UInt8.self))) else { throw .invalid("alarm type", offset: at) }
            alarms.insert(AlarmMember(memberID: member, alarm: type))
        }
        return alarms
    }

    /// The leases, ID and TTL each (their keys come from the key versions that follow).
    private static func readLeases(_ r: inout ByteReader) throws(DecodeError) -> [Int64: LeaseRecord] {
        var leases: [Int64: LeaseRecord] = [:]
        for _ in 0..<(try r.int(UInt32.self)) {
            let id = try r.int(Int64.self)
            let ttl = try r.int(Int64.self)
            guard id != 0, leases[id] == nil else { throw .invalid("lease \(id)", offset: r.offset) }
            leases[id] = LeaseRecord(id: id, ttl: ttl, keys: [])
        }
        return leases
    }

    /// Saves the state as a Raft snapshot at `metadata` through `Storage`'s snapshot files.
    @discardableResult
    public static func save(_ store: KVStore, metadata: SnapshotMetadata, to snapshots: SnapshotStore) throws(SnapshotError) -> String {
        try snapshots.save(Snapshot(metadata: metadata, data: encode(store)))
    }
}
