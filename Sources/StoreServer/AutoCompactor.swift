import Foundation

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
    private let every: Duration?
    private var thread: Thread?
    private let stopped = NSCondition()
    private var stopping = false

    /// `every` overrides how often it wakes up (tests).
    public init(member: Member, mode: Mode, every: Duration? = nil) {
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
        let t = Thread { [self] in run() }
        t.name = "capstan-auto-compactor"
        thread = t
        t.start()
    }

    public func stop() {
        stopped.withLock {
            stopping = true
            stopped.broadcast()
        }
    }

    private func run() {
        var samples: [(ContinuousClock.Instant, Int64)] = []
        var lastCompacted: Int64 = 0
        let every = interval
        while true {
            let seconds = Double(every.components.seconds) + Double(every.components.attoseconds) / 1e18
            let quit = stopped.withLock { () -> Bool in
                if !stopping { _ = stopped.wait(until: Date(timeIntervalSinceNow: seconds)) }
                return stopping
            }
            if quit { return }
            let status = member.status
            let now = ContinuousClock.now
            samples.append((now, status.revision))
            if case .periodic(let retention) = mode {
                // Keep one sample older than the retention, and everything after it.
                while samples.count > 1 && now - samples[1].0 >= retention { samples.removeFirst() }
            }
            guard status.role == .leader,
                  let target = Self.target(mode, samples: samples, now: now, revision: status.revision),
                  target > lastCompacted else { continue }
            let done = DispatchSemaphore(value: 0)
            let member = member
            let result = LockedBox<String?>(nil)
            Task {
                do { _ = try await member.write(.compact(revision: target)) } catch { result.value = "\(error)" }
                done.signal()
            }
            done.wait()
            if let failure = result.value {
                if !failure.contains("compacted") {
                    FileHandle.standardError.write(Data("capstan store: auto-compaction to revision \(target) failed: \(failure)\n".utf8))
                }
            } else {
                FileHandle.standardError.write(Data("capstan store: auto-compacted to revision \(target)\n".utf8))
            }
            lastCompacted = target
        }
    }
}
