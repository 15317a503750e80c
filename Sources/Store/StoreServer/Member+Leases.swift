import MVCC
import Raft

/// Leases and calls between members: the leader keeps every lease's clock and proposes the
/// revokes of expired ones; keep-alives and TimeToLive go to the leader (forwarded from a
/// follower); a hash call (the consistency check) goes to one named member.
struct LeaseCalls {
    /// When each lease expires: kept by the leader only (see `LeaseClock`).
    var clock = LeaseClock()
    var leading = false
    /// Expired leases whose revoke was proposed, and when (proposed again after `MemberLimits.leaseRevokeRetry`).
    var revoking: [Int64: ContinuousClock.Instant] = [:]
    /// This member's lease calls: forwarded to the leader and waiting for its answer, or held
    /// while there is no leader.
    var nextCall: UInt64 = 0
    var forwarded: [UInt64: (sent: ContinuousClock.Instant, call: Member.LeaderCallWaiter)] = [:]
    var held: [Member.LeaderCallWaiter] = []
    /// Calls to one named member (the consistency check), waiting for its answer.
    var direct: [UInt64: Member.LeaderCallWaiter] = [:]

    /// Answers every call waiting here with `notLeader`.
    mutating func failCalls() {
        for w in held + Array(direct.values) { w.continuation.resume(returning: .notLeader) }
        for (_, f) in forwarded { f.call.continuation.resume(returning: .notLeader) }
        held.removeAll()
        direct.removeAll()
        forwarded.removeAll()
    }

    /// Ends the direct calls whose deadline passed (`notLeader`: no answer came).
    mutating func expireDirect(now: ContinuousClock.Instant) {
        direct = direct.filter { _, w in
            guard w.deadline <= now else { return true }
            w.continuation.resume(returning: .notLeader)
            return false
        }
    }
}

extension Member {
    /// The leader's answer to a lease call; `notLeader` on any other member.
    func answerLeaderCall(_ call: LeaderCall) -> LeaderCallResult {
        if case .hashKV(let revision) = call {
            // Any member answers: its own hash at that revision, if it has the revision.
            guard let h = try? turns.store.view.hashKV(revision: revision) else { return .notFound }
            return .hash(h.hash, compactRevision: h.compactRevision)
        }
        guard turns.raft.role == .leader else { return .notLeader }
        let now = clock.nanoseconds
        switch call {
        case .renew(let id):
            // A lease past its deadline is being revoked: renewing it cannot save it.
            guard let lease = turns.store.leases[id], turns.leases.revoking[id] == nil else { return .notFound }
            turns.leases.clock.track(id, ttl: lease.ttl, now: now)
            return .renewed(ttl: lease.ttl)
        case .timeToLive(let id, let keys):
            guard turns.store.leases[id] != nil else { return .notFound }
            let remaining = turns.leases.clock.remaining(id, now: now)
            return .timeToLive(turns.store.leaseTimeToLive(id: id, keys: keys, remaining: remaining))
        case .learnerReady(let member):
            let progress = Dictionary(turns.raft.replicationProgress.map { ($0.0, $0.1.match) }, uniquingKeysWith: { a, _ in a })
            guard let learner = progress[member], let own = progress[config.id] else { return .ready(false) }
            return .ready(Double(learner.rawValue) >= Double(own.rawValue) * MemberLimits.learnerReadyShare)
        case .hashKV: return .notFound
        }
    }

    /// A call to one member: answered here when it is this one, sent to it otherwise.
    func directCall(_ w: LeaderCallWaiter, to member: NodeID) {
        if member == config.id { return w.continuation.resume(returning: answerLeaderCall(w.call)) }
        turns.leases.nextCall += 1
        let request = turns.leases.nextCall
        turns.leases.direct[request] = w
        let forwarded = ForwardedLeaderCall(request: request, from: config.id, call: w.call)
        transport.send(.leaderCalls([forwarded]), to: member)
    }

    /// Answers from other members to this member's forwarded and direct calls.
    func receive(answers: [LeaderCallAnswer]) {
        for a in answers {
            if let d = turns.leases.direct.removeValue(forKey: a.request) {
                d.continuation.resume(returning: a.result)
                continue
            }
            guard let f = turns.leases.forwarded[a.request] else { continue }
            if a.result == .notLeader {
                // The leader changed meanwhile: ask again at the next tick.
                turns.leases.forwarded[a.request] = (clock.now - .seconds(3600), f.call)
            } else {
                turns.leases.forwarded[a.request] = nil
                f.call.continuation.resume(returning: a.result)
            }
        }
    }

    /// Leadership changes of the lease clock, expiry (the leader proposes the revokes), and this
    /// member's lease calls: answered here on the leader, forwarded to it otherwise.
    func leaseTurn(calls: [LeaderCallWaiter], tick: Bool) {
        let isLeader = turns.raft.role == .leader
        if isLeader != turns.leases.leading {
            turns.leases.leading = isLeader
            if isLeader {
                turns.leases.clock.promote(turns.store.leases.values, now: clock.nanoseconds)
            } else {
                turns.leases.clock.demote()
            }
            turns.leases.revoking.removeAll()
        }
        if turns.leasesChanged {
            turns.leasesChanged = false
            let ids = turns.store.leaseIDs
            lock.withLock { shared.leaseIDs = ids }
        }
        let now = clock.now
        if isLeader && tick { revokeExpiredLeases(now: now) }
        route(calls: calls, now: now, tick: tick)
    }

    /// Proposes the revokes of leases past their deadline (nobody waits for these: origin 0
    /// matches no member), again for those not applied within `MemberLimits.leaseRevokeRetry`.
    private func revokeExpiredLeases(now: ContinuousClock.Instant) {
        let due = turns.leases.clock.expired(now: clock.nanoseconds, limit: MemberLimits.revokesPerTick).filter { id in
            guard let at = turns.leases.revoking[id] else { return true }
            return now - at > MemberLimits.leaseRevokeRetry
        }
        guard !due.isEmpty else { return }
        for id in due { turns.leases.revoking[id] = now }
        try? turns.raft.propose(batch: due.map { RequestCodec.encode(origin: 0, sequence: 0, .leaseRevoke(id: $0)) })
    }

    /// Answers, forwards or holds this member's lease calls (at a tick, also those forwarded and
    /// unanswered for `MemberLimits.readRetry`).
    private func route(calls: [LeaderCallWaiter], now: ContinuousClock.Instant, tick: Bool) {
        var pending = turns.leases.held + calls
        turns.leases.held.removeAll()
        if tick {
            for (request, f) in turns.leases.forwarded where now - f.sent >= MemberLimits.readRetry || f.call.deadline <= now {
                turns.leases.forwarded[request] = nil
                pending.append(f.call)
            }
        }
        let leader = turns.raft.leader
        for w in pending {
            if w.deadline <= now {
                w.continuation.resume(returning: .notLeader)
            } else if turns.raft.role == .leader {
                w.continuation.resume(returning: answerLeaderCall(w.call))
            } else if leader != .none {
                turns.leases.nextCall += 1
                let request = turns.leases.nextCall
                turns.leases.forwarded[request] = (now, w)
                let forwarded = ForwardedLeaderCall(request: request, from: config.id, call: w.call)
                transport.send(.leaderCalls([forwarded]), to: leader)
            } else {
                turns.leases.held.append(w)
            }
        }
    }
}
