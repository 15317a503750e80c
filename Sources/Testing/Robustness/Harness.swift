import Base
public import Checker
import EtcdClient
import EtcdProto
import Foundation
import Synchronization

/// One fault, injected once during a run.
public enum Fault: String, CaseIterable, Sendable, Codable {
    /// SIGKILL to the leader; restarted 1 s later.
    case killLeader = "kill-leader"
    /// SIGKILL to a follower; restarted 1 s later.
    case killFollower = "kill-follower"
    /// SIGKILL to every member at once (a power cut); all restarted 1 s later.
    case killAll = "kill-all"
    /// The leader hands leadership to a follower under load (etcd's MoveLeader).
    case moveLeader = "move-leader"
    /// SIGSTOP to the leader for three election timeouts, then SIGCONT: the others elect a new
    /// leader while the old one, cut off, still believes it leads; then it comes back.
    case pauseLeader = "pause-leader"
    /// SIGSTOP to a follower for three election timeouts, then SIGCONT.
    case pauseFollower = "pause-follower"
    /// The leader cut off from its peers (not from clients) for three election timeouts, then healed.
    case partitionLeader = "partition-leader"
    /// A follower cut off from its peers (not from clients) for three election timeouts, then healed.
    case partitionFollower = "partition-follower"
    /// The leader hears nothing from its peers for 3 s, while they still hear it.
    case partitionLeaderInbound = "partition-leader-inbound"
    /// The leader's messages reach nobody for 3 s, while it still hears its peers.
    case partitionLeaderOutbound = "partition-leader-outbound"
    /// Every fsync of the leader waits 200 ms more for 3 s.
    case slowDiskLeader = "slow-disk-leader"
    /// Every fsync of a follower waits 200 ms more for 3 s.
    case slowDiskFollower = "slow-disk-follower"
    /// A follower removed from the cluster (MemberRemove) and killed; a new member with new
    /// ports and no data added (MemberAdd) and started in its place.
    case replaceFollower = "replace-follower"
    /// The same for the leader: removed (it steps down once the removal commits), killed, replaced.
    case replaceLeader = "replace-leader"
}

/// The clients' traffic.
public enum Traffic: String, CaseIterable, Sendable, Codable {
    /// Gets, ranges, puts, deletes, compare-and-sets, two-key txns and leases on a few groups of
    /// two keys: checked for linearizability (`KVModel`).
    case kv
    /// Kubernetes' shape: lists of a prefix, creates, updates and deletes as txns on
    /// mod_revision: checked against the revisions (RevisionChecker).
    case kubernetes
    /// etcd's mix: gets (some serializable), puts (some of 32 KiB, some with a lease), deletes,
    /// 4-key txns, lease grants and revokes, ranges: checked against the revisions.
    case etcd
}

/// What one run does.
public struct RobustnessConfig: Sendable {
    /// The `capstan` executable.
    public var binary: String
    /// Where the members' data and logs go (created; left for a failed run's inspection).
    public var directory: String
    public var fault: Fault
    /// Faults injected after the first, one at a time, each followed by a phase of its own.
    public var thenFaults: [Fault] = []
    public var traffic = Traffic.kv
    /// Bugs the members are started with on purpose (`--inject-bug`), to show the checks catch them.
    public var plantedBugs: [String] = []
    /// Concurrent KV clients, and how many keys they share: groups of two keys with the `kv`
    /// traffic, three times as many keys (or objects) with the others.
    public var clients = 6
    public var keys = 3
    /// Clients that only read (linearizable gets), each staying with one member (one per member
    /// by default): what a member that is cut off or behind answers is always asked.
    public var readers = 3
    /// Watchers of every key from revision 1 (prev_kv and progress notifications asked for).
    public var watchers = 2
    /// Each phase (before the fault; after it, counting from 1 s after it) lasts until this many
    /// writes are acknowledged and `phaseDuration` has passed — or `phaseLimit`, a failure.
    public var writesPerPhase = 200
    public var phaseDuration: Duration = .zero
    public var phaseLimit: Duration = .seconds(90)
    /// The members' flags beyond the cluster's own (and the fault-control file every member
    /// gets): progress notifications every second.
    public var memberArguments = ["--experimental-watch-progress-notify-interval", "1s"]

