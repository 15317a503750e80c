import MVCC
import Raft

/// Applying committed entries to the state machine, and publishing the views readers see.
extension Member {
    /// Applies a Ready's committed entries; returns the results of the writes this member
    /// proposed, by sequence number.
    func applyCommitted(_ entries: [Entry]) -> [(UInt64, Result<StateResult, MemberError>)] {
        var results: [(UInt64, Result<StateResult, MemberError>)] = []
        // Readers wait for the view while entries are applied (see ViewPublisher); they get
        // one at least every `withdrawnEntriesLimit` entries.
        if !entries.isEmpty { publisher.withdraw() }
        for (n, entry) in entries.enumerated() {
            if n > 0 && n % ViewPublisher.withdrawnEntriesLimit == 0 {
                publisher.publish(turns.store.view)
                publisher.withdraw()
            }
            switch entry.kind {
            case .confChange:
                applyConfChange(entry)
            case .normal:
                guard !entry.data.isEmpty else { continue }
                guard let (origin, sequence, request) = try? RequestCodec.decode(entry.data) else {
                    // Every member refuses the same damaged entry the same way.
                    continue
                }
                let started = ContinuousClock.now
                turns.store.alarmMemberID = origin
                let result = apply(request)
                config.metrics.apply.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
                // Only the member that proposed it has a caller waiting for it.
                if origin == config.id.rawValue { results.append((sequence, result)) }
            }
        }
        if let last = entries.last {
            turns.raft.applied(through: last.index)
            publisher.publish(turns.store.view)
            hub.notify(turns.store.view)
            snapshotIfDue(applied: last.index)
        }
        return results
    }

    /// Applies one request to the state machine (and to the lease clock and the membership).
    func apply(_ request: StateRequest) -> Result<StateResult, MemberError> {
        do {
            switch request {
            case .put(let p): return .success(.put(try turns.store.put(p)))
            case .deleteRange(let d): return .success(.deleteRange(try turns.store.deleteRange(d)))
            case .txn(let t): return .success(.txn(try turns.store.txn(t)))
            case .compact(let rev):
                let compacted = try turns.store.compact(rev)
                MemoryTrimmer.shared.trimSoon()
                return .success(.compact(compacted))
            case .leaseGrant(let id, let ttl):
                let granted = try turns.store.leaseGrant(id: id, ttl: ttl)
                turns.leasesChanged = true
                if turns.leases.leading { turns.leases.clock.track(id, ttl: granted.ttl, now: clock.nanoseconds) }
                return .success(.leaseGrant(granted))
            case .leaseRevoke(let id):
                turns.leases.clock.forget(id)
                turns.leases.revoking[id] = nil
                turns.leasesChanged = true
                return .success(.leaseRevoke(revision: try turns.store.leaseRevoke(id: id)))
            case .alarm(let on, let a):
                if on { turns.store.activate(a) } else { turns.store.deactivate(a) }
                return .success(.alarm(revision: turns.store.revision))
            case .publish(let id, let name, let urls):
                turns.cluster.publish(id: NodeID(id), name: name, clientURLs: urls)
                membershipChanged()
                return .success(.member)
            case .updateMember(let id, let urls):
                turns.cluster.update(id: NodeID(id), peerURLs: urls)
                membershipChanged()
                return .success(.member)
            }
        } catch {
            return .failure(.mvcc(error))
        }
    }
}
