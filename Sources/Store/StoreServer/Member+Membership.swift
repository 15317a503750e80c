import Raft

/// Membership changes (checked against the applied membership with etcd's errors, proposed one
/// at a time, answered when applied) and leader transfers (answered once the target leads).
struct MembershipChanges {
    /// Changes waiting to be proposed (no leader, or another change in flight).
    var waiting: [Member.ConfChangeWaiter] = []
    /// Changes proposed and not yet applied.
    var proposed: [Member.ConfChangeWaiter] = []
    /// Leader transfers under way.
    var transfers: [Member.TransferWaiter] = []

    mutating func fail(_ e: MemberError) {
        for w in waiting + proposed { w.continuation.resume(throwing: e) }
        for w in transfers { w.continuation.resume(throwing: e) }
        waiting.removeAll()
        proposed.removeAll()
        transfers.removeAll()
    }
}

extension Member {
    /// A membership change asked here: refused at once, or queued to be proposed.
    func requested(_ w: ConfChangeWaiter) {
        if let refusal = check(w.change) {
            w.continuation.resume(throwing: MemberError.cluster(refusal))
        } else {
            turns.changes.waiting.append(w)
        }
    }

    /// Why a membership change is refused by the membership as applied here, or nil.
    func check(_ change: ConfChange) -> ClusterError? {
        let cluster = turns.cluster
        let existing = cluster[change.nodeID]
        switch change.kind {
        case .addVoter, .addLearner:
            if let existing {
                // Adding an existing member as a voter is a promotion; anything else exists already.
                guard change.kind == .addVoter else { return .memberExists }
                return existing.isLearner ? nil : .notLearner
            }
            if cluster.removed.contains(change.nodeID) { return .memberExists }
            guard let added = ClusterMember(id: change.nodeID, context: change.context, isLearner: false) else { return .badURLs }
            let used = Set(cluster.members.values.flatMap(\.peerURLs))
            if added.peerURLs.contains(where: used.contains) { return .peerURLExists }
            if change.kind == .addLearner && cluster.members.values.contains(where: \.isLearner) { return .tooManyLearners }
            return nil
        case .removeNode:
            return existing == nil ? .memberNotFound : nil
        }
    }

    /// Proposes the waiting membership changes, one at a time as the core allows; those that
    /// cannot be proposed yet (no leader, another change in flight) are tried again next turn.
    func proposeConfChanges(tick: Bool) {
        let now = clock.now
        let late: MemberError = turns.raft.leader == .none ? .noLeader : .timedOut
        if tick {
            turns.changes.proposed.removeAll { w in
                guard w.deadline <= now else { return false }
                w.continuation.resume(throwing: late)
                return true
            }
        }
        var waiting: [ConfChangeWaiter] = []
        for w in turns.changes.waiting {
            if w.deadline <= now {
                w.continuation.resume(throwing: late)
                continue
            }
            do {
                try turns.raft.proposeConfChange(w.change)
                turns.changes.proposed.append(w)
            } catch {
                if case .invalidConfChange = error {
                    w.continuation.resume(throwing: MemberError.cluster(w.change.kind == .removeNode ? .memberNotFound : .memberExists))
                } else {
                    waiting.append(w)
                }
            }
        }
        turns.changes.waiting = waiting
    }

    /// A committed membership entry: the core, the membership and the callers waiting for it.
    func applyConfChange(_ entry: Entry) {
        guard let change = ConfChange(decoding: entry.data) else { return }
        _ = turns.raft.applyConfChange(change)
        turns.cluster.apply(change)
        membershipChanged()
        let members = turns.cluster.sorted
        turns.changes.proposed.removeAll { w in
            guard w.change.kind == change.kind && w.change.nodeID == change.nodeID else { return false }
            w.continuation.resume(returning: members)
            return true
        }
    }

    /// Tells callers and the observer (the transport) the membership as applied now.
    func membershipChanged() {
        let list = turns.cluster.sorted
        let learner = turns.cluster[config.id]?.isLearner ?? false
        lock.withLock {
            shared.members = list
            shared.isLearner = learner
        }
        membershipObserver(turns.cluster)
    }

    /// A leader transfer asked here: only the leader may, and only to a voter.
    func requested(_ w: TransferWaiter) {
        if turns.raft.role != .leader {
            w.continuation.resume(throwing: MemberError.cluster(.notLeader))
        } else if w.target == config.id {
            w.continuation.resume()
        } else if !turns.raft.confState.voters.contains(w.target) {
            w.continuation.resume(throwing: MemberError.cluster(.badLeaderTransferee))
        } else {
            do {
                try turns.raft.transferLeadership(to: w.target)
                turns.changes.transfers.append(w)
            } catch {
                w.continuation.resume(throwing: MemberError.cluster(.badLeaderTransferee))
            }
        }
    }

    /// Answers the transfers whose target now leads, and fails those past their deadline.
    func settleTransfers() {
        guard !turns.changes.transfers.isEmpty else { return }
        let now = clock.now
        let leader = turns.raft.leader
        turns.changes.transfers.removeAll { w in
            if leader == w.target {
                w.continuation.resume()
                return true
            }
            if w.deadline <= now {
                w.continuation.resume(throwing: MemberError.cluster(.leaderTransferTimedOut))
                return true
            }
            return false
        }
    }
}
