import MVCC
import Raft

/// The member's turn, on its loop: everything posted since the last turn, at most one tick,
/// then what the Raft core has ready (messages out, the log written, entries applied, reads and
/// writes answered), and the status callers read.
extension Member {
    func turn(tick ticked: Bool) {
        guard let (events, reads) = takeInbox() else { return }
        let now = clock.now
        var retried: [ReadWaiter] = []
        if ticked { retried = onTick(now: now) }
        var proposals: [(UInt64, [UInt8])] = []
        var leaderCalls: [LeaderCallWaiter] = []
        for e in events {
            switch e {
            case .propose(let id, let data): proposals.append((id, data))
            case .leaderCall(let w): leaderCalls.append(w)
            default: handle(e)
            }
        }
        propose(proposals)
        turns.reads.ask(retried + reads, raft: &turns.raft, now: now)
        proposeConfChanges(tick: ticked)
        while let ready = turns.raft.takeReady() { handle(ready) }
        if turns.raft.leader != turns.lastLeader {
            if turns.raft.leader != .none { config.metrics.leaderChanges.increment() }
            turns.lastLeader = turns.raft.leader
        }
        turns.reads.serve(applied: turns.raft.appliedIndex, view: turns.store.view)
        leaseTurn(calls: leaderCalls, tick: ticked)
        settleTransfers()
        if publishStatus() { finish() }
    }

    /// Takes the inbox and the reads posted since the last turn; nil when the member stopped
    /// (or stops now: the last turn then runs `finish`).
    private func takeInbox() -> (events: [Event], reads: [ReadWaiter])? {
        lock.lock()
        if shared.stopped {
            lock.unlock()
            return nil
        }
        shared.turnScheduled = false
        let events = shared.inbox
        shared.inbox.removeAll(keepingCapacity: true)
        let reads = shared.pendingReads
        shared.pendingReads.removeAll()
        let stop = shared.stopping
        lock.unlock()
        if stop {
            finish()
            return nil
        }
        return (events, reads)
    }

    /// A tick: the core's clock, deadlines, lost snapshots; returns the reads of the ReadIndex
    /// rounds that went unanswered, to be asked again.
    private func onTick(now: ContinuousClock.Instant) -> [ReadWaiter] {
        turns.raft.tick()
        expireWaiters(now: now)
        turns.leases.expireDirect(now: now)
        reportLostSnapshots(now: now)
        let (reads, rounds) = turns.reads.takeUnanswered(now: now)
        if rounds > 0 { retriedRounds.withLock { $0 += rounds } }
        return reads
    }

    /// One posted event other than a proposal or a lease call (those are gathered for the turn).
    private func handle(_ event: Event) {
        switch event {
        case .messages(let ms): for m in ms { turns.raft.step(m) }
        case .propose, .leaderCall, .read: break
        case .directCall(let w, let to): directCall(w, to: to)
        case .applyLocally(let r):
            // Tests only: state that did not come through the log (a diverged member).
            _ = apply(r)
            publisher.publish(turns.store.view)
        case .snapshotTaken(let index, let failure): snapshotTaken(index, failure: failure)
        case .snapshotFile(let c): encodeSnapshotFile(for: c)
        case .confChange(let w): requested(w)
        case .transfer(let w): requested(w)
        case .leaderCalls(let calls, let from):
            let answers = calls.map { LeaderCallAnswer(request: $0.request, result: answerLeaderCall($0.call)) }
            transport.send(.leaderAnswers(answers), to: from)
        case .leaderAnswers(let answers): receive(answers: answers)
        case .persisted(let number): persisted(number)
        case .storageFailed(let why):
            // Fail-stop: the WAL can no longer promise durability.
            failEverything(.storage(why))
            lock.withLock { shared.stopping = true }
        }
    }

    /// Proposes this turn's writes after those held while there was no leader (only those whose
    /// callers still wait: a write is not proposed after its caller gave up).
    private func propose(_ fresh: [(UInt64, [UInt8])]) {
        var proposals = fresh
        if !turns.heldProposals.isEmpty {
            let held = turns.heldProposals
            let live = lock.withLock { held.filter { shared.writeWaiters[$0.0] != nil } }
            proposals = live + proposals
            turns.heldProposals.removeAll()
        }
        guard !proposals.isEmpty else { return }
        do { try turns.raft.propose(batch: proposals.map(\.1)) } catch {
            if case .noLeader = error { turns.heldProposals = proposals } else { fail(writes: proposals.map(\.0), .overloaded) }
        }
    }

    /// What the core has ready: messages out, the log written, committed entries applied,
    /// confirmed reads and applied writes answered.
    private func handle(_ ready: Ready) {
        transport.send(ready.messages)
        for m in ready.messages where m.kind == .snapshot { turns.durability.snapshotsSent[m.to] = clock.now }
        persist(ready)
        if turns.raft.term != turns.headerTerm {
            turns.headerTerm = turns.raft.term
            let ids = lock.withLock { shared.headerIDs }
            hub.setHeader(ResponseHeaderInfo(clusterID: ids.cluster, memberID: ids.member, raftTerm: turns.raft.term.rawValue))
        }
        let results = applyCommitted(ready.committedEntries)
        turns.reads.confirm(ready.readStates)
        answer(writes: results)
    }

    /// Sets the status callers read; returns whether the member is stopping.
    private func publishStatus() -> Bool {
        let leader = turns.raft.leader
        let status = MemberStatus(
            leader: leader == .none ? nil : leader, term: turns.raft.term, role: turns.raft.role,
            appliedIndex: turns.raft.appliedIndex, commitIndex: turns.raft.commitIndex, revision: turns.store.revision,
            dbSize: turns.store.accountedBytes, alarms: turns.store.alarms.sorted())
        return lock.withLock {
            shared.status = status
            return shared.stopping
        }
    }

    /// The last turn: everything still waiting fails with `stopped`.
    private func finish() {
        turns.tickTask?.cancel()
        turns.tickTask = nil
        failEverything(.stopped)
        lock.withLock {
            shared.stopped = true
            lock.broadcast()
        }
    }
}
