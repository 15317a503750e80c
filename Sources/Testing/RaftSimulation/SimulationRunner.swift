import Dispatch
import Raft

/// Runs many seeds, spread over the machine's cores, and summarizes them.
public struct SimulationBatch: Sendable {
    public var reports: [SimulationReport]

    public var failures: [SimulationReport] { reports.filter { $0.violation != nil } }

    /// The one summary line: runs, failures, and the first failing seed.
    public var summary: String {
        let failed = failures
        let first = failed.min { $0.seed < $1.seed }
        let events = reports.reduce(0) { $0 + $1.stats.events }
        let commits = reports.reduce(0) { $0 + $1.stats.writesCommitted }
        let reads = reports.reduce(0) { $0 + $1.stats.readsConfirmed }
        return "simulate: \(reports.count) runs, \(failed.count) failures, first failing seed: "
            + (first.map { "\($0.seed) (members \($0.members))" } ?? "none")
            + " [\(events) events, \(commits) writes committed, \(reads) reads checked]"
    }
}

/// Runs `seeds` for each cluster size in `members`, in parallel, and returns every report.
public func runSimulations(
    seeds: ClosedRange<UInt64>, members: [Int], configure: @Sendable (inout SimulationOptions) -> Void = { _ in }
) -> SimulationBatch {
    var jobs: [SimulationOptions] = []
    for size in members {
        for seed in seeds {
            var options = SimulationOptions(seed: seed, members: size)
            configure(&options)
            jobs.append(options)
        }
    }
    let results = ResultSlots(count: jobs.count)
    let work = jobs
    DispatchQueue.concurrentPerform(iterations: work.count) { i in
        results.store(runSimulation(work[i]), at: i)
    }
    return SimulationBatch(reports: results.collect())
}

/// Slots that parallel runs write their reports into, one slot each.
final class ResultSlots: @unchecked Sendable {
    private var slots: [SimulationReport?]
    private let lock = DispatchSemaphore(value: 1)

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func store(_ report: SimulationReport, at index: Int) {
        lock.wait()
        slots[index] = report
        lock.signal()
    }

    func collect() -> [SimulationReport] {
        lock.wait()
        defer { lock.signal() }
        return slots.map { $0! }
    }
}

extension SimulationReport {
    /// A readable failure report: the seed, the violation, the settings and the trace tail.
    public var failureText: String {
        guard let violation else { return "seed \(seed) (members \(members)): ok" }
        var lines = [
            "seed \(seed) (members \(members)) FAILED: \(violation)", "settings: \(settings)",
            "replay: capstan simulate --seeds \(seed) --members \(members) --trace", "trace (last events):"
        ]
        lines += trace.map { "  " + $0 }
        return lines.joined(separator: "\n")
    }
}

/// Runs `seeds` in order, a few at a time in parallel, and stops at the first failing seed.
/// Returns that failure, or nil if every seed passed. For proving a planted bug is caught.
public func firstFailingSeed(
    seeds: ClosedRange<UInt64>, members: [Int], configure: @Sendable (inout SimulationOptions) -> Void
) -> SimulationReport? {
    let chunk: UInt64 = 8
    var low = seeds.lowerBound
    while low <= seeds.upperBound {
        let high = min(seeds.upperBound, low + chunk - 1)
        let batch = runSimulations(seeds: low...high, members: members, configure: configure)
        if let failure = batch.failures.min(by: { ($0.seed, $0.members) < ($1.seed, $1.members) }) {
            return failure
        }
        low = high + 1
    }
    return nil
}
