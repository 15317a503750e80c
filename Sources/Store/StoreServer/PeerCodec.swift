public import Base
public import Raft

/// The peer protocol's frames. On the wire every frame is a u32 little-endian length, then
/// that many bytes: one type byte and the body. A connection starts with one `hello` from the
/// dialing member; the listening member answers `welcome` or `refuse` (and closes). After the
/// welcome only `messages` frames flow, dialer to listener (each member dials every peer it
/// sends to, so one connection carries one direction).
public enum PeerFrame: Equatable, Sendable {
    /// The dialer's identity: protocol version, cluster ID (from the cluster token and the
    /// initial members), its member ID, and the member ID it expects to reach.
    case hello(version: UInt8, clusterID: UInt64, from: NodeID, to: NodeID)
    case welcome
    /// Why the listener refused the connection (a different cluster, the wrong member, a removed member).
    case refuse(String)
    /// A batch of Raft messages, in send order.
    case messages([Message])
    /// Lease calls a follower forwards to the leader, and the leader's answers.
    case leaderCalls([ForwardedLeaderCall])
    case leaderAnswers([LeaderCallAnswer])
    /// A member that was added (etcdctl member add) and starts with no data asks who it is:
    /// the listener answers `joined` with its ID, the cluster ID and every member's peer URLs
    /// (or `refuse`), then closes.
    case join(version: UInt8, peerURLs: [String])
    case joined(memberID: NodeID, clusterID: UInt64, members: [ClusterMember])
    /// The answer to a hello from a member that was removed from the cluster.
    case removed
    /// A piece of one Raft message too large for one frame (a snapshot): the message's encoding,
    /// cut into pieces of `snapshotChunkBytes`, sent in order; the receiver decodes the message
    /// once `offset + bytes.count == total`.
    case chunk(transfer: UInt64, total: UInt64, offset: UInt64, bytes: [UInt8])

    public static let version: UInt8 = 1
    /// Frames larger than this are refused: a length prefix read from a broken or hostile
    /// connection must not make the reader allocate gigabytes.
    public static let maxFrameBytes = 256 << 20
    /// Messages with a snapshot travel in chunks of this size, so a snapshot's size is not
    /// bounded by `maxFrameBytes` and other frames are never stuck behind one huge write.
    public static let snapshotChunkBytes = 1 << 20
    /// The largest message a chunked transfer may carry (a bound on what a receiver buffers).
    public static let maxChunkedMessageBytes: UInt64 = 16 << 30
}

/// Encodes and decodes `PeerFrame`s and Raft messages. Integers little-endian, byte strings as
/// u32 length + bytes; every length is checked on decode, so a damaged frame is refused.
public enum PeerCodec {
    /// The whole frame, length prefix included.
    public static func encode(_ frame: PeerFrame) -> [UInt8] {
        var w = ByteWriter()
        w.int(UInt32(0))
        switch frame {
        case .hello(let version, let cluster, let from, let to):
            w.u8(1)
            w.u8(version)
            w.int(cluster)
            w.int(from.rawValue)
            w.int(to.rawValue)
        case .welcome: w.u8(2)
        case .refuse(let why):
            w.u8(3)
            w.lengthPrefixed(Array(why.utf8))
        case .messages(let ms):
            w.u8(4)
            w.int(UInt32(ms.count))
            for m in ms { message(m, into: &w) }
        case .leaderCalls(let calls):
            w.u8(5)
            w.int(UInt32(calls.count))
            for c in calls { leaderCall(c, into: &w) }
        case .removed: w.u8(9)
        case .chunk(let transfer, let total, let offset, let bytes):
            w.u8(10)
            w.int(transfer)
            w.int(total)
            w.int(offset)
            w.lengthPrefixed(bytes)
        case .join(let version, let urls):
            w.u8(7)
            w.u8(version)
            w.strings(urls)
        case .joined(let id, let cluster, let members):
            w.u8(8)
            w.int(id.rawValue)
            w.int(cluster)
            w.int(UInt32(members.count))
            for m in members {
                w.int(m.id.rawValue)
                w.lengthPrefixed(Array(m.name.utf8))
                w.strings(m.peerURLs)
                w.bool(m.isLearner)
            }
        case .leaderAnswers(let answers):
            w.u8(6)
            w.int(UInt32(answers.count))
            for a in answers { leaderAnswer(a, into: &w) }
        }
        let length = UInt32(w.bytes.count - 4)
        withUnsafeBytes(of: length.littleEndian) { b in for i in 0..<4 { w.bytes[i] = b[i] } }
        return w.bytes
    }

