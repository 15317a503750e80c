import Base
public import MVCC
public import Raft

/// A request only the leader can answer. Only the leader keeps the lease clock (when each
/// lease expires): a keep-alive renews a lease's deadline, TimeToLive reads it. Only the leader
/// knows how far a learner has replicated (whether it may be promoted). A follower forwards such
/// a call to the leader over the peer transport.
public enum LeaderCall: Equatable, Sendable {
    case renew(lease: Int64)
    case timeToLive(lease: Int64, keys: Bool)
    /// Whether a learner's log is close enough to the leader's to promote it (etcd: 90%).
    case learnerReady(member: NodeID)
    /// A member's HashKV at a revision (the leader's consistency check asks every member;
    /// any member answers this one).
    case hashKV(revision: Int64)
}

/// What a lease call gave.
public enum LeaderCallResult: Equatable, Sendable {
    /// A renewed lease: the TTL it was granted, now counting from the renewal.
    case renewed(ttl: Int64)
    case timeToLive(LeaseTimeToLiveResponse)
    case notFound
    case ready(Bool)
    case hash(UInt32, compactRevision: Int64)
    /// The member asked is not the leader (any more): the caller asks again.
    case notLeader
}

/// A call forwarded from a follower to the leader; the answer carries the same `request`.
public struct ForwardedLeaderCall: Equatable, Sendable {
    public var request: UInt64
    public var from: NodeID
    public var call: LeaderCall
    public init(request: UInt64, from: NodeID, call: LeaderCall) {
        self.request = request
        self.from = from
        self.call = call
    }
}

public struct LeaderCallAnswer: Equatable, Sendable {
    public var request: UInt64
    public var result: LeaderCallResult
    public init(request: UInt64, result: LeaderCallResult) {
        self.request = request
        self.result = result
    }
}

extension PeerCodec {
    static func leaderCall(_ c: ForwardedLeaderCall, into w: inout ByteWriter) {
        w.int(c.request)
        w.int(c.from.rawValue)
        switch c.call {
        case .renew(let id):
            w.u8(0)
            w.int(id)
        case .timeToLive(let id, let keys):
            w.u8(1)
            w.int(id)
            w.bool(keys)
        case .learnerReady(let member):
            w.u8(2)
            w.int(member.rawValue)
        case .hashKV(let revision):
            w.u8(3)
            w.int(revision)
        }
    }

    static func leaderCall(from r: inout ByteReader) throws(DecodeError) -> ForwardedLeaderCall {
        let request: UInt64 = try r.int()
        let from = NodeID(try r.int())
        let at = r.offset
        switch try r.u8() {
        case 0: return ForwardedLeaderCall(request: request, from: from, call: .renew(lease: try r.int()))
        case 1: return ForwardedLeaderCall(request: request, from: from, call: .timeToLive(lease: try r.int(), keys: try r.bool()))
        case 2: return ForwardedLeaderCall(request: request, from: from, call: .learnerReady(member: NodeID(try r.int())))
        case 3: return ForwardedLeaderCall(request: request, from: from, call: .hashKV(revision: try r.int()))
        default: throw .init(offset: at, what: "lease call type")
        }
    }

    static func leaderAnswer(_ a: LeaderCallAnswer, into w: inout ByteWriter) {
        w.int(a.request)
        switch a.result {
        case .renewed(let ttl):
            w.u8(0)
            w.int(ttl)
        case .timeToLive(let t):
            w.u8(1)
            w.int(t.id)
            w.int(t.ttl)
            w.int(t.grantedTTL)
            w.int(UInt32(t.keys.count))
            for k in t.keys { w.lengthPrefixed(k) }
        case .notFound: w.u8(2)
        case .notLeader: w.u8(3)
        case .ready(let ok):
            w.u8(4)
            w.bool(ok)
        case .hash(let h, let compact):
            w.u8(5)
            w.int(h)
            w.int(compact)
        }
    }

    static func leaderAnswer(from r: inout ByteReader) throws(DecodeError) -> LeaderCallAnswer {
        let request: UInt64 = try r.int()
        let at = r.offset
        switch try r.u8() {
        case 0: return LeaderCallAnswer(request: request, result: .renewed(ttl: try r.int()))
        case 1:
            let id: Int64 = try r.int()
            let ttl: Int64 = try r.int()
            let granted: Int64 = try r.int()
            let n = Int(try r.int() as UInt32)
            guard n <= (r.remaining) / 4 else { throw .init(offset: r.offset, what: "key count \(n)") }
            var keys: [[UInt8]] = []
            for _ in 0..<n { keys.append(try r.byteString()) }
            return LeaderCallAnswer(
                request: request, result: .timeToLive(LeaseTimeToLiveResponse(id: id, ttl: ttl, grantedTTL: granted, keys: keys)))
        case 2: return LeaderCallAnswer(request: request, result: .notFound)
        case 3: return LeaderCallAnswer(request: request, result: .notLeader)
        case 4: return LeaderCallAnswer(request: request, result: .ready(try r.bool()))
        case 5: return LeaderCallAnswer(request: request, result: .hash(try r.int(), compactRevision: try r.int()))
        default: throw .init(offset: at, what: "lease answer type")
        }
    }
}
