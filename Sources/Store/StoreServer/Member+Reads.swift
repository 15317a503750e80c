import MVCC
import Raft

/// Linearizable reads: every read waiting at one turn shares one ReadIndex round; a round's reads
/// are served once the member has applied through the index the round confirmed.
struct ReadRounds {
    /// ReadIndex round IDs. The leader knows a round by its ID alone, so the IDs of different
    /// members must not meet: each member counts from its own random start in a 2^62 space
    /// (counting from 0 everywhere, a follower's round that met the leader's own round of the
    /// same number was dropped and waited 500 ms for its retry: the p99 of linearizable reads).
    var next: UInt64
    /// Rounds in flight: when each was asked, and the reads waiting for it.
    var inFlight: [UInt64: (asked: ContinuousClock.Instant, waiters: [Member.ReadWaiter])] = [:]
    /// Rounds the leader confirmed, waiting until the member has applied through their index.
    var confirmed: [(index: LogIndex, waiters: [Member.ReadWaiter])] = []
    /// Reads that arrived while there was no leader: asked again every turn.
    var held: [Member.ReadWaiter] = []

    init(firstRound: UInt64) { next = firstRound }

    /// Takes the rounds that went unanswered for `MemberLimits.readRetry` (the request or its
    /// answer was lost between members, or the leader changed), to be asked again as etcd does;
    /// returns their reads and how many rounds they were.
    mutating func takeUnanswered(now: ContinuousClock.Instant) -> (reads: [Member.ReadWaiter], rounds: Int) {
        var reads: [Member.ReadWaiter] = []
        var rounds = 0
        for (round, r) in inFlight where now - r.asked >= MemberLimits.readRetry {
            reads += r.waiters
            rounds += 1
            inFlight[round] = nil
        }
        return (reads, rounds)
    }

    /// Asks one round for the held reads and `reads`; without a leader they are held again.
    mutating func ask(_ reads: [Member.ReadWaiter], raft: inout RaftNode, now: ContinuousClock.Instant) {
        let waiting = held + reads
        held.removeAll()
        guard !waiting.isEmpty else { return }
        next += 1
        inFlight[next] = (now, waiting)
        do { try raft.readIndex(requestID: next) } catch {
            inFlight[next] = nil
            if case .noLeader = error {
                held = waiting
            } else {
                for r in waiting { r.continuation.resume(throwing: MemberError.overloaded) }
            }
        }
    }

    /// The rounds the leader confirmed, from a Ready.
    mutating func confirm(_ states: [ReadState]) {
        for rs in states {
            if let round = inFlight.removeValue(forKey: rs.requestID) { confirmed.append((rs.index, round.waiters)) }
        }
    }

    /// Serves every confirmed round whose index is applied, from `view`.
    mutating func serve(applied: LogIndex, view: @autoclosure () -> ReadView) {
        guard !confirmed.isEmpty else { return }
        var v: ReadView?
        confirmed.removeAll { round in
            guard round.index <= applied else { return false }
            let answer = v ?? view()
            v = answer
            for w in round.waiters { w.continuation.resume(returning: answer) }
            return true
        }
    }

    /// Ends the reads whose deadline passed, with `reason`.
    mutating func expire(now: ContinuousClock.Instant, reason: MemberError) {
        var reads: [Member.ReadWaiter] = []
        held.removeAll { r in
            guard r.deadline <= now else { return false }
            reads.append(r)
            return true
        }
        for (round, r) in inFlight {
            let (old, fresh) = (r.waiters.filter { $0.deadline <= now }, r.waiters.filter { $0.deadline > now })
            reads += old
            inFlight[round] = fresh.isEmpty ? nil : (r.asked, fresh)
        }
        for i in confirmed.indices {
            reads += confirmed[i].waiters.filter { $0.deadline <= now }
            confirmed[i].waiters.removeAll { $0.deadline <= now }
        }
        confirmed.removeAll { $0.waiters.isEmpty }
        for r in reads { r.continuation.resume(throwing: reason) }
    }

    /// Fails every read this holds.
    mutating func fail(_ e: MemberError) {
        for r in held { r.continuation.resume(throwing: e) }
        for (_, round) in inFlight { for r in round.waiters { r.continuation.resume(throwing: e) } }
        for round in confirmed { for r in round.waiters { r.continuation.resume(throwing: e) } }
        held.removeAll()
        inFlight.removeAll()
        confirmed.removeAll()
    }
}
