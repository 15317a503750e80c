import Base
import Crypto
public import MVCC
public import Raft
import Storage

/// What a Raft snapshot of a member holds: the state machine (`MVCCSnapshot`) and the
/// membership as the applied log describes it (so a member that installs a snapshot, or
/// restarts from one, knows every member's name and URLs). Encoding: the MVCC image as a byte
/// string, then the members and the removed IDs (`RequestCodec`'s rules).
public enum MemberSnapshot {
    public static func encode(_ store: KVStore, _ cluster: ClusterMembers) -> [UInt8] { encode(store.image, cluster) }

    /// Encodes an image taken on the apply thread; safe on any thread.
    public static func encode(_ store: StoreImage, _ cluster: ClusterMembers) -> [UInt8] {
        var w = ByteWriter()
        // The image's length goes before it: written once the image is in place.
        w.int(UInt32(0))
        MVCCSnapshot.encode(store, into: &w.bytes)
        let imageBytes = w.bytes.count - 4
        precondition(imageBytes <= UInt32.max, "a state image of \(imageBytes) bytes does not fit the snapshot format")
        withUnsafeBytes(of: UInt32(imageBytes).littleEndian) { w.bytes.replaceSubrange(0..<4, with: $0) }
        let members = cluster.sorted
        w.int(UInt32(members.count))
        for m in members {
            w.int(m.id.rawValue)
            w.lengthPrefixed(Array(m.name.utf8))
            w.strings(m.peerURLs)
            w.strings(m.clientURLs)
            w.bool(m.isLearner)
        }
        let removed = cluster.removed.sorted()
        w.int(UInt32(removed.count))
        for id in removed { w.int(id.rawValue) }
        return w.bytes
    }

    public struct DecodeError: Error, CustomStringConvertible {
        public var description: String
    }

    public static func decode(_ bytes: [UInt8], limits: MVCCLimits) throws(DecodeError) -> (KVStore, ClusterMembers) {
        var r = ByteReader(bytes)
        do {
            let image = try r.byteString()
            let store: KVStore
            do { store = try MVCCSnapshot.decode(image, limits: limits) } catch { throw DecodeError(description: error.description) }
            var members: [ClusterMember] = []
            let n = Int(try r.int() as UInt32)
            guard n <= (bytes.count - r.offset) / 17 else { throw DecodeError(description: "member count \(n) at byte \(r.offset)") }
            for _ in 0..<n {
                let id = NodeID(try r.int())
                let name = String(decoding: try r.byteString(), as: UTF8.self)
                members.append(
                    ClusterMember(id: id, name: name, peerURLs: try r.strings(), clientURLs: try r.strings(), isLearner: try r.bool()))
            }
            let k = Int(try r.int() as UInt32)
            guard k <= (bytes.count - r.offset) / 8 else { throw DecodeError(description: "removed count \(k) at byte \(r.offset)") }
            var removed: Set<NodeID> = []
            for _ in 0..<k { removed.insert(NodeID(try r.int())) }
            guard r.offset == bytes.count else { throw DecodeError(description: "trailing bytes at \(r.offset)") }
            return (store, ClusterMembers(members: members, removed: removed))
        } catch let e as DecodeError {
            throw e
        } catch let e as Base.DecodeError {
            throw DecodeError(description: "member snapshot \(e.what) at byte \(e.offset)")
        } catch {
            throw DecodeError(description: "\(error)")
        }
    }
}

/// The file `etcdctl snapshot save` receives from a Capstan member (Maintenance.Snapshot) and
/// `capstan snapshot restore` reads: 8 bytes of magic, a u32 version, the Raft index and term
/// it was taken at, the `MemberSnapshot` bytes (u64 length first), and a CRC-32C of everything
/// before it; then, because etcdctl checks for it, zero padding to a multiple of 512 bytes and
/// the SHA-256 of everything before it (etcd's stream ends with its database's SHA-256). It is
/// not etcd's bbolt file: `etcdctl snapshot status/restore` cannot read it.
public enum SnapshotFile {
    public static let magic: [UInt8] = Array("CPSTSNAP".utf8)
    public static let version: UInt32 = 1

    public static func encode(index: LogIndex, term: Term, memberSnapshot: [UInt8]) -> [UInt8] {
        var w = ByteWriter()
        w.bytes = magic
        w.int(version)
        w.int(index.rawValue)
        w.int(term.rawValue)
        w.int(UInt64(memberSnapshot.count))
        w.bytes += memberSnapshot
        w.int(CRC32C.checksum(w.bytes))
        while w.bytes.count % 512 != 0 { w.bytes.append(0) }
        w.bytes += Array(SHA256.hash(data: w.bytes))
        return w.bytes
    }

    public struct DecodeError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Checks the magic, the version, the length and the checksum.
    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> (index: LogIndex, term: Term, memberSnapshot: [UInt8]) {
        guard bytes.count >= magic.count + 4 + 8 + 8 + 8 + 4, Array(bytes[..<magic.count]) == magic else {
            throw DecodeError(description: "not a Capstan snapshot file (bad magic; etcd's own snapshot files are not supported)")
        }
        var r = ByteReader(bytes, offset: magic.count)
        do {
            let v: UInt32 = try r.int()
            guard v == version else { throw DecodeError(description: "snapshot file version \(v) is not supported") }
            let index = LogIndex(try r.int())
            let term = Term(try r.int())
            let length: UInt64 = try r.int()
            guard length <= UInt64(bytes.count - r.offset - 4) else {
                throw DecodeError(
                    description: "snapshot file truncated: it says \(length) bytes of state at byte \(r.offset), "
                        + "the file holds \(bytes.count - r.offset - 4)")
            }
            let end = r.offset + Int(length)
            let body = Array(bytes[r.offset..<end])
            let stored = bytes[end..<end + 4].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
            let computed = CRC32C.checksum(Array(bytes[..<end]))
            guard stored == computed else {
                throw DecodeError(
                    description: "snapshot file checksum mismatch at byte \(end): stored \(String(stored, radix: 16)), "
                        + "computed \(String(computed, radix: 16))")
            }
            // The trailer: zero padding to 512 bytes and the SHA-256 of everything before it.
            let trailerStart = end + 4
            guard bytes.count >= trailerStart + 32, (bytes.count - 32) % 512 == 0,
                bytes[trailerStart..<(bytes.count - 32)].allSatisfy({ $0 == 0 })
            else {
                throw DecodeError(description: "snapshot file trailer damaged at byte \(trailerStart) (padding and SHA-256 expected)")
            }
            guard Array(SHA256.hash(data: bytes.dropLast(32))) == Array(bytes.suffix(32)) else {
                throw DecodeError(description: "snapshot file SHA-256 mismatch at byte \(bytes.count - 32)")
            }
            return (index, term, body)
        } catch let e as DecodeError {
            throw e
        } catch {
            throw DecodeError(description: "snapshot file truncated")
        }
    }
}
