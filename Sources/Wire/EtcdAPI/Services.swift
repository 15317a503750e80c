public import EtcdProto
import Foundation
import GRPCWire
import MVCC
import Raft
public import StoreServer

/// The member's identity as it shows in every response header and in Status.
public struct MemberIdentity: Sendable {
    public var clusterID: UInt64
    public var memberID: UInt64
    public var name: String
    public init(clusterID: UInt64, memberID: UInt64, name: String) {
        self.clusterID = clusterID
        self.memberID = memberID
        self.name = name
    }
}

/// The version Status reports: etcd 3.4's API, so clients enable the features they expect.
public let etcdCompatibleVersion = "3.4.23"

extension Member {
    func header(_ identity: MemberIdentity) -> ResponseHeaderInfo {
        ResponseHeaderInfo(clusterID: identity.clusterID, memberID: identity.memberID, raftTerm: status.term.rawValue)
    }
}

/// Maps a member's failure to the error an etcd client gets.
func etcdStatus(_ e: MemberError) -> GRPCStatus {
    switch e {
    case .mvcc(let m): GRPCStatus(m)
    case .noLeader: GRPCStatus(.unavailable, e.description)
    case .timedOut, .timedOutDueToLeaderFail: GRPCStatus(.unavailable, e.description)
    case .stopped: GRPCStatus(.unavailable, e.description)
    case .overloaded: GRPCStatus(.resourceExhausted, e.description)
    case .storage: GRPCStatus(.internalError, e.description)
    case .requestTooLarge: GRPCStatus(.invalidArgument, e.description)
    case .cluster(let c):
        switch c {
        case .badURLs: GRPCStatus(.invalidArgument, c.rawValue)
        case .memberNotFound: GRPCStatus(.notFound, c.rawValue)
        case .leaderTransferTimedOut: GRPCStatus(.unavailable, c.rawValue)
        case .memberExists, .peerURLExists, .notLearner, .learnerNotReady, .tooManyLearners, .notLeader, .badLeaderTransferee:
            GRPCStatus(.failedPrecondition, c.rawValue)
        }
    }
}

extension Member {
    /// etcd's learners answer only Status and serializable Range; everything else gets this.
    func refuseIfLearner() throws {
        if isLearner { throw GRPCStatus(.unavailable, "etcdserver: rpc not supported for learner") }
    }
}

/// How a KV method answers: with a function that makes the response, which the caller runs
/// on the call's event loop (so that the member's thread, which finishes the write, only hands
/// the answer over). The function throws the call's error.
public typealias Reply<Response> = @Sendable (@escaping @Sendable () throws -> Response) -> Void

/// etcd's KV service: validate, call the member, map the answer. Range is linearizable unless
/// the request asks for a serializable read (answered at once from the newest view). Each
/// method answers through `reply`, once: no task per call.
public struct KVService: Sendable {
    let member: Member
    let identity: MemberIdentity

    public init(member: Member, identity: MemberIdentity) {
        self.member = member
        self.identity = identity
    }

    /// A member completion that replies with `answer(value)`, or with the member's error as etcd's.
    private static func relay<Value: Sendable, Response>(
        _ reply: @escaping Reply<Response>,
        _ answer: @escaping @Sendable (Value) throws -> Response
    )
        -> @Sendable (Result<Value, MemberError>) -> Void
    {
        { result in
            reply {
                switch result {
                case .success(let value): return try answer(value)
                case .failure(let e): throw etcdStatus(e)
                }
            }
        }
    }

    /// Proposes `request`; replies with `answer(result)` or the member's error as etcd's.
    private func write<Response>(
        _ request: StateRequest, _ reply: @escaping Reply<Response>,
        _ answer: @escaping @Sendable (StateResult) throws -> Response
    ) {
        member.write(request, completion: Self.relay(reply, answer))
    }

    private static let unexpected = GRPCStatus(.internalError, "unexpected answer")

