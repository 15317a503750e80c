import Base
public import EtcdProto
import Foundation
import GRPCWire
import MVCC
public import StoreServer

/// etcd's Lease service. Grants and revokes go through the log; keep-alives and TimeToLive are
/// answered by the leader, which keeps the lease clock (a follower forwards them); LeaseLeases
/// is answered from this member's applied state.
public struct LeaseService: Sendable {
    let member: Member
    let identity: MemberIdentity
    private let ids: IDSource

    /// Lease IDs for grants that leave the choice to the server, made on the member that takes
    /// the request (etcd's layout: see `LeaseIDGenerator`).
    final class IDSource: @unchecked Sendable {
        private let lock = Lock()
        private var generator: LeaseIDGenerator
        init(memberID: UInt64) {
            generator = LeaseIDGenerator(memberID: memberID, nowMilliseconds: Int64(Date().timeIntervalSince1970 * 1000))
        }
        func next() -> Int64 { lock.withLock { generator.generate() } }
    }

    public init(member: Member, identity: MemberIdentity) {
        self.member = member
        self.identity = identity
        ids = IDSource(memberID: identity.memberID)
    }

    private func header(revision: Int64? = nil) -> Etcdserverpb_ResponseHeader {
        Wire.header(member.header(identity), revision: revision ?? member.status.revision)
    }

    public func leaseGrant(request: Etcdserverpb_LeaseGrantRequest) async throws -> Etcdserverpb_LeaseGrantResponse {
        try member.refuseIfLearner()
        // etcd checks the TTL before proposing.
        if request.ttl > member.config.limits.maxLeaseTTL { throw GRPCStatus(MVCCError.leaseTTLTooLarge) }
        let id = request.id != 0 ? request.id : ids.next()
        let answer: StateResult
        do { answer = try await member.write(.leaseGrant(id: id, ttl: request.ttl)) } catch { throw etcdStatus(error) }
        guard case .leaseGrant(let g) = answer else { throw GRPCStatus(.internalError, "unexpected answer") }
        var out = Etcdserverpb_LeaseGrantResponse()
        out.header = header(revision: g.revision)
        out.id = g.id
        out.ttl = g.ttl
        return out
    }

    public func leaseRevoke(request: Etcdserverpb_LeaseRevokeRequest) async throws -> Etcdserverpb_LeaseRevokeResponse {
        try member.refuseIfLearner()
        let answer: StateResult
        do { answer = try await member.write(.leaseRevoke(id: request.id)) } catch { throw etcdStatus(error) }
        guard case .leaseRevoke(let revision) = answer else { throw GRPCStatus(.internalError, "unexpected answer") }
        var out = Etcdserverpb_LeaseRevokeResponse()
        out.header = header(revision: revision)
        return out
    }

    /// One keep-alive request of the stream: renews its lease. A lease that does not exist (any
    /// more) is answered with TTL 0, as etcd does, and the stream stays open.
    public func leaseKeepAlive(request r: Etcdserverpb_LeaseKeepAliveRequest) async throws -> Etcdserverpb_LeaseKeepAliveResponse {
        try member.refuseIfLearner()
        let result: LeaderCallResult
        do { result = try await member.leaderCall(.renew(lease: r.id)) } catch { throw etcdStatus(error) }
        var out = Etcdserverpb_LeaseKeepAliveResponse()
        out.header = header()
        out.id = r.id
        if case .renewed(let ttl) = result { out.ttl = ttl }
        return out
    }

    /// A lease that does not exist is answered with TTL -1 (etcd's answer, not an error).
    public func leaseTimeToLive(request: Etcdserverpb_LeaseTimeToLiveRequest) async throws -> Etcdserverpb_LeaseTimeToLiveResponse {
        try member.refuseIfLearner()
        let result: LeaderCallResult
        do { result = try await member.leaderCall(.timeToLive(lease: request.id, keys: request.keys)) } catch { throw etcdStatus(error) }
        var out = Etcdserverpb_LeaseTimeToLiveResponse()
        out.header = header()
        out.id = request.id
        switch result {
        case .timeToLive(let t):
            out.ttl = t.ttl
            out.grantedTtl = t.grantedTTL
            out.keys = t.keys.map { Data($0) }
        default:
            out.ttl = -1
        }
        return out
    }

    public func leaseLeases(request: Etcdserverpb_LeaseLeasesRequest) async throws -> Etcdserverpb_LeaseLeasesResponse {
        try member.refuseIfLearner()
        var out = Etcdserverpb_LeaseLeasesResponse()
        out.header = header()
        out.leases = member.leaseIDs.map { id in
            var s = Etcdserverpb_LeaseStatus()
            s.id = id
            return s
        }
        return out
    }
}
