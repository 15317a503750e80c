import ArgumentParser
import Dispatch
import EtcdWire
import MVCC

/// A micro-benchmark of the watch hub alone, in one process: a store, a hub and its watchers,
/// writes applied in batches as the member applies them, each batch notified and every stream
/// drained. It measures what the hub costs per event delivered, with no network, no client and
/// no Raft (for the figures against etcd, `tools/bench-compare.sh`). Two shapes:
/// `shared` — every watcher watches one prefix, so each batch is encoded once and queued once
/// per stream; `keys` — each watcher watches its own key with prev_kv, so every event is
/// encoded for its own group (the encoder's cost per event shows here).
struct WatchHubBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch-hub", abstract: "Measures the watch hub's cost per delivered event (a micro-benchmark).")

    @Option(help: "shared (one prefix, all watchers) or keys (one key per watcher, prev_kv).")
    var shape: String = "shared"

    @Option(help: "Watchers in all.")
    var watchers: Int = 10_000

    @Option(help: "Streams the watchers are spread over.")
    var streams: Int = 100

    @Option(help: "Writes in all.")
    var writes: Int = 100_000

    @Option(help: "Writes applied between two notifications (a Ready's committed entries).")
    var batch: Int = 100

    @Option(help: "Bytes per value.")
    var valueBytes: Int = 256

    @Option(help: "Times the whole run is repeated; the median is printed last.")
    var repeats: Int = 5

    func validate() throws {
        guard ["shared", "keys"].contains(shape) else { throw ValidationError("--shape is shared or keys") }
        guard watchers > 0, streams > 0, writes > 0, batch > 0, repeats > 0, valueBytes >= 0 else {
            throw ValidationError("counts must be positive (value bytes not negative)")
        }
    }

    func run() throws {
        var perEvent: [Double] = []
        for run in 1...repeats {
            let (seconds, delivered, bytes) = try once()
            let ns = seconds * 1e9 / Double(max(delivered, 1))
            perEvent.append(ns)
            print(
                "run \(run): \(shape), \(watchers) watchers on \(streams) streams, \(writes) writes in batches of \(batch): "
                    + "\(delivered) events delivered, \(bytes) bytes queued, \(String(format: "%.3f", seconds)) s, "
                    + "\(String(format: "%.2f", ns)) ns per delivered event")
        }
        let median = perEvent.sorted()[perEvent.count / 2]
        print("median: \(String(format: "%.2f", median)) ns per delivered event")
    }

    /// One run on a fresh store and hub: seconds spent in notify and drain (not in the puts); events delivered; bytes queued.
    private func once() throws -> (Double, Int, Int) {
        let store = KVStore()
        let hub = WatchHub(
            revision: store.revision, encoder: EtcdWatchEncoder(), header: ResponseHeaderInfo(clusterID: 1, memberID: 2, raftTerm: 3))
        let s = (0..<streams).map { _ in hub.openStream() }
        let keyCount = shape == "shared" ? 1000 : watchers
        let keys = (0..<keyCount).map { Array("k/\($0)".utf8) }
        for w in 0..<watchers {
            let create =
                shape == "shared"
                ? WatchCreate(key: Array("k/".utf8), rangeEnd: Array("k0".utf8))
                : WatchCreate(key: keys[w], prevKV: true)
            _ = hub.watch(create, on: s[w % streams])
        }
        for stream in s { _ = hub.drainShared(stream) }
        let value = [UInt8](repeating: 0x61, count: valueBytes)
        var random = SystemRandomNumberGenerator()
        var delivered = 0
        var bytes = 0
        var hubNanoseconds: UInt64 = 0
        var done = 0
        while done < writes {
            for _ in 0..<min(batch, writes - done) {
                _ = try store.put(PutRequest(key: keys[Int.random(in: 0..<keyCount, using: &random)], value: value))
            }
            done += min(batch, writes - done)
            let start = DispatchTime.now().uptimeNanoseconds
            hub.notify(store.view)
            for stream in s {
                for f in hub.drainShared(stream) {
                    delivered += f.eventCount * f.responseCount
                    bytes += f.responseCount * f.body.count
                }
            }
            hubNanoseconds += DispatchTime.now().uptimeNanoseconds - start
        }
        let seconds = Double(hubNanoseconds) / 1e9
        return (seconds, delivered, bytes)
    }
}
