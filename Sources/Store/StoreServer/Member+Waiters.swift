import MVCC
import Raft

/// What waits in a member: the events posted for its next turn, the callers waiting for an
/// answer, and how they end (answered, expired at their deadline, or failed all at once when
/// the member stops or its log fails).
extension Member {
    enum Event {
        case messages([Message])
        case leaderCall(LeaderCallWaiter)
        case directCall(LeaderCallWaiter, to: NodeID)
        case applyLocally(StateRequest)
        case confChange(ConfChangeWaiter)
        /// A snapshot written, or why it failed.
        case snapshotTaken(LogIndex, failure: String?)
        case snapshotFile(CheckedContinuation<[UInt8], any Error>)
        case transfer(TransferWaiter)
        case leaderCalls([ForwardedLeaderCall], from: NodeID)
        case leaderAnswers([LeaderCallAnswer])
        case propose(UInt64, [UInt8])
        case read
        case persisted(UInt64)
        case storageFailed(String)
    }

    /// Where a write's or read's answer goes: a callback, called once on the member's thread
    /// (the gRPC handlers answer from it without a task per call; `write(_:) async` wraps it).
    struct Reply<T: Sendable>: Sendable {
        let deliver: @Sendable (Result<T, MemberError>) -> Void
        func resume(returning value: T) { deliver(.success(value)) }
        func resume(throwing error: any Error) { deliver(.failure(error as? MemberError ?? .storage("\(error)"))) }
    }

    struct WriteWaiter {
        let deadline: ContinuousClock.Instant
        let continuation: Reply<StateResult>
        /// The leader when the write arrived: a timeout after a leader change says so, as etcd's does.
        var leader: NodeID? = nil
    }

    struct ConfChangeWaiter {
        let change: ConfChange
        let deadline: ContinuousClock.Instant
        let continuation: CheckedContinuation<[ClusterMember], any Error>
    }

    struct TransferWaiter {
        let target: NodeID
        let deadline: ContinuousClock.Instant
        let continuation: CheckedContinuation<Void, any Error>
    }

    struct LeaderCallWaiter {
        let call: LeaderCall
        let deadline: ContinuousClock.Instant
        let continuation: CheckedContinuation<LeaderCallResult, Never>
    }

    struct ReadWaiter {
        let deadline: ContinuousClock.Instant
        let continuation: Reply<ReadView>
    }

    /// Answers the writes this member proposed that were just applied.
    func answer(writes results: [(UInt64, Result<StateResult, MemberError>)]) {
        guard !results.isEmpty else { return }
        let resume = lock.withLock {
            results.compactMap { id, r in shared.writeWaiters.removeValue(forKey: id).map { ($0, r) } }
        }
        for (w, r) in resume {
            switch r {
            case .success(let v): w.continuation.resume(returning: v)
            case .failure(let e): w.continuation.resume(throwing: e)
            }
        }
    }

    func fail(writes ids: [UInt64], _ e: MemberError) {
        let waiters = lock.withLock { ids.compactMap { shared.writeWaiters.removeValue(forKey: $0) } }
        if !waiters.isEmpty { config.metrics.proposalsFailed.increment(by: waiters.count) }
        for w in waiters { w.continuation.resume(throwing: e) }
    }

    /// Ends the writes and reads whose deadline passed: without a leader as etcd's "no leader",
    /// with one as "request timed out" (or "possibly due to previous leader failure").
    func expireWaiters(now: ContinuousClock.Instant) {
        let reason: MemberError = turns.raft.leader == .none ? .noLeader : .timedOut
        let expired = lock.withLock { () -> [WriteWaiter] in
            let gone = shared.writeWaiters.filter { $0.value.deadline <= now }
            for id in gone.keys { shared.writeWaiters[id] = nil }
            return Array(gone.values)
        }
        if !expired.isEmpty { config.metrics.proposalsFailed.increment(by: expired.count) }
        for w in expired {
            // A write whose leader failed may or may not be committed: etcd says which case it is.
            let leaderFailed = reason == .timedOut && w.leader != nil && w.leader != turns.raft.leader
            w.continuation.resume(throwing: leaderFailed ? MemberError.timedOutDueToLeaderFail : reason)
        }
        turns.reads.expire(now: now, reason: reason)
    }

    /// Fails every caller still waiting (the member stops, or its log failed).
    func failEverything(_ e: MemberError) {
        let (writes, reads, calls) = takeEveryWaiter(e)
        for c in calls { c.continuation.resume(returning: .notLeader) }
        if !writes.isEmpty { config.metrics.proposalsFailed.increment(by: writes.count) }
        for w in writes { w.continuation.resume(throwing: e) }
        for r in reads { r.continuation.resume(throwing: e) }
        turns.reads.fail(e)
        turns.heldProposals.removeAll()
        turns.changes.fail(e)
        turns.leases.failCalls()
    }

    /// Takes the waiting writes, reads and calls out of `shared` (failing the membership changes,
    /// transfers and snapshot requests still in the inbox there and then).
    private func takeEveryWaiter(_ e: MemberError) -> ([WriteWaiter], [ReadWaiter], [LeaderCallWaiter]) {
        lock.withLock {
            let writes = Array(shared.writeWaiters.values)
            shared.writeWaiters.removeAll()
            let reads = shared.pendingReads
            shared.pendingReads.removeAll()
            var calls: [LeaderCallWaiter] = []
            shared.inbox.removeAll { event in
                switch event {
                case .leaderCall(let c), .directCall(let c, _): calls.append(c)
                case .confChange(let w): w.continuation.resume(throwing: e)
                case .transfer(let w): w.continuation.resume(throwing: e)
                case .snapshotFile(let c): c.resume(throwing: e)
                default: return false
                }
                return true
            }
            return (writes, reads, calls)
        }
    }
}