    public init(binary: String, directory: String, fault: Fault) {
        self.binary = binary
        self.directory = directory
        self.fault = fault
    }
}

/// What a run recorded and what the checks found.
public struct RobustnessReport: Sendable, Codable {
    public var fault: Fault
    /// Every fault injected, in order (the first is `fault`).
    public var faults: [Fault] = []
    public var traffic = Traffic.kv
    public var operations = 0
    public var writesAcknowledged = 0
    /// Writes without an answer (timed out, connection lost): they may or may not have happened.
    public var unknownOutcomes = 0
    public var watchEvents = 0
    public var progressNotifications = 0
    /// Compactions acknowledged (etcd's mix).
    public var compactions = 0
    /// Keys put with a lease left to expire that the watchers saw go (etcd's mix).
    public var expiries = 0
    /// The highest revision a client saw acknowledged.
    public var lastRevision: Int64 = 0
    public var seconds = 0.0
    /// When the fault was injected, in seconds from the start of the traffic.
    public var faultAt = 0.0
    public var checkSeconds = 0.0
    /// nil: linearizable; otherwise the minimal failing sub-history, or why the check gave up.
    public var linearizabilityFailure: String?
    public var watchViolations: [WatchChecker.Violation] = []

    /// nil: once the traffic stopped, every member reached the same revision with the same
    /// HashKV; otherwise what differed.
    public var divergence: String?

    /// The Kubernetes traffic's operations against the revisions (empty: none found).
    public var revisionViolations: [RevisionChecker.Violation] = []

    public var passed: Bool { linearizabilityFailure == nil && watchViolations.isEmpty && divergence == nil && revisionViolations.isEmpty }

    /// One line: the fault, the counts, and the verdict.
    public var summary: String {
        let verdict =
            passed
            ? "ok"
            : "FAILED ("
                + [
                    linearizabilityFailure.map { _ in "not linearizable" }, divergence.map { _ in "members diverged" },
                    revisionViolations.isEmpty ? nil : "\(revisionViolations.count) revision violations",
                    watchViolations.isEmpty
                        ? nil
                        : "\(watchViolations.count) watch violations: "
                            + Set(watchViolations.map(\.property.rawValue)).sorted().joined(separator: ",")
                ]
                .compactMap { $0 }.joined(separator: "; ") + ")"
        return
            "\((faults.isEmpty ? [fault] : faults).map(\.rawValue).joined(separator: "+"))\(traffic == .kv ? "" : " (\(traffic.rawValue) traffic)"): \(operations) operations (\(writesAcknowledged) writes acknowledged, \(unknownOutcomes) unknown), "
            + "\(watchEvents) watch events, \(progressNotifications) progress notifications, "
            + (compactions > 0 ? "\(compactions) compactions, " : "") + (expiries > 0 ? "\(expiries) lease expiries, " : "")
            + "revision \(lastRevision), "
            + String(format: "%.1f s, checked in %.3f s: ", seconds, checkSeconds) + verdict
    }
}

/// The robustness harness (issue 7): three real members, concurrent clients recording every
/// operation with its call and return times, watchers recording every response, one fault, and
/// the history checked afterwards — linearizability of the KV operations (`KVModel`) and the
/// watch guarantees (`WatchChecker`).
public enum Robustness {
    public typealias KVOperation = Checker.Operation<KVModel.Input, KVModel.Output>

