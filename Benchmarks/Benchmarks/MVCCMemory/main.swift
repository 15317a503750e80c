import Foundation
import CHeapStats
import MVCC

// Memory of the state machine, measured in process: heap bytes (glibc's mallinfo2, what the
// allocator holds) and resident set size (/proc/self/statm) before and after loading.
//   swift run -c release MVCCMemory [--keys 1000000] [--value-bytes 256] [--watchers 100000]

func argument(_ name: String, _ fallback: Int) -> Int {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) { return v }
    return fallback
}

func heapBytes() -> Int { Int(capstan_heap_in_use()) }
func residentBytes() -> Int {
    let statm = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? "0 0"
    return (Int(statm.split(separator: " ")[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
}
func mb(_ x: Int) -> String { String(format: "%.1f MB", Double(x) / 1e6) }

let keys = argument("--keys", 1_000_000)
let valueBytes = argument("--value-bytes", 256)
let watchers = argument("--watchers", 100_000)

// 1. Keys: one version each, keys like Kubernetes object paths.
do {
    let heap0 = heapBytes(), rss0 = residentBytes()
    let store = KVStore()
    let value = [UInt8](repeating: 0x61, count: valueBytes)
    for i in 0..<keys {
        _ = try store.put(PutRequest(key: Array("/registry/pods/ns-\(i % 100)/pod-\(i)".utf8), value: value))
    }
    let heap = heapBytes() - heap0, rss = residentBytes() - rss0
    let keyBytes = (0..<min(keys, 1000)).reduce(0) { $0 + "/registry/pods/ns-\($1 % 100)/pod-\($1)".utf8.count } / min(keys, 1000)
    print("keys: \(keys) x (about \(keyBytes) B key + \(valueBytes) B value)")
    print("  heap \(mb(heap)), \(heap / keys) B per key (\(heap / keys - keyBytes - valueBytes) B over the key and value bytes)")
    print("  RSS  \(mb(rss)), \(rss / keys) B per key")
    withExtendedLifetime(store) {}
}

// 2. Idle watchers: one per key range, 100 per stream, nothing happening.
do {
    let store = KVStore()
    let hub = WatchHub(revision: store.revision)
    let streams = (0..<max(1, watchers / 100)).map { _ in hub.openStream() }
    let heap0 = heapBytes()
    for i in 0..<watchers {
        let k = Array("/registry/pods/ns-\(i % 1000)/".utf8)
        var end = k
        end[end.count - 1] += 1
        hub.watch(WatchCreate(key: k, rangeEnd: end), on: streams[i % streams.count])
    }
    for s in streams { _ = hub.drain(s) }   // the created responses
    // Heap only: the resident set does not move here, the allocator reuses what step 1 freed.
    let heap = heapBytes() - heap0
    print("idle watchers: \(watchers) on \(streams.count) streams, \(hub.stats.groups) distinct ranges")
    print("  heap \(mb(heap)), \(heap / watchers) B per watcher")
}

// 3. Encoding per delivered event: 10,000 watchers on one prefix, 1,000 puts.
do {
    let store = KVStore()
    let hub = WatchHub(revision: store.revision)
    let streams = (0..<100).map { _ in hub.openStream() }
    for s in streams {
        for _ in 0..<100 { hub.watch(WatchCreate(key: Array("/registry/".utf8), rangeEnd: Array("/registry0".utf8)), on: s) }
        _ = hub.drain(s)
    }
    let value = [UInt8](repeating: 0x61, count: valueBytes)
    let before = hub.stats
    var frameBytes = 0
    let puts = 1000
    let start = ContinuousClock.now
    for i in 0..<puts {
        _ = try store.put(PutRequest(key: Array("/registry/pods/default/pod-\(i)".utf8), value: value))
        hub.notify(store.view)
        for s in streams { for f in hub.drain(s) { frameBytes += f.size } }
    }
    let elapsed = ContinuousClock.now - start
    let after = hub.stats
    let delivered = after.eventsDelivered - before.eventsDelivered
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    print("fan-out: \(puts) puts x 10,000 watchers = \(delivered) events delivered in \(String(format: "%.2f", seconds)) s "
        + "(\(Int(Double(delivered) / seconds)) events/s, one thread)")
    print("  encoded \(after.bytesEncoded - before.bytesEncoded) B for \(frameBytes) B of responses: "
        + String(format: "%.3f", Double(after.bytesEncoded - before.bytesEncoded) / Double(delivered)) + " B encoded per delivered event")
}
