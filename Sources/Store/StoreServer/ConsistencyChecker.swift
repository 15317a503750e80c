import Base
import Foundation
public import Logging
import MVCC
public import Raft

/// etcd's periodic corruption check (`--experimental-corrupt-check-time`), on the leader: every
/// interval it takes its own HashKV at its applied revision and asks every other member for
/// theirs at the same revision. A member with the same compaction revision and a different
/// hash has diverged: the leader raises the CORRUPT alarm for it through the log (every member
/// then reports the alarm; /health turns unhealthy) and logs both hashes. A member that has
/// not applied the revision yet, or has compacted past it, or does not answer is skipped.
public final class ConsistencyChecker: @unchecked Sendable {
    let member: Member
    let interval: Duration
    let logger: Logger
    private let job = Locked<PeriodicTask?>(nil)

    public init(member: Member, interval: Duration, logger: Logger) {
        self.member = member
        self.interval = interval
        self.logger = logger
    }

    public func start() {
        let task = PeriodicTask(interval: interval) { [self] in _ = await check() }
        job.withLock { $0 = task }
    }

    public func stop() { job.withLock { $0 }?.stop() }

    /// One round (the leader only); returns the members found to differ.
    @discardableResult
    public func check() async -> [NodeID] {
        let status = member.status
        guard status.role == .leader, let own = try? member.view.hashKV(revision: 0) else { return [] }
        var diverged: [NodeID] = []
        for peer in member.members where peer.id != member.config.id {
            guard case .hash(let hash, let compact) = await member.ask(.hashKV(revision: own.revision), member: peer.id),
                compact == own.compactRevision, hash != own.hash
            else { continue }
            diverged.append(peer.id)
            let id = String(peer.id.rawValue, radix: 16)
            logger.error(
                "consistency check: member \(id) has hash \(hash) at revision \(own.revision), the leader \(own.hash): raising the CORRUPT alarm for it"
            )
            _ = try? await member.write(.alarm(activate: true, AlarmMember(memberID: peer.id.rawValue, alarm: .corrupt)))
        }
        return diverged
    }
}
