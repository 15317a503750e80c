// Storage throughput, measured side by side with the raw fdatasync rate of the same file system.
//
//   swift run -c release StorageBench [--dir DIR] [--seconds S] [--keys N] [--only C]
//
// 1. fdatasync floor: write 512 bytes at the end of a preallocated file and fdatasync, in a
//    loop, one writer: the rate at which this disk makes one write durable.
// 2. WAL append: C writers each append one 256-byte entry, wait until it is durable, append
//    the next (submissions kept in index order, as a Raft member's are). Group commit gathers
//    whatever is waiting into one write and one fdatasync.
// 3. Snapshot save and load of N keys through SnapshotStore (LZ4, checksummed, fsynced).
import Foundation
import Raft
import Storage

#if canImport(Glibc)
import Glibc
#endif

var directory = NSTemporaryDirectory() + "/capstan-storage-bench"
var seconds = 3.0
var keyCount = 1_000_000
var onlyConcurrency: Int?
var arguments = CommandLine.arguments.dropFirst()
while let flag = arguments.popFirst() {
    guard let value = arguments.popFirst() else { fatalError("\(flag) needs a value") }
    switch flag {
    case "--dir": directory = value
    case "--seconds": seconds = Double(value) ?? seconds
    case "--keys": keyCount = Int(value) ?? keyCount
    case "--only": onlyConcurrency = Int(value)
    default: fatalError("unknown flag \(flag); flags: --dir --seconds --keys --only")
    }
}
try? FileManager.default.removeItem(atPath: directory)
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

// MARK: - fdatasync floor

@MainActor func fdatasyncRate() throws -> (perSecond: Double, p50Micros: Double, p99Micros: Double) {
    let fs = PosixFileSystem()
    let file = try fs.open(directory + "/fsync-floor", create: true)
    try file.preallocate(size: 64 << 20)
    let block = [UInt8](repeating: 0xAB, count: 512)
    var latencies: [Double] = []
    var offset = 0
    let start = now()
    while now() - start < seconds {
        let t0 = now()
        try file.write(block, at: offset)
        try file.sync()
        latencies.append(now() - t0)
        offset = (offset + 512) % (64 << 20)
    }
    let elapsed = now() - start
    latencies.sort()
    return (Double(latencies.count) / elapsed, latencies[latencies.count / 2] * 1e6,
            latencies[latencies.count * 99 / 100] * 1e6)
}

// MARK: - WAL append at a concurrency

final class Appenders: @unchecked Sendable {
    let wal: WAL
    let payload = [UInt8](repeating: 0x5A, count: 256)
    let lock = NSLock()
    var next: UInt64 = 1
    var completed = 0
    var stopping = false
    var inFlight = 0
    let done = DispatchSemaphore(value: 0)

    init(wal: WAL) { self.wal = wal }

    func submitOne() {
        lock.lock()
        if stopping {
            inFlight -= 1
            if inFlight == 0 { done.signal() }
            lock.unlock()
            return
        }
        let index = next
        next += 1
        // Submitted under the lock, so the WAL sees indexes in order.
        wal.append([.entry(Entry(term: 1, index: LogIndex(index), data: payload))]) { [self] result in
            if case .failure(let error) = result { fatalError("append failed: \(error)") }
            lock.lock()
            completed += 1
            lock.unlock()
            submitOne()
        }
        lock.unlock()
    }
}

@MainActor func walRate(concurrency: Int) throws -> Double {
    let path = directory + "/wal-\(concurrency)"
    let (wal, _) = try WAL.open(directory: path)
    let appenders = Appenders(wal: wal)
    appenders.inFlight = concurrency
    for _ in 0..<concurrency { appenders.submitOne() }
    Thread.sleep(forTimeInterval: 0.3)  // Warm up.
    appenders.lock.lock()
    let before = appenders.completed
    appenders.lock.unlock()
    let start = now()
    Thread.sleep(forTimeInterval: seconds)
    appenders.lock.lock()
    let after = appenders.completed
    let elapsed = now() - start
    appenders.stopping = true
    appenders.lock.unlock()
    appenders.done.wait()
    wal.close()
    try? FileManager.default.removeItem(atPath: path)
    return Double(after - before) / elapsed
}

// MARK: - Snapshots

@MainActor func snapshotFigures() throws -> (saveMBps: Double, loadMBps: Double, rawMB: Double, ratio: Double, saveSeconds: Double,
                                  loadSeconds: Double)
{
    // N keys like an apiserver's: "/registry/<kind>/<namespace>/<name>" with a JSON-ish value
    // of about 200 bytes that varies per key.
    var data: [UInt8] = []
    data.reserveCapacity(keyCount * 260)
    for i in 0..<keyCount {
        let key = "/registry/pods/ns-\(i % 50)/pod-\(i)"
        let value = "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"pod-\(i)\",\"uid\":\"\(String(UInt64(i) &* 0x9E37_79B9_7F4A_7C15, radix: 16))\",\"resourceVersion\":\"\(i &* 7 + 13)\"},\"spec\":{\"nodeName\":\"node-\(i % 100)\",\"containers\":[{\"name\":\"app\",\"image\":\"registry.example/app:\(i % 20)\"}]},\"status\":{\"phase\":\"Running\"}}"
        data.append(UInt8(key.utf8.count))
        data.append(contentsOf: key.utf8)
        data.append(contentsOf: withUnsafeBytes(of: UInt16(value.utf8.count).littleEndian, Array.init))
        data.append(contentsOf: value.utf8)
    }
    let snapshot = Snapshot(metadata: SnapshotMetadata(index: 1000, term: 2, confState: ConfState(voters: [1, 2, 3])),
                            data: data)
    let store = try SnapshotStore(directory: directory + "/snap")
    let t0 = now()
    let path = try store.save(snapshot)
    let saveSeconds = now() - t0
    let onDisk = try PosixFileSystem().open(path, create: false).size()
    let t1 = now()
    let loaded = try store.loadNewest()
    let loadSeconds = now() - t1
    precondition(loaded.snapshot == snapshot, "snapshot did not round-trip")
    let rawMB = Double(data.count) / 1e6
    return (rawMB / saveSeconds, rawMB / loadSeconds, rawMB, Double(data.count) / Double(onDisk), saveSeconds, loadSeconds)
}

let floor = try fdatasyncRate()
print("fdatasync floor (512 B write + fdatasync, one writer): \(Int(floor.perSecond)) syncs/s, p50 \(Int(floor.p50Micros)) µs, p99 \(Int(floor.p99Micros)) µs")
print("| concurrency | entries/s | payload MB/s | ratio to the fdatasync floor |")
print("|---|---|---|---|")
for concurrency in onlyConcurrency.map({ [$0] }) ?? [1, 16, 256, 1024] {
    let rate = try walRate(concurrency: concurrency)
    let ratio = rate / floor.perSecond
    print("| \(concurrency) | \(Int(rate)) | \(String(format: "%.2f", rate * 256 / 1e6)) | \(String(format: "%.1f", ratio))x |")
}
if onlyConcurrency != nil { exit(0) }
let snap = try snapshotFigures()
print("snapshot of \(keyCount) keys: \(String(format: "%.1f", snap.rawMB)) MB raw, compression ratio \(String(format: "%.2f", snap.ratio)); save \(String(format: "%.2f", snap.saveSeconds)) s (\(Int(snap.saveMBps)) MB/s), load \(String(format: "%.2f", snap.loadSeconds)) s (\(Int(snap.loadMBps)) MB/s)")