    public static func run(_ config: RobustnessConfig, log: @escaping @Sendable (String) -> Void = { _ in }) async throws
        -> RobustnessReport
    {
        var arguments = config.memberArguments
        for bug in config.plantedBugs { arguments += ["--inject-bug", bug] }
        let cluster = try StoreCluster(binary: config.binary, directory: config.directory, arguments: arguments)
        defer { cluster.shutdown() }
        log("cluster up in \(config.directory)")

        let start = ContinuousClock.now
        let recorder = Recorder()
        let stopClients = StopFlag()
        let stopWatchers = StopFlag()
        var report = RobustnessReport(fault: config.fault)
        report.faults = [config.fault] + config.thenFaults
        report.traffic = config.traffic
        var faultAt: UInt64 = 0
        try await withThrowingTaskGroup(of: Void.self) { watching in
            for w in 0..<config.watchers {
                watching.addTask { try await watch(w, cluster: cluster, recorder: recorder, stop: stopWatchers) }
            }
            if config.traffic == .kubernetes {
                watching.addTask {
                    try await reflect(
                        config.watchers, prefix: kubernetesPrefix, cluster: cluster, start: start, recorder: recorder, stop: stopWatchers)
                }
            }
            do {
                try await withThrowingTaskGroup(of: Void.self) { clients in
                    for c in 0..<(config.clients + config.readers) {
                        let readOnly = c >= config.clients
                        clients.addTask {
                            switch config.traffic {
                            case .kv:
                                try await kvClient(
                                    c, readOnly: readOnly, config: config, cluster: cluster, start: start, recorder: recorder,
                                    stop: stopClients)
                            case .kubernetes:
                                try await kubernetesClient(
                                    c, readOnly: readOnly, config: config, cluster: cluster, start: start, recorder: recorder,
                                    stop: stopClients)
                            case .etcd:
                                try await etcdMixClient(
                                    c, readOnly: readOnly, config: config, cluster: cluster, start: start, recorder: recorder,
                                    stop: stopClients)
                            }
                        }
                    }
                    // However the phases end, the clients stop, and finish what they started.
                    defer { stopClients.set() }
                    try await Self.phase("before the fault", after: 0, config: config, recorder: recorder)
                    for fault in report.faults {
                        // Found again before each fault: a fault may move the leader, and a
                        // replacement changes an endpoint.
                        let admin = try EtcdClient(endpoints: cluster.endpoints)
                        defer { admin.close() }
                        let leader = try await Self.leader(admin, among: Array(0..<cluster.size))
                        let at = nanoseconds(since: start)
                        if faultAt == 0 { faultAt = at }
                        log("injecting \(fault.rawValue) (leader \(cluster.name(leader)))")
                        try await inject(fault, cluster: cluster, admin: admin, leader: leader)
                        try await Self.phase("after \(fault.rawValue)", after: at + 1_000_000_000, config: config, recorder: recorder)
                    }
                }
            } catch {
                stopWatchers.set()
                watching.cancelAll()
                throw error
            }
            // Every write has its answer now; the watchers get until each acknowledged
            // revision has reached them (or 15 s: then the check reports them stalled).
            let top = recorder.acknowledgedRevision
            report.divergence = try await Self.converged(cluster, atLeast: top)
            let deadline = ContinuousClock.now + .seconds(15)
            while ContinuousClock.now < deadline && recorder.watcherRevisions(recorder.watcherCount).contains(where: { $0 < top }) {
                try await Task.sleep(for: .milliseconds(50))
            }
            stopWatchers.set()
            watching.cancelAll()
            while let next = await watching.nextResult() {
                if case .failure(let e) = next, !(e is CancellationError) { log("a watcher ended with \(e)") }
            }
        }
        report.seconds =
            Double((ContinuousClock.now - start).components.seconds)
            + Double((ContinuousClock.now - start).components.attoseconds) / 1e18

        let (history, writes, watchers) = recorder.snapshot()
        let revisionOps = recorder.revisionOperations
        report.operations = history.count + revisionOps.count
        report.writesAcknowledged =
            history.filter { $0.ret != .max && $0.input.isWrite }.count
            + revisionOps.count {
                switch $0.kind {
                case .list, .get: false
                default: true
                }
            }
        report.unknownOutcomes = history.filter { $0.ret == .max }.count + recorder.unknownRevisionWrites
        report.watchEvents = watchers.reduce(0) { $0 + $1.responses.reduce(0) { $0 + $1.events.count } }
        report.progressNotifications = watchers.reduce(0) { $0 + $1.responses.filter(\.isProgress).count }
        report.compactions = recorder.compactions
        let expiringLeases = Set(recorder.expiringLeases.map(\.id))
        let expiringKeys = Set(
            revisionOps.compactMap { op -> String? in
                if case .put(let key, _, let lease) = op.kind, expiringLeases.contains(lease) { return key }
                return nil
            })
        report.expiries =
            Set(watchers.flatMap { $0.responses.flatMap(\.events) }.filter { $0.value == nil && expiringKeys.contains($0.key) }.map(\.key))
            .count
        report.lastRevision = writes.map(\.revision).max() ?? 0

        let checkStart = ContinuousClock.now
        switch Linearizability.check(KVModel.self, history) {
        case .linearizable: break
        case .violation(let minimal, let part):
            report.linearizabilityFailure =
                "a part of \(part.count) operations on \(Set(part.flatMap(\.input.keys)).sorted().joined(separator: ", ")) is not linearizable; "
                + "a minimal failing sub-history (times in ms since the start):\n"
                + minimal.sorted { $0.call < $1.call }.map(Self.describe).joined(separator: "\n")
        case .unknown(let part):
            report.linearizabilityFailure = "the search gave up on a part of \(part.count) operations"
        }
        report.watchViolations = WatchChecker.check(watchers, writes: writes, denseRevisions: true)
        let log = RevisionChecker.log(from: watchers)
        report.revisionViolations = RevisionChecker.check(revisionOps, log: log)
        // A lease left to expire may live on by a TTL more after each leader change (etcd
        // renews leases when a leader takes over): its keys must be gone 2 TTLs + 10 s later.
        report.revisionViolations += RevisionChecker.checkExpiry(
            revisionOps, log: log, leases: recorder.expiringLeases,
            end: nanoseconds(since: start), late: 2 * UInt64(expiringTTL) * 1_000_000_000 + 10_000_000_000)
        let top = writes.map(\.revision).max() ?? 0
        for w in watchers {
            let reached = w.reachedRevision
            if reached < top {
                report.watchViolations.append(
                    .init(
                        property: .reliable, watcher: w.id, revision: top,
                        detail: "the watcher stalled at revision \(reached) (writes acknowledged up to \(top))"))
            }
        }
        report.checkSeconds =
            Double((ContinuousClock.now - checkStart).components.attoseconds) / 1e18
            + Double((ContinuousClock.now - checkStart).components.seconds)
        report.faultAt = Double(faultAt) / 1e9
        return report
    }

