import Benchmark
import MVCC

/// The state machine's hot operations, in process, no I/O: put, range, the Kubernetes update
/// txn, and watch fan-out to 10,000 watchers. Allocation counts come from the malloc interposer.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal, .instructions],
        warmupIterations: 100,
        maxDuration: .seconds(4),
        maxIterations: 1_000_000
    )
    let keySpace = 100_000
    let value = [UInt8](repeating: 0x61, count: 256)
    func key(_ i: Int) -> [UInt8] { Array("/registry/pods/default/pod-\(100_000 + i)".utf8) }
    func loaded() -> KVStore {
        let s = KVStore()
        for i in 0..<keySpace { _ = try! s.put(PutRequest(key: key(i), value: value)) }
        return s
    }

    Benchmark("put 256 B into 100k keys") { benchmark in
        let s = loaded()
        let keys = (0..<keySpace).map(key)
        var i = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try s.put(PutRequest(key: keys[i % keySpace], value: value)))
            i &+= 7919
        }
    }

    Benchmark("range one key of 100k") { benchmark in
        let s = loaded()
        let keys = (0..<keySpace).map(key)
        var i = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try s.view.range(RangeRequest(key: keys[i % keySpace])))
            i &+= 7919
        }
    }

    Benchmark("range 100 keys (limit 100) of 100k") { benchmark in
        let s = loaded()
        let keys = (0..<keySpace).map(key)
        var i = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try s.view.range(RangeRequest(key: keys[i % (keySpace - 200)], rangeEnd: [0], limit: 100)))
            i &+= 7919
        }
    }

    Benchmark("txn: kubernetes update (compare mod_revision, put) on 100k keys") { benchmark in
        let s = loaded()
        let keys = (0..<keySpace).map(key)
        // The resourceVersion the client holds for each object, as the apiserver's cache would.
        var mods = (0..<keySpace).map { Int64($0 + 2) }
        var i = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let j = i % keySpace
            let r = try s.txn(TxnRequest(compare: [Compare(key: keys[j], .modRevision(mods[j]), .equal)],
                                         success: [.put(PutRequest(key: keys[j], value: value))],
                                         failure: [.range(RangeRequest(key: keys[j]))]))
            precondition(r.succeeded)
            mods[j] = r.revision
            i &+= 7919
        }
    }

    // One iteration: one 256-byte put, notify, and every stream drained: 10,000 events delivered.
    Benchmark("watch fan-out: 1 event to 10,000 watchers (100 streams x 100)",
              configuration: .init(metrics: [.throughput, .wallClock, .mallocCountTotal, .instructions],
                                   maxDuration: .seconds(4))) { benchmark in
        let s = KVStore()
        let hub = WatchHub(revision: s.revision)
        let streams = (0..<100).map { _ in hub.openStream() }
        for st in streams {
            for _ in 0..<100 { hub.watch(WatchCreate(key: Array("/registry/".utf8), rangeEnd: Array("/registry0".utf8)), on: st) }
            _ = hub.drain(st)
        }
        var i = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            _ = try s.put(PutRequest(key: key(i % keySpace), value: value))
            hub.notify(s.view)
            for st in streams { blackHole(hub.drain(st)) }
            i += 1
        }
    }
}
