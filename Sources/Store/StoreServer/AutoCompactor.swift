import Base
import Foundation
public import Logging

/// etcd's `--auto-compaction-mode` / `--auto-compaction-retention`, run on the leader only:
/// - `revision` mode keeps the newest `retention` revisions: every 5 minutes it compacts to the
///   current revision minus `retention`;
/// - `periodic` mode keeps `retention` of history: it samples the revision every tenth of the
///   retention (at most every hour) and compacts to the newest sample older than the retention.
/// Compactions go through the log like a client's; a refused one (already compacted) is skipped.
public final class AutoCompactor: @unchecked Sendable {
    public enum Mode: Sendable, Equatable {
        case periodic(Duration)
        case revision(Int64)
    }

    let member: Member
    let mode: Mode
    let logger: Logger
    private let every: Duration?
    private let samples = Locked<(list: [(ContinuousClock.Instant, Int64)], lastCompacted: Int64)>(([], 0))
    private let job = Locked<PeriodicTask?>(nil)

    /// `every` overrides how often it wakes up (tests).
    public init(member: Member, mode: Mode, every: Duration? = nil, logger: Logger = Logger(label: "capstan.store")) {
        self.logger = logger
        self.member = member
        self.mode = mode
        self.every = every
    }

    /// The revision to compact to, given samples of (time, revision) oldest first and now; nil
    /// when nothing is old enough yet.
    static func target(_ mode: Mode, samples: [(ContinuousClock.Instant, Int64)], now: ContinuousClock.Instant, revision: Int64) -> Int64? {
        switch mode {
        case .revision(let keep):
            let rev = revision - keep
            return rev > 0 ? rev : nil
        case .periodic(let retention):
            return samples.last { now - $0.0 >= retention }?.1
        }
    }

    /// How often the compactor wakes up.
    var interval: Duration {
        if let every { return every }
        switch mode {
        case .revision: return .seconds(300)
        case .periodic(let retention): return min(retention / 10, .seconds(3600))
        }
    }

    public func start() {
        let task = PeriodicTask(interval: interval) { [self] in await round() }
        job.withLock { $0 = task }
    }

    public func stop() { job.withLock { $0 }?.stop() }

    /// One wake-up: sample the revision; on the leader, compact when something is old enough.
    private func round() async {
        let status = member.status
        let now = ContinuousClock.now
        let mode = mode
        let target = samples.withLock { s -> Int64? in
            s.list.append((now, status.revision))
            if case .periodic(let retention) = mode {
                // Keep one sample older than the retention, and everything after it.
                while s.list.count > 1 && now - s.list[1].0 >= retention { s.list.removeFirst() }
            }
            guard status.role == .leader, let t = Self.target(mode, samples: s.list, now: now, revision: status.revision),
                t > s.lastCompacted
            else { return nil }
            s.lastCompacted = t
            return t
        }
        guard let target else { return }
        var failure: String?
        do { _ = try await member.write(.compact(revision: target)) } catch { failure = "\(error)" }
        if let failure {
            if !failure.contains("compacted") {
                logger.warning("auto-compaction to revision \(target) failed: \(failure)")
            }
        } else {
            logger.info("auto-compacted to revision \(target)")
        }
    }
}
