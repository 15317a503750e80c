public import MVCC
public import Raft

/// A lease request that only the leader can answer, because only the leader keeps the lease
/// clock (when each lease expires): a keep-alive renews a lease's deadline, TimeToLive reads
/// it. A follower forwards such a call to the leader over the peer transport.
public enum LeaseCall: Equatable, Sendable {
    case renew(lease: Int64)
    case timeToLive(lease: Int64, keys: Bool)
}

/// What a lease call gave.
public enum LeaseCallResult: Equatable, Sendable {
    /// A renewed lease: the TTL it was granted, now counting from the renewal.
    case renewed(ttl: Int64)
    case timeToLive(LeaseTimeToLiveResponse)
    case notFound
    /// The member asked is not the leader (any more): the caller asks again.
    case notLeader
}

/// A call forwarded from a follower to the leader; the answer carries the same `request`.
public struct ForwardedLeaseCall: Equatable, Sendable {
    public var request: UInt64
    public var from: NodeID
    public var call: LeaseCall
    public init(request: UInt64, from: NodeID, call: LeaseCall) {
        self.request = request
        self.from = from
        self.call = call
    }
}

public struct LeaseCallAnswer: Equatable, Sendable {
    public var request: UInt64
    public var result: LeaseCallResult
    public init(request: UInt64, result: LeaseCallResult) {
        self.request = request
        self.result = result
    }
}

extension PeerCodec {
    static func leaseCall(_ c: ForwardedLeaseCall, into w: inout RequestCodec.Writer) {
        w.int(c.request); w.int(c.from.rawValue)
        switch c.call {
        case .renew(let id): w.byte(0); w.int(id)
        case .timeToLive(let id, let keys): w.byte(1); w.int(id); w.bool(keys)
        }
    }

    static func leaseCall(from r: inout RequestCodec.Reader) throws(RequestCodec.DecodeError) -> ForwardedLeaseCall {
        let request: UInt64 = try r.int(), from = NodeID(try r.int())
        let at = r.offset
        switch try r.byte() {
        case 0: return ForwardedLeaseCall(request: request, from: from, call: .renew(lease: try r.int()))
        case 1: return ForwardedLeaseCall(request: request, from: from, call: .timeToLive(lease: try r.int(), keys: try r.bool()))
        default: throw .init(offset: at, what: "lease call type")
        }
    }

    static func leaseAnswer(_ a: LeaseCallAnswer, into w: inout RequestCodec.Writer) {
        w.int(a.request)
        switch a.result {
        case .renewed(let ttl): w.byte(0); w.int(ttl)
        case .timeToLive(let t):
            w.byte(1); w.int(t.id); w.int(t.ttl); w.int(t.grantedTTL)
            w.int(UInt32(t.keys.count))
            for k in t.keys { w.bytes(k) }
        case .notFound: w.byte(2)
        case .notLeader: w.byte(3)
        }
    }

    static func leaseAnswer(from r: inout RequestCodec.Reader) throws(RequestCodec.DecodeError) -> LeaseCallAnswer {
        let request: UInt64 = try r.int()
        let at = r.offset
        switch try r.byte() {
        case 0: return LeaseCallAnswer(request: request, result: .renewed(ttl: try r.int()))
        case 1:
            let id: Int64 = try r.int(), ttl: Int64 = try r.int(), granted: Int64 = try r.int()
            let n = Int(try r.int() as UInt32)
            guard n <= (r.data.count - r.offset) / 4 else { throw .init(offset: r.offset, what: "key count \(n)") }
            var keys: [[UInt8]] = []
            for _ in 0..<n { keys.append(try r.bytes()) }
            return LeaseCallAnswer(request: request, result: .timeToLive(LeaseTimeToLiveResponse(id: id, ttl: ttl, grantedTTL: granted, keys: keys)))
        case 2: return LeaseCallAnswer(request: request, result: .notFound)
        case 3: return LeaseCallAnswer(request: request, result: .notLeader)
        default: throw .init(offset: at, what: "lease answer type")
        }
    }
}