    /// Waits (up to 15 s) until every member reports the same revision, at least `atLeast`, and
    /// then compares their HashKV at it: nil if they agree, else what each said.
    static func converged(_ cluster: StoreCluster, atLeast: Int64) async throws -> String? {
        let probe = try EtcdClient(endpoints: cluster.endpoints)
        defer { probe.close() }
        let deadline = ContinuousClock.now + .seconds(15)
        var seen: [String] = []
        while ContinuousClock.now < deadline {
            var revisions: [Int64] = []
            for i in 0..<cluster.size {
                if let s = try? await probe.status(endpoint: i) { revisions.append(s.header.revision) }
            }
            seen = revisions.enumerated().map { "\(cluster.name($0.offset)): revision \($0.element)" }
            if revisions.count == cluster.size, Set(revisions).count == 1, let r = revisions.first, r >= atLeast {
                var hashes: [UInt32] = []
                for i in 0..<cluster.size { hashes.append(try await probe.hashKV(endpoint: i, revision: r).hash) }
                if Set(hashes).count == 1 { return nil }
                return "HashKV at revision \(r) differs: "
                    + hashes.enumerated().map { "\(cluster.name($0.offset)) \($0.element)" }.joined(separator: ", ")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return "the members did not reach one revision ≥ \(atLeast) within 15 s: " + seen.joined(separator: ", ")
    }

    static func describe(_ op: KVOperation) -> String {
        let ms = { (t: UInt64) in t == .max ? "never" : String(format: "%.1f", Double(t) / 1e6) }
        return "  [\(ms(op.call)) … \(ms(op.ret))] client \(op.client): \(op.input) -> \(op.output)"
    }

    /// The index of the member every running member names as leader.
    static func leader(_ admin: EtcdClient, among members: [Int], timeout: Duration = .seconds(30)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var seen: [(index: Int, member: UInt64, leader: UInt64)] = []
            for i in members {
                if let s = try? await admin.status(endpoint: i) { seen.append((i, s.header.memberID, s.leader)) }
            }
            if seen.count == members.count, Set(seen.map(\.leader)).count == 1, let l = seen.first(where: { $0.member == $0.leader }) {
                return l.index
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError.noLeader
    }

    /// Waits until `writesPerPhase` writes that started after `after` are acknowledged and the
    /// phase's duration has passed.
    static func phase(_ name: String, after: UInt64, config: RobustnessConfig, recorder: Recorder) async throws {
        let begun = ContinuousClock.now
        while true {
            let n = recorder.acknowledgedWrites(startedAfter: after)
            let elapsed = ContinuousClock.now - begun
            if n >= config.writesPerPhase && elapsed >= config.phaseDuration { return }
            if elapsed >= config.phaseLimit { throw HarnessError.tooFewWrites(phase: name, acknowledged: n, wanted: config.writesPerPhase) }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    static func inject(_ fault: Fault, cluster: StoreCluster, admin: EtcdClient, leader: Int) async throws {
        let follower = (leader + 1) % cluster.size
        switch fault {
        case .killLeader, .killFollower:
            let victim = fault == .killLeader ? leader : follower
            try await onThread {
                cluster.kill(victim)
                Thread.sleep(forTimeInterval: 1)
                try cluster.start(victim)
            }
        case .killAll:
            try await onThread {
                for i in 0..<cluster.size { cluster.kill(i) }
                Thread.sleep(forTimeInterval: 1)
                for i in 0..<cluster.size { try cluster.start(i) }
            }
        case .moveLeader:
            let target = try await admin.status(endpoint: follower).header.memberID
            try await admin.moveLeader(endpoint: leader, to: target)
        case .pauseLeader, .pauseFollower:
            let victim = fault == .pauseLeader ? leader : follower
            cluster.pause(victim, true)
            try await Task.sleep(for: .seconds(3))
            cluster.pause(victim, false)
        case .replaceFollower, .replaceLeader:
            let victim = fault == .replaceLeader ? leader : follower
            let id = try await admin.status(endpoint: victim).header.memberID
            // Asked of another member (under load, a member asked to remove itself was seen to
            // stop before it answered).
            let others = try EtcdClient(endpoints: cluster.endpoints.indices.filter { $0 != victim }.map { cluster.endpoints[$0] })
            defer { others.close() }
            try await others.memberRemove(id)
            cluster.kill(victim)
            let peerURL = cluster.prepareReplacement(victim)
            // Right after a leader's removal the others may still be electing: ask until one answers.
            let deadline = ContinuousClock.now + .seconds(30)
            while true {
                do {
                    _ = try await others.memberAdd(peerURLs: [peerURL])
                    break
                } catch {
                    if ContinuousClock.now > deadline { throw error }
                    if let members = try? await others.memberList(), members.contains(where: { $0.peerUrls == [peerURL] }) { break }
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            try await onThread { try cluster.start(victim) }
        case .partitionLeader, .partitionFollower, .partitionLeaderInbound, .partitionLeaderOutbound, .slowDiskLeader, .slowDiskFollower:
            let (victim, word): (Int, String) =
                switch fault {
                case .partitionLeader: (leader, "isolate")
                case .partitionFollower: (follower, "isolate")
                case .partitionLeaderInbound: (leader, "isolate-in")
                case .partitionLeaderOutbound: (leader, "isolate-out")
                case .slowDiskLeader: (leader, "slow-disk=200")
                default: (follower, "slow-disk=200")
                }
            try cluster.setFaults(victim, [word])
            try await Task.sleep(for: .seconds(3))
            try cluster.setFaults(victim, [])
        }
    }

    /// Runs blocking work on a thread of its own (not the tasks' shared pool).
    static func onThread(_ body: @escaping @Sendable () throws -> Void) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            Thread {
                do {
                    try body()
                    c.resume()
                } catch { c.resume(throwing: error) }
            }.start()
        }
    }

    static func nanoseconds(since start: ContinuousClock.Instant) -> UInt64 {
        UInt64((ContinuousClock.now - start).nanoseconds)
    }
}