    public func range(request: Etcdserverpb_RangeRequest, reply: @escaping Reply<Etcdserverpb_RangeResponse>) {
        let r: RangeRequest
        do {
            if !request.serializable { try member.refuseIfLearner() }
            do { r = try Wire.request(request) } catch { throw error }
            do { try Validation.check(r) } catch { throw GRPCStatus(error) }
        } catch { return reply { throw error } }
        let answer = { @Sendable [member, identity] (view: ReadView) throws -> Etcdserverpb_RangeResponse in
            let answer: RangeResponse
            do throws(MVCCError) { answer = try view.range(r) } catch { throw GRPCStatus(error) }
            return Wire.response(answer, member.header(identity))
        }
        if request.serializable { return reply { try answer(member.view) } }
        member.linearizableView(completion: Self.relay(reply, answer))
    }

    public func put(request: Etcdserverpb_PutRequest, reply: @escaping Reply<Etcdserverpb_PutResponse>) {
        let r = Wire.request(request)
        do {
            try member.refuseIfLearner()
            do { try Validation.check(r) } catch { throw GRPCStatus(error) }
        } catch { return reply { throw error } }
        write(.put(r), reply) { [member, identity] result in
            guard case .put(let answer) = result else { throw Self.unexpected }
            return Wire.response(answer, member.header(identity))
        }
    }

    public func deleteRange(request: Etcdserverpb_DeleteRangeRequest, reply: @escaping Reply<Etcdserverpb_DeleteRangeResponse>) {
        let r = Wire.request(request)
        do {
            try member.refuseIfLearner()
            do { try Validation.check(r) } catch { throw GRPCStatus(error) }
        } catch { return reply { throw error } }
        write(.deleteRange(r), reply) { [member, identity] result in
            guard case .deleteRange(let answer) = result else { throw Self.unexpected }
            return Wire.response(answer, member.header(identity))
        }
    }

    public func txn(request: Etcdserverpb_TxnRequest, reply: @escaping Reply<Etcdserverpb_TxnResponse>) {
        let t: TxnRequest
        do {
            try member.refuseIfLearner()
            do { t = try Wire.request(request) } catch { throw error }
            do { try Validation.check(t, limits: member.config.limits) } catch { throw GRPCStatus(error) }
        } catch { return reply { throw error } }
        write(.txn(t), reply) { [member, identity] result in
            guard case .txn(let answer) = result else { throw Self.unexpected }
            return Wire.response(answer, member.header(identity))
        }
    }

    public func compact(request: Etcdserverpb_CompactionRequest, reply: @escaping Reply<Etcdserverpb_CompactionResponse>) {
        do { try member.refuseIfLearner() } catch { return reply { throw error } }
        write(.compact(revision: request.revision), reply) { [member, identity] result in
            guard case .compact(let answer) = result else { throw Self.unexpected }
            var out = Etcdserverpb_CompactionResponse()
            out.header = Wire.header(member.header(identity), revision: answer.revision)
            return out
        }
    }
}

/// The parts of etcd's Maintenance service a single member can answer today: Status, HashKV,
/// Hash and Alarm. Defragment, Snapshot and MoveLeader are not built (UNIMPLEMENTED).
public struct MaintenanceService: Sendable {
    let member: Member
    let identity: MemberIdentity

    public init(member: Member, identity: MemberIdentity) {
        self.member = member
        self.identity = identity
    }

    public func status(request: Etcdserverpb_StatusRequest) async throws -> Etcdserverpb_StatusResponse {
        let s = member.status
        var out = Etcdserverpb_StatusResponse()
        out.header = Wire.header(member.header(identity), revision: s.revision)
        out.version = etcdCompatibleVersion
        out.dbSize = s.dbSize
        out.dbSizeInUse = s.dbSize
        out.leader = s.leader?.rawValue ?? 0
        out.raftIndex = s.commitIndex.rawValue
        out.raftTerm = s.term.rawValue
        out.raftAppliedIndex = s.appliedIndex.rawValue
        out.isLearner = member.members.first { $0.id.rawValue == identity.memberID }?.isLearner ?? false
        return out
    }

