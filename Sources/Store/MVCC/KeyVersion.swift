#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A revision: the main revision of the write transaction and the sub-revision of the write
/// inside it. Ordered by main, then sub.
public struct Revision: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var main: Int64
    public var sub: Int64
    public init(main: Int64, sub: Int64 = 0) {
        self.main = main
        self.sub = sub
    }
    public static func < (a: Revision, b: Revision) -> Bool {
        a.main != b.main ? a.main < b.main : a.sub < b.sub
    }
    public var description: String { "\(main).\(sub)" }
}

/// A key-value pair as clients see it (etcd's `mvccpb.KeyValue`).
public struct KeyValue: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var key: [UInt8]
    public var createRevision: Int64
    public var modRevision: Int64
    public var version: Int64
    public var value: [UInt8]
    public var lease: Int64
    public init(
        key: [UInt8], createRevision: Int64 = 0, modRevision: Int64 = 0, version: Int64 = 0,
        value: [UInt8] = [], lease: Int64 = 0
    ) {
        self.key = key
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.value = value
        self.lease = lease
    }
    public var description: String {
        "\(String(decoding: key, as: UTF8.self))=\(String(decoding: value, as: UTF8.self))"
            + "(c\(createRevision) m\(modRevision) v\(version) l\(lease))"
    }
}

/// The fixed part of one version of one key, stored in front of its bytes. Public only so that
/// `KeyVersion`'s accessors inline into the wire layer's watch encoder; its fields are not.
public struct VersionHeader {
    @usableFromInline var modMain: Int64
    @usableFromInline var createRevision: Int64
    /// 0 marks a tombstone: the key was deleted at `modMain.modSub`.
    @usableFromInline var version: Int64
    @usableFromInline var lease: Int64
    /// The version before this one, newest first; nil once compaction has cut history here.
    @usableFromInline var prev: KeyVersion?
    @usableFromInline var modSub: Int32
    @usableFromInline var keyCount: UInt32
    @usableFromInline var valueCount: UInt32
}

/// One version of one key: a single allocation holding the header, then the key bytes, then
/// the value bytes. Immutable once made, so any thread holding a read view may read it while
/// the apply loop writes newer versions. Versions of a key form a list, newest first. Watch
/// events are handed to the wire layer's encoder as these (read-only, inlined accessors: the
/// encoder writes each event as fast as it did inside this module).
public final class KeyVersion: ManagedBuffer<VersionHeader, UInt8> {
    static func make(
        key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, modRevision: Revision,
        createRevision: Int64, version: Int64, lease: Int64, prev: KeyVersion?
    ) -> KeyVersion {
        let header = VersionHeader(
            modMain: modRevision.main, createRevision: createRevision, version: version,
            lease: lease, prev: prev, modSub: Int32(truncatingIfNeeded: modRevision.sub),
            keyCount: UInt32(key.count), valueCount: UInt32(value.count))
        let buffer = KeyVersion.create(minimumCapacity: key.count + value.count) { _ in header }
        let made = unsafeDowncast(buffer, to: KeyVersion.self)
        made.withUnsafeMutablePointerToElements { base in
            if let k = key.baseAddress, key.count > 0 { base.update(from: k.assumingMemoryBound(to: UInt8.self), count: key.count) }
            if let v = value.baseAddress, value.count > 0 {
                (base + key.count).update(from: v.assumingMemoryBound(to: UInt8.self), count: value.count)
            }
        }
        return made
    }

    /// A copy of this version with a different predecessor (compaction cuts history this way).
    func copy(prev: KeyVersion?) -> KeyVersion {
        withKey { k in
            withValue { v in
                KeyVersion.make(
                    key: k, value: v, modRevision: modRevision, createRevision: createRevision,
                    version: version, lease: lease, prev: prev)
            }
        }
    }

    @inlinable public var modMain: Int64 { withUnsafeMutablePointerToHeader { $0.pointee.modMain } }
    var modRevision: Revision {
        withUnsafeMutablePointerToHeader { Revision(main: $0.pointee.modMain, sub: Int64($0.pointee.modSub)) }
    }
    @inlinable public var createRevision: Int64 { withUnsafeMutablePointerToHeader { $0.pointee.createRevision } }
    @inlinable public var version: Int64 { withUnsafeMutablePointerToHeader { $0.pointee.version } }
    @inlinable public var lease: Int64 { withUnsafeMutablePointerToHeader { $0.pointee.lease } }
    @inlinable public var isTombstone: Bool { version == 0 }
    @inlinable public var prev: KeyVersion? { withUnsafeMutablePointerToHeader { $0.pointee.prev } }
    @inlinable public var keyCount: Int { withUnsafeMutablePointerToHeader { Int($0.pointee.keyCount) } }
    @inlinable public var valueCount: Int { withUnsafeMutablePointerToHeader { Int($0.pointee.valueCount) } }

    @inlinable public func withKey<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let n = keyCount
        return try withUnsafeMutablePointerToElements { try body(UnsafeRawBufferPointer(start: $0, count: n)) }
    }
    @inlinable public func withValue<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let k = keyCount
        let n = valueCount
        return try withUnsafeMutablePointerToElements { try body(UnsafeRawBufferPointer(start: $0 + k, count: n)) }
    }
    var key: [UInt8] { withKey { Array($0) } }
    var value: [UInt8] { withValue { Array($0) } }

    /// The newest version at or before main revision `revision`, or nil when the key did not
    /// exist then (no version, or the version found is a tombstone).
    @inline(__always) func live(at revision: Int64) -> KeyVersion? {
        var node: KeyVersion? = self
        while let v = node {
            if v.modMain <= revision { return v.isTombstone ? nil : v }
            node = v.prev
        }
        return nil
    }

    func keyValue(includeValue: Bool = true) -> KeyValue {
        withUnsafeMutablePointerToHeader { h in
            KeyValue(
                key: key, createRevision: h.pointee.createRevision, modRevision: h.pointee.modMain,
                version: h.pointee.version, value: includeValue ? value : [], lease: h.pointee.lease)
        }
    }

    /// Bytes charged against the quota for one stored version.
    var accountedBytes: Int64 { Int64(keyCount + valueCount) + MVCCLimits.versionOverheadBytes }
}

/// Unsigned lexicographic order of byte strings, as etcd orders keys.
@inline(__always) func compareBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    let n = min(a.count, b.count)
    if n > 0, let pa = a.baseAddress, let pb = b.baseAddress {
        let c = memcmp(pa, pb, n)
        if c != 0 { return c < 0 ? -1 : 1 }
    }
    return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
}

@inline(__always) func compareBytes(_ a: [UInt8], _ b: [UInt8]) -> Int {
    a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in compareBytes(pa, pb) } }
}

/// Whether `a < b` in etcd's key order.
@inline(__always) func bytesLess(_ a: [UInt8], _ b: [UInt8]) -> Bool { compareBytes(a, b) < 0 }