    /// Decodes one frame body (without its length prefix).
    public static func decode(body: [UInt8]) throws(DecodeError) -> PeerFrame {
        var r = ByteReader(body)
        let frame: PeerFrame
        switch try r.u8() {
        case 1:
            frame = .hello(version: try r.u8(), clusterID: try r.int(), from: NodeID(try r.int()), to: NodeID(try r.int()))
        case 2: frame = .welcome
        case 3: frame = .refuse(String(decoding: try r.byteString(), as: UTF8.self))
        case 4:
            let n = Int(try r.int() as UInt32)
            // Every message takes at least 60 bytes: a count beyond that is damage, not a reason to reserve memory.
            guard n <= (body.count - r.offset) / 60 else { throw .init(offset: r.offset, what: "message count \(n)") }
            var ms: [Message] = []
            ms.reserveCapacity(n)
            for _ in 0..<n { ms.append(try message(from: &r)) }
            frame = .messages(ms)
        case 5:
            let n = Int(try r.int() as UInt32)
            guard n <= (body.count - r.offset) / 25 else { throw .init(offset: r.offset, what: "lease call count \(n)") }
            var calls: [ForwardedLeaderCall] = []
            for _ in 0..<n { calls.append(try leaderCall(from: &r)) }
            frame = .leaderCalls(calls)
        case 6:
            let n = Int(try r.int() as UInt32)
            guard n <= (body.count - r.offset) / 9 else { throw .init(offset: r.offset, what: "lease answer count \(n)") }
            var answers: [LeaderCallAnswer] = []
            for _ in 0..<n { answers.append(try leaderAnswer(from: &r)) }
            frame = .leaderAnswers(answers)
        case 9: frame = .removed
        case 10: frame = .chunk(transfer: try r.int(), total: try r.int(), offset: try r.int(), bytes: try r.byteString())
        case 7: frame = .join(version: try r.u8(), peerURLs: try r.strings())
        case 8:
            let id = NodeID(try r.int())
            let cluster: UInt64 = try r.int()
            let n = Int(try r.int() as UInt32)
            guard n <= (body.count - r.offset) / 17 else { throw .init(offset: r.offset, what: "member count \(n)") }
            var members: [ClusterMember] = []
            for _ in 0..<n {
                let mid = NodeID(try r.int())
                let name = String(decoding: try r.byteString(), as: UTF8.self)
                members.append(ClusterMember(id: mid, name: name, peerURLs: try r.strings(), isLearner: try r.bool()))
            }
            frame = .joined(memberID: id, clusterID: cluster, members: members)
        case let t: throw .init(offset: 0, what: "frame type \(t)")
        }
        guard r.offset == body.count else { throw .init(offset: r.offset, what: "trailing bytes") }
        return frame
    }

    /// One message's encoding (as inside a `messages` frame), for chunked transfers.
    public static func encode(message m: Message) -> [UInt8] {
        var w = ByteWriter()
        message(m, into: &w)
        return w.bytes
    }

    public static func decode(message bytes: [UInt8]) throws(DecodeError) -> Message {
        var r = ByteReader(bytes)
        let m = try message(from: &r)
        guard r.offset == bytes.count else { throw .init(offset: r.offset, what: "trailing bytes") }
        return m
    }

    static func message(_ m: Message, into w: inout ByteWriter) {
        w.u8(m.kind.rawValue)
        w.int(m.from.rawValue)
        w.int(m.to.rawValue)
        w.int(m.term.rawValue)
        w.int(m.logTerm.rawValue)
        w.int(m.index.rawValue)
        w.int(m.commit.rawValue)
        w.bool(m.reject)
        w.int(m.rejectHint.rawValue)
        w.int(m.context)
        w.int(UInt32(m.entries.count))
        for e in m.entries { entry(e, into: &w) }
        if let s = m.snapshot {
            w.u8(1)
            snapshotMetadata(s.metadata, into: &w)
            w.lengthPrefixed(s.data)
        } else {
            w.u8(0)
        }
    }

    static func message(from r: inout ByteReader) throws(DecodeError) -> Message {
        let at = r.offset
        guard let kind = MessageKind(rawValue: try r.u8()) else { throw .init(offset: at, what: "message kind") }
        var m = Message(kind: kind)
        m.from = NodeID(try r.int())
        m.to = NodeID(try r.int())
        m.term = Term(try r.int())
        m.logTerm = Term(try r.int())
        m.index = LogIndex(try r.int())
        m.commit = LogIndex(try r.int())
        m.reject = try r.bool()
        m.rejectHint = LogIndex(try r.int())
        m.context = try r.int()
        let n = Int(try r.int() as UInt32)
        guard n <= (r.remaining) / 21 else { throw .init(offset: r.offset, what: "entry count \(n)") }
        m.entries.reserveCapacity(n)
        for _ in 0..<n { m.entries.append(try entry(from: &r)) }
        if try r.bool() {
            let metadata = try snapshotMetadata(from: &r)
            m.snapshot = Snapshot(metadata: metadata, data: try r.byteString())
        }
        return m
    }

    static func entry(_ e: Entry, into w: inout ByteWriter) {
        w.int(e.term.rawValue)
        w.int(e.index.rawValue)
        w.u8(e.kind.rawValue)
        w.lengthPrefixed(e.data)
    }

    static func entry(from r: inout ByteReader) throws(DecodeError) -> Entry {
        let term = Term(try r.int())
        let index = LogIndex(try r.int())
        let at = r.offset
        guard let kind = EntryKind(rawValue: try r.u8()) else { throw .init(offset: at, what: "entry kind") }
        return Entry(term: term, index: index, kind: kind, data: try r.byteString())
    }

    static func snapshotMetadata(_ s: SnapshotMetadata, into w: inout ByteWriter) {
        w.int(s.index.rawValue)
        w.int(s.term.rawValue)
        w.int(UInt32(s.confState.voters.count))
        for v in s.confState.voters { w.int(v.rawValue) }
        w.int(UInt32(s.confState.learners.count))
        for l in s.confState.learners { w.int(l.rawValue) }
    }

    static func snapshotMetadata(from r: inout ByteReader) throws(DecodeError) -> SnapshotMetadata {
        let index = LogIndex(try r.int())
        let term = Term(try r.int())
        var lists: [[NodeID]] = []
        for _ in 0..<2 {
            let n = Int(try r.int() as UInt32)
            guard n <= (r.remaining) / 8 else { throw .init(offset: r.offset, what: "member count \(n)") }
            var ids: [NodeID] = []
            for _ in 0..<n { ids.append(NodeID(try r.int())) }
            lists.append(ids)
        }
        return SnapshotMetadata(index: index, term: term, confState: ConfState(voters: lists[0], learners: lists[1]))
    }
}