    public func hashKV(request: Etcdserverpb_HashKVRequest) async throws -> Etcdserverpb_HashKVResponse {
        try member.refuseIfLearner()
        do {
            let h = try member.view.hashKV(revision: request.revision)
            var out = Etcdserverpb_HashKVResponse()
            out.header = Wire.header(member.header(identity), revision: h.revision)
            out.hash = h.hash
            out.compactRevision = h.compactRevision
            return out
        } catch { throw GRPCStatus(error) }
    }

    public func hash(request: Etcdserverpb_HashRequest) async throws -> Etcdserverpb_HashResponse {
        try member.refuseIfLearner()
        do {
            let h = try member.view.hashKV(revision: 0)
            var out = Etcdserverpb_HashResponse()
            out.header = Wire.header(member.header(identity), revision: h.revision)
            out.hash = h.hash
            return out
        } catch { throw GRPCStatus(error) }
    }

    /// As etcd answers: GET lists the alarms (of the type asked, or all); ACTIVATE answers the
    /// alarm raised; DEACTIVATE answers the alarm cleared, or nothing when it was not raised.
    public func alarm(request: Etcdserverpb_AlarmRequest) async throws -> Etcdserverpb_AlarmResponse {
        try member.refuseIfLearner()
        var out = Etcdserverpb_AlarmResponse()
        let type = AlarmType(rawValue: request.alarm.rawValue) ?? .none
        var answered: [AlarmMember]
        switch request.action {
        case .get:
            answered = member.status.alarms.filter { type == .none || $0.alarm == type }
        case .activate, .deactivate:
            guard type != .none else { throw GRPCStatus(.invalidArgument, "etcdserver: alarm type must be set") }
            let target = AlarmMember(memberID: request.memberID, alarm: type)
            let wasRaised = member.status.alarms.contains(target)
            do {
                _ = try await member.write(.alarm(activate: request.action == .activate, target))
            } catch { throw error }
            answered = request.action == .activate || wasRaised ? [target] : []
        case .UNRECOGNIZED:
            throw GRPCStatus(.invalidArgument, "etcdserver: unknown alarm action")
        }
        out.header = Wire.header(member.header(identity), revision: member.status.revision)
        out.alarms = answered.map { a in
            var m = Etcdserverpb_AlarmMember()
            m.memberID = a.memberID
            m.alarm = Etcdserverpb_AlarmType(rawValue: a.alarm.rawValue) ?? .none
            return m
        }
        return out
    }

    public func defragment(request: Etcdserverpb_DefragmentRequest) async throws -> Etcdserverpb_DefragmentResponse {
        try member.refuseIfLearner()
        // Nothing to defragment: the state lives in memory and compaction frees it.
        var out = Etcdserverpb_DefragmentResponse()
        out.header = Wire.header(member.header(identity), revision: member.status.revision)
        return out
    }

    /// The applied state as one Capstan snapshot file (`SnapshotFile`), streamed in 32 KiB
    /// pieces with the bytes remaining after each, as etcd streams its database.
    public func snapshot(
        request: Etcdserverpb_SnapshotRequest,
        write: (Etcdserverpb_SnapshotResponse) async throws -> Void
    ) async throws {
        try member.refuseIfLearner()
        let file: [UInt8]
        do { file = try await member.snapshotFile() } catch { throw error }
        let header = Wire.header(member.header(identity), revision: member.status.revision)
        var offset = 0
        repeat {
            let end = min(offset + 32 * 1024, file.count)
            var piece = Etcdserverpb_SnapshotResponse()
            piece.header = header
            piece.blob = Data(file[offset..<end])
            piece.remainingBytes = UInt64(file.count - end)
            try await write(piece)
            offset = end
        } while offset < file.count
    }

    /// Only the leader hands over leadership (etcd answers "not leader" elsewhere; etcdctl
    /// finds the leader among its endpoints first).
    public func moveLeader(request: Etcdserverpb_MoveLeaderRequest) async throws -> Etcdserverpb_MoveLeaderResponse {
        try member.refuseIfLearner()
        do { try await member.transferLeadership(to: NodeID(request.targetID)) } catch { throw error }
        var out = Etcdserverpb_MoveLeaderResponse()
        out.header = Wire.header(member.header(identity), revision: member.status.revision)
        return out
    }
}
