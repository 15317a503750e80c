import ArgumentParser
import Raft
import RaftSimulation

#if canImport(Glibc)
import Glibc
#endif

/// `capstan simulate`: the deterministic simulation of the consensus core.
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the deterministic Raft simulation over a range of seeds.",
        discussion: """
            Each seed runs members in one process under a seeded scheduler: lost, duplicated, \
            reordered and delayed messages, partitions, crashes and restarts, uneven clocks, \
            membership changes and leader transfers, with a client writing and reading. Safety is \
            checked after every event and liveness after the faults heal. The same seed replays \
            the same run. Exits non-zero if any seed fails.
            """
    )

    @Option(help: "Seeds to run: a number or an inclusive range such as 1-300.")
    var seeds: String = "1-100"

    @Option(help: "Cluster sizes, e.g. 3 or 3,5.")
    var members: String = "3,5"

    @Option(help: "Simulated milliseconds of faults before everything heals.")
    var faultMs: Int = 6_000

    @Flag(help: "Print every event of the run (use with a single seed).")
    var trace = false

    @Option(
        help:
            "Test-only: switch on a deliberate bug (vote-twice, vote-ignores-log, commit-prior-term, read-index-no-heartbeat, ack-before-persist)."
    )
    var injectBug: [String] = []

    func run() throws {
        let range = try parseSeeds(seeds)
        let sizes = try members.split(separator: ",").map { part -> Int in
            guard let size = Int(part.trimmingCharacters()), (1...9).contains(size) else {
                throw ValidationError("--members takes sizes from 1 to 9, e.g. 3 or 3,5; got '\(members)'")
            }
            return size
        }
        var bugs: InjectedBugs = []
        for name in injectBug {
            guard let bug = InjectedBugs.named[name] else {
                throw ValidationError("unknown bug '\(name)'; known: \(InjectedBugs.named.keys.sorted().joined(separator: ", "))")
            }
            bugs.insert(bug)
        }
        guard faultMs >= 0 else { throw ValidationError("--fault-ms must not be negative") }
        let faultPhase = faultMs
        let traceAll = trace
        let chosenBugs = bugs
        let batch = runSimulations(seeds: range, members: sizes) { options in
            options.faultPhaseMs = faultPhase
            options.injectedBugs = chosenBugs
            options.traceAll = traceAll
        }
        if let first = batch.failures.min(by: { $0.seed < $1.seed }) {
            print(first.failureText)
        }
        print(batch.summary)
        if !batch.failures.isEmpty { throw ExitCode.failure }
    }

    func parseSeeds(_ text: String) throws -> ClosedRange<UInt64> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        if parts.count == 1, let seed = UInt64(parts[0]) { return seed...seed }
        if parts.count == 2, let low = UInt64(parts[0]), let high = UInt64(parts[1]), low <= high {
            return low...high
        }
        throw ValidationError("--seeds takes a number or a range such as 1-300; got '\(text)'")
    }
}

extension Substring {
    func trimmingCharacters() -> Substring {
        var s = self
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return s
    }
}
