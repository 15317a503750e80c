import Raft
import RaftSimulation
import Testing

/// The seeds CI runs: seeds 1-300 for 3- and for 5-member clusters (600 runs).
let ciSeeds: ClosedRange<UInt64> = 1...300
let ciMembers = [3, 5]

struct SimulationTests {
    @Test func ciSeedRangePasses() {
        let batch = runSimulations(seeds: ciSeeds, members: ciMembers)
        print(batch.summary)
        if let failure = batch.failures.first { Issue.record("\(failure.failureText)") }
        #expect(batch.reports.count == ciSeeds.count * ciMembers.count)
        #expect(batch.failures.isEmpty)
        // The runs must really have exercised the cluster, not idled.
        let committed = batch.reports.reduce(0) { $0 + $1.stats.writesCommitted }
        let reads = batch.reports.reduce(0) { $0 + $1.stats.readsConfirmed }
        let crashes = batch.reports.reduce(0) { $0 + $1.stats.crashes }
        let changes = batch.reports.reduce(0) { $0 + $1.stats.confChangesApplied }
        let snapshots = batch.reports.reduce(0) { $0 + $1.stats.snapshotsInstalled }
        #expect(committed > 20_000 && reads > 10_000 && crashes > 600 && changes > 600 && snapshots > 100)
    }

    @Test func sameSeedReplaysExactly() {
        var options = SimulationOptions(seed: 42, members: 5)
        options.traceTailLines = 200
        let first = runSimulation(options)
        let second = runSimulation(options)
        #expect(first.trace == second.trace)
        #expect(first.stats.events == second.stats.events)
        #expect(first.stats.writesCommitted == second.stats.writesCommitted)
        #expect(first.stats.events > 1_000)
    }

    @Test func differentSeedsDiffer() {
        let a = runSimulation(SimulationOptions(seed: 1, members: 3))
        let b = runSimulation(SimulationOptions(seed: 2, members: 3))
        #expect(a.trace != b.trace)
    }
}

/// Proof that the checkers can fail: each deliberate bug, switched on through the test-only
/// `InjectedBugs`, must produce a violation within the CI seed range.
struct InjectedBugTests {
    /// `kind` is a phrase the violation must contain; nil accepts any safety violation.
    func expectCaught(_ bug: InjectedBugs, _ name: String, kind: String?) {
        let failure = firstFailingSeed(seeds: ciSeeds, members: ciMembers) { $0.injectedBugs = bug }
        guard let failure else {
            Issue.record("\(name) was not caught in seeds \(ciSeeds) for members \(ciMembers)")
            return
        }
        print("\(name): caught at seed \(failure.seed) (members \(failure.members)): \(failure.violation ?? "")")
        #expect(failure.violation != nil)
        if let kind { #expect(failure.violation?.contains(kind) == true, "\(failure.failureText)") }
    }

    @Test func votingTwiceInATermIsCaught() {
        expectCaught(.voteTwiceInTerm, "vote-twice", kind: "two leaders in term")
    }

    @Test func votingWithoutTheLogCheckIsCaught() {
        // A leader elected without an up-to-date log lacks committed entries.
        expectCaught(.voteIgnoresLog, "vote-ignores-log", kind: nil)
    }

    @Test func readIndexWithoutHeartbeatIsCaught() {
        expectCaught(.readIndexSkipsHeartbeat, "read-index-no-heartbeat", kind: "stale read")
    }

    @Test func acknowledgingBeforePersistingIsCaught() {
        // Entries lost from a follower that acknowledged them surface as whichever safety check
        // the lost entry trips first (leader completeness, commit agreement, or apply agreement).
        expectCaught(.ackAppendBeforePersist, "ack-before-persist", kind: nil)
    }
}
