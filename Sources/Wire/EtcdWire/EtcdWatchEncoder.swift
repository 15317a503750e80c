public import MVCC

/// etcd's watch responses on the wire: the encoder the watch hub writes its responses with
/// (`WatchResponseEncoder`). Field numbers are etcd's (`etcdserverpb.WatchResponse`,
/// `mvccpb.Event`, `mvccpb.KeyValue`); proto3 leaves out fields holding their default value.
/// Written directly (no intermediate message objects), so an event batch becomes bytes once and
/// those bytes are shared by every watcher that receives it.
public struct EtcdWatchEncoder: WatchResponseEncoder {
    public init() {}

    public func control(
        header: ResponseHeaderInfo, revision: Int64, created: Bool, canceled: Bool, compactRevision: Int64, reason: String
    ) -> [UInt8] {
        var body: [UInt8] = []
        Self.header(header, revision: revision, into: &body)
        ProtoWire.bool(3, created, into: &body)
        ProtoWire.bool(4, canceled, into: &body)
        ProtoWire.int(5, compactRevision, into: &body)
        reason.utf8CString.withUnsafeBytes { ProtoWire.bytes(6, UnsafeRawBufferPointer(rebasing: $0.dropLast()), into: &body) }
        return body
    }

    public func eventsHead(header: ResponseHeaderInfo, revision: Int64, into out: inout [UInt8]) {
        Self.header(header, revision: revision, into: &out)
    }

    public func event(_ v: KeyVersion, prevKV: Bool, compactRevision: Int64, into out: inout [UInt8]) {
        Self.event(v, prevKV: prevKV, compactRevision: compactRevision, into: &out)
    }

    /// `fragment = 7`.
    public func markFragment(into out: inout [UInt8]) { ProtoWire.bool(7, true, into: &out) }

    /// `watch_id = 2` (none for 0, as proto3 leaves it out).
    public func watchIDSize(_ id: Int64) -> Int { WatchFrame.idFieldSize(id) }

    /// `header = 1` of a WatchResponse.
    static func header(_ info: ResponseHeaderInfo, revision: Int64, into out: inout [UInt8]) {
        var body: [UInt8] = []
        body.reserveCapacity(32)
        ProtoWire.int(1, Int64(bitPattern: info.clusterID), into: &body)
        ProtoWire.int(2, Int64(bitPattern: info.memberID), into: &body)
        ProtoWire.int(3, revision, into: &body)
        ProtoWire.int(4, Int64(bitPattern: info.raftTerm), into: &body)
        ProtoWire.lengthPrefix(1, body.count, into: &out)
        out += body
    }

    /// Size of a KeyValue message body. A tombstone is the key and mod revision only.
    static func keyValueSize(_ v: KeyVersion) -> Int {
        if v.isTombstone { return ProtoWire.bytesSize(1, v.keyCount) + ProtoWire.intSize(3, v.modMain) }
        return ProtoWire.bytesSize(1, v.keyCount) + ProtoWire.intSize(2, v.createRevision) + ProtoWire.intSize(3, v.modMain)
            + ProtoWire.intSize(4, v.version) + ProtoWire.bytesSize(5, v.valueCount) + ProtoWire.intSize(6, v.lease)
    }

    static func keyValue(_ field: Int, _ v: KeyVersion, into out: inout [UInt8]) {
        ProtoWire.lengthPrefix(field, keyValueSize(v), into: &out)
        v.withKey { ProtoWire.bytes(1, $0, into: &out) }
        if v.isTombstone {
            ProtoWire.int(3, v.modMain, into: &out)
            return
        }
        ProtoWire.int(2, v.createRevision, into: &out)
        ProtoWire.int(3, v.modMain, into: &out)
        ProtoWire.int(4, v.version, into: &out)
        v.withValue { ProtoWire.bytes(5, $0, into: &out) }
        ProtoWire.int(6, v.lease, into: &out)
    }

    /// The version a `prev_kv` reports: the key's previous version, if it was live.
    static func previous(_ v: KeyVersion) -> KeyVersion? {
        guard let p = v.prev, !p.isTombstone else { return nil }
        return p
    }

    /// `events = 11`: one mvccpb.Event, with `prev_kv` when asked for. As in etcd, `prev_kv` is
    /// the key at the revision before the event, so it is absent when that revision is compacted
    /// (which also keeps members that restored from a snapshot byte-identical to those that did not).
    static func event(_ v: KeyVersion, prevKV: Bool, compactRevision: Int64, into out: inout [UInt8]) {
        let kvSize = keyValueSize(v)
        var size = (v.isTombstone ? 2 : 0) + 1 + ProtoWire.varintSize(UInt64(kvSize)) + kvSize
        let prev = prevKV && v.modMain - 1 >= compactRevision ? previous(v) : nil
        if let prev {
            let n = keyValueSize(prev)
            size += 1 + ProtoWire.varintSize(UInt64(n)) + n
        }
        ProtoWire.lengthPrefix(11, size, into: &out)
        if v.isTombstone { ProtoWire.int(1, 1, into: &out) }
        keyValue(2, v, into: &out)
        if let prev { keyValue(3, prev, into: &out) }
    }
}

extension WatchFrame {
    /// The bytes of a response's watch-id field (field 2; none for 0, as proto3 leaves it out).
    public static func idFieldSize(_ id: Int64) -> Int { ProtoWire.intSize(2, id) }

    /// The whole `etcdserverpb.WatchResponse` message to `watchID`.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(size)
        ProtoWire.int(2, watchID, into: &out)
        out += body
        return out
    }

    /// The size of the response to `watchID`.
    public var size: Int { body.count + Self.idFieldSize(watchID) }
}

/// Protobuf's wire encoding, as far as the watch responses need it.
enum ProtoWire {
    @inline(__always) static func varint(_ x: UInt64, into out: inout [UInt8]) {
        var v = x
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }
    @inline(__always) static func varintSize(_ x: UInt64) -> Int {
        var n = 1
        var v = x
        while v >= 0x80 {
            v >>= 7
            n += 1
        }
        return n
    }
    @inline(__always) static func int(_ field: Int, _ x: Int64, into out: inout [UInt8]) {
        guard x != 0 else { return }
        varint(UInt64(field << 3), into: &out)
        varint(UInt64(bitPattern: x), into: &out)
    }
    @inline(__always) static func intSize(_ field: Int, _ x: Int64) -> Int {
        x == 0 ? 0 : varintSize(UInt64(field << 3)) + varintSize(UInt64(bitPattern: x))
    }
    @inline(__always) static func bool(_ field: Int, _ x: Bool, into out: inout [UInt8]) {
        if x {
            out.append(UInt8(field << 3))
            out.append(1)
        }
    }
    @inline(__always) static func bytes(_ field: Int, _ b: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        guard b.count > 0 else { return }
        varint(UInt64(field << 3 | 2), into: &out)
        varint(UInt64(b.count), into: &out)
        out.append(contentsOf: b)
    }
    @inline(__always) static func lengthPrefix(_ field: Int, _ count: Int, into out: inout [UInt8]) {
        varint(UInt64(field << 3 | 2), into: &out)
        varint(UInt64(count), into: &out)
    }
    @inline(__always) static func bytesSize(_ field: Int, _ n: Int) -> Int {
        n == 0 ? 0 : 1 + varintSize(UInt64(n)) + n
    }
}
