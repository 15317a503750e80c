import Benchmark
import Raft
import RaftSimulation

/// Committed entries per second through an in-memory 3-member cluster with no I/O, and
/// allocations per committed entry. One iteration proposes a batch of 256-byte entries on the
/// leader and runs the cluster until the leader has applied them all.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal, .instructions],
        warmupIterations: 10,
        maxDuration: .seconds(5),
        maxIterations: 100_000,
        // Regression guards, checked against the committed Thresholds/ by
        // `swift package benchmark thresholds check`: allocations are nearly deterministic
        // (5 %, or 2 per operation); time on a shared 2-core machine is not (35 %). The static
        // check compares p90s, so the tolerances name p90 (and p50 for baseline comparisons).
        thresholds: [
            .mallocCountTotal: .init(relative: [.p50: 5, .p90: 5], absolute: [.p50: 2, .p90: 2]),
            .wallClock: .init(relative: [.p50: 35, .p90: 35]),
            .throughput: .init(relative: [.p50: 35, .p90: 35]),
        ]
    )

    for batchSize in [1, 64] {
        Benchmark(
            "commit 3 members, \(batchSize) x 256 B per round",
            configuration: .init(scalingFactor: .one)
        ) { benchmark in
            let cluster = try InMemoryCluster(size: 3)
            let batch = (0..<batchSize).map { _ in [UInt8](repeating: 0xAB, count: 256) }
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let committed = try cluster.proposeAndCommit(batch)
                precondition(committed == batchSize, "only \(committed) of \(batchSize) committed")
            }
            benchmark.stopMeasurement()
        }
    }
}
