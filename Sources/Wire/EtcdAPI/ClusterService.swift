public import EtcdProto
import Foundation
import GRPCWire
import Raft
public import StoreServer

/// etcd's Cluster service: the membership as the applied log describes it, and changes to it
/// through the log (one at a time, as etcd makes them).
public struct ClusterService: Sendable {
    let member: Member
    let identity: MemberIdentity
    /// The ID for a member added with these peer URLs (etcd: from the URLs, the cluster token
    /// and the time, so a member added again after its removal gets a new ID).
    let newMemberID: @Sendable ([String]) -> UInt64

    public init(member: Member, identity: MemberIdentity, newMemberID: @escaping @Sendable ([String]) -> UInt64) {
        self.member = member
        self.identity = identity
        self.newMemberID = newMemberID
    }

    static func wire(_ m: ClusterMember) -> Etcdserverpb_Member {
        var out = Etcdserverpb_Member()
        out.id = m.id.rawValue
        out.name = m.name
        out.peerUrls = m.peerURLs
        out.clientUrls = m.clientURLs
        out.isLearner = m.isLearner
        return out
    }

    /// etcd's Cluster responses carry no revision.
    private func header() -> Etcdserverpb_ResponseHeader {
        Wire.header(member.header(identity), revision: 0)
    }

    /// etcd accepts peer URLs of the form scheme://host:port (http or https).
    static func validPeerURLs(_ urls: [String]) -> Bool {
        !urls.isEmpty
            && urls.allSatisfy { u in
                guard let c = URLComponents(string: u), let scheme = c.scheme, ["http", "https"].contains(scheme),
                    let host = c.host, !host.isEmpty, c.port != nil, c.path.isEmpty || c.path == "/"
                else { return false }
                return true
            }
    }

    private func change(_ c: ConfChange) async throws -> [ClusterMember] {
        do { return try await member.changeMembership(c) } catch { throw etcdStatus(error) }
    }

    public func memberAdd(request: Etcdserverpb_MemberAddRequest) async throws -> Etcdserverpb_MemberAddResponse {
        try member.refuseIfLearner()
        guard Self.validPeerURLs(request.peerUrls) else { throw etcdStatus(MemberError.cluster(.badURLs)) }
        let added = ClusterMember(id: NodeID(newMemberID(request.peerUrls)), peerURLs: request.peerUrls, isLearner: request.isLearner)
        let members = try await change(
            ConfChange(
                kind: request.isLearner ? .addLearner : .addVoter, nodeID: added.id,
                context: added.encodedContext()))
        var out = Etcdserverpb_MemberAddResponse()
        out.header = header()
        out.member = Self.wire(added)
        out.members = members.map(Self.wire)
        return out
    }

    public func memberRemove(request: Etcdserverpb_MemberRemoveRequest) async throws -> Etcdserverpb_MemberRemoveResponse {
        try member.refuseIfLearner()
        let members = try await change(ConfChange(kind: .removeNode, nodeID: NodeID(request.id)))
        var out = Etcdserverpb_MemberRemoveResponse()
        out.header = header()
        out.members = members.map(Self.wire)
        return out
    }

    public func memberUpdate(request: Etcdserverpb_MemberUpdateRequest) async throws -> Etcdserverpb_MemberUpdateResponse {
        try member.refuseIfLearner()
        guard Self.validPeerURLs(request.peerUrls) else { throw etcdStatus(MemberError.cluster(.badURLs)) }
        let current = member.members
        guard current.contains(where: { $0.id.rawValue == request.id }) else { throw etcdStatus(MemberError.cluster(.memberNotFound)) }
        let others = Set(current.filter { $0.id.rawValue != request.id }.flatMap(\.peerURLs))
        if request.peerUrls.contains(where: others.contains) { throw etcdStatus(MemberError.cluster(.peerURLExists)) }
        do { _ = try await member.write(.updateMember(member: request.id, peerURLs: request.peerUrls)) } catch { throw etcdStatus(error) }
        var out = Etcdserverpb_MemberUpdateResponse()
        out.header = header()
        out.members = member.members.map(Self.wire)
        return out
    }

    public func memberList(request: Etcdserverpb_MemberListRequest) async throws -> Etcdserverpb_MemberListResponse {
        try member.refuseIfLearner()
        var out = Etcdserverpb_MemberListResponse()
        out.header = header()
        out.members = member.members.map(Self.wire)
        return out
    }

    /// A learner is promoted only when the leader says its log is in sync (etcd: 90% of the leader's).
    public func memberPromote(request: Etcdserverpb_MemberPromoteRequest) async throws -> Etcdserverpb_MemberPromoteResponse {
        try member.refuseIfLearner()
        let id = NodeID(request.id)
        guard let target = member.members.first(where: { $0.id == id }) else { throw etcdStatus(MemberError.cluster(.memberNotFound)) }
        guard target.isLearner else { throw etcdStatus(MemberError.cluster(.notLearner)) }
        let ready: LeaderCallResult
        do { ready = try await member.leaderCall(.learnerReady(member: id)) } catch { throw etcdStatus(error) }
        guard ready == .ready(true) else { throw etcdStatus(MemberError.cluster(.learnerNotReady)) }
        let members = try await change(ConfChange(kind: .addVoter, nodeID: id))
        var out = Etcdserverpb_MemberPromoteResponse()
        out.header = header()
        out.members = members.map(Self.wire)
        return out
    }
}
