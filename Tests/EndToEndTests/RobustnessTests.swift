import Checker
import Foundation
import Robustness
import Testing

/// The robustness harness on real `capstan store` processes: every fault once, with the
/// history checked for linearizability and the watch guarantees; and every planted bug caught.
/// Each phase runs until 200 writes are acknowledged (counts, not fixed times: CI runs this
/// beside every other suite on two cores).
///
/// The harness runs as a process of its own (`capstan robustness --report FILE`), as the fuzzer
/// does: its clients are Swift tasks, and in this process the CPU-bound suites beside them (the
/// Raft simulations, the property tests) hold both threads of Swift's pool for seconds at a
/// time — a phase that takes 10 s alone took 80–93 s here, and once none of 200 writes was
/// acknowledged within 90 s (CI, session 8). The operating system shares the cores between
/// processes; the pool is not preemptive.
@Suite(.serialized) struct RobustnessTests {
    typealias E = EtcdctlTests

    /// One `capstan robustness` process with `arguments`; its reports, one per run completed.
    static func harness(_ arguments: [String], runs: Int = 1) async throws -> [RobustnessReport] {
        let capstan = try #require(E.capstanBinary(), "the capstan executable was not built")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "capstan-robustness-\(UInt64.random(in: 0...UInt64.max))"
        ).path
        let reportPath = directory + ".report.json"
        defer {
            try? FileManager.default.removeItem(atPath: directory)
            try? FileManager.default.removeItem(atPath: reportPath)
        }
        // Counts decide; the phase limit only bounds the wait on a busy machine.
        let status = try await FuzzTests.run(
            capstan,
            [
                "robustness", "--directory", directory, "--phase-limit", "300",
                "--report", reportPath
            ] + arguments)
        let reports = try JSONDecoder().decode([RobustnessReport].self, from: Data(contentsOf: URL(fileURLWithPath: reportPath)))
        #expect(
            reports.count == runs, "capstan robustness \(arguments): \(reports.count) of \(runs) runs completed (exit status \(status))")
        #expect(status == (reports.allSatisfy(\.passed) && reports.count == runs ? 0 : 1), "capstan robustness exited with \(status)")
        for r in reports { print("robustness: \(r.summary)") }
        return reports
    }

    @Test(arguments: Fault.allCases)
    func eachFaultKeepsEveryGuarantee(_ fault: Fault) async throws {
        for report in try await Self.harness(["--fault", fault.rawValue]) {
            #expect(report.linearizabilityFailure == nil, "\(report.linearizabilityFailure ?? "")")
            #expect(report.watchViolations.isEmpty, "\(report.watchViolations.prefix(10))")
            #expect(report.divergence == nil, "\(report.divergence ?? "")")
            #expect(report.writesAcknowledged >= 2 * 200)
            // Watchers saw every revision from 2 to the last acknowledged one, twice.
            #expect(report.watchEvents >= 2 * Int(report.lastRevision - 1))
        }
    }

    @Test func severalFaultsInOneRunKeepEveryGuarantee() async throws {
        let faults: [Fault] = [.killLeader, .partitionFollower, .replaceFollower, .killAll]
        for report in try await Self.harness(["--fault", faults.map(\.rawValue).joined(separator: ","), "--together"]) {
            #expect(report.passed, "\(report.linearizabilityFailure ?? "") \(report.watchViolations.prefix(5)) \(report.divergence ?? "")")
            #expect(report.faults == faults)
        }
    }

    /// A planted bug, the fault that exposes it, and the check that must catch it.
    struct Planted: Sendable, CustomTestStringConvertible {
        var bug: String
        var fault: Fault
        var caught: @Sendable (RobustnessReport) -> Bool
        var testDescription: String { "\(bug) under \(fault.rawValue)" }
    }

    static let planted: [Planted] = [
        // A follower cut off from its peers answers linearizable reads from stale state.
        Planted(bug: "local-reads", fault: .partitionFollower) { $0.linearizabilityFailure != nil },
        // Every member killed at once loses the writes its WAL had not written yet.
        Planted(bug: "ack-before-fsync", fault: .killAll) { r in
            r.linearizabilityFailure != nil || r.watchViolations.contains { $0.property == .consistent || $0.property == .reliable }
        },
        // A watcher misses a delivery now and then.
        Planted(bug: "drop-watch-event", fault: .killFollower) { r in r.watchViolations.contains { $0.property == .reliable } }
    ]

    @Test(arguments: planted)
    func everyPlantedBugIsCaught(_ p: Planted) async throws {
        // Each bug shows within a run or two; three runs at most.
        var reports: [RobustnessReport] = []
        for _ in 0..<3 {
            let report = try #require(try await Self.harness(["--fault", p.fault.rawValue, "--inject-bug", p.bug]).first)
            reports.append(report)
            if p.caught(report) { break }
        }
        #expect(reports.contains { p.caught($0) }, "\(p.bug) was not caught: \(reports.map(\.summary))")
    }
}

/// The Kubernetes traffic (lists, creates, updates and deletes as txns on mod_revision) and
/// etcd's mix (leases, 4-key txns, 32 KiB puts, ranges), checked against the revisions.
@Suite(.serialized) struct KubernetesTrafficTests {
    @Test(arguments: [
        (Traffic.kubernetes, Fault.killLeader), (.kubernetes, .partitionLeader), (.kubernetes, .killAll),
        (.etcd, .killFollower), (.etcd, .partitionFollower)
    ])
    func revisionCheckedTrafficKeepsEveryGuarantee(_ traffic: Traffic, _ fault: Fault) async throws {
        for report in try await RobustnessTests.harness(["--fault", fault.rawValue, "--traffic", traffic.rawValue]) {
            #expect(report.revisionViolations.isEmpty, "\(report.revisionViolations.prefix(10))")
            #expect(report.watchViolations.isEmpty, "\(report.watchViolations.prefix(10))")
            #expect(report.divergence == nil, "\(report.divergence ?? "")")
            #expect(report.operations > 2 * 200)
        }
    }

    @Test func staleReadsAreCaughtByTheRevisions() async throws {
        var reports: [RobustnessReport] = []
        for _ in 0..<3 {
            let report = try #require(
                try await RobustnessTests.harness([
                    "--fault", "partition-follower", "--traffic", "kubernetes",
                    "--inject-bug", "local-reads"
                ]).first)
            reports.append(report)
            if !report.revisionViolations.isEmpty { break }
        }
        #expect(reports.contains { !$0.revisionViolations.isEmpty }, "\(reports.map(\.summary))")
    }
}
