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
        maxIterations: 100_000
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
