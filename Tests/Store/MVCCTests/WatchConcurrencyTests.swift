import Base
import Dispatch
import EtcdWire
import Foundation
import Synchronization
import Testing

@testable import MVCC

/// The hub under real threads: one apply thread writing and notifying, consumer threads
/// draining at their own pace, a catch-up thread. Every watcher must end with every event once.
@Suite struct WatchConcurrencyTests {
    @Test func applyConsumersAndCatchUpOnSeparateThreads() {
        var limits = WatchLimits()
        limits.maxQueuedFramesPerStream = 32
        let store = KVStore()
        let hub = WatchHub(revision: store.revision, encoder: EtcdWatchEncoder(), limits: limits)
        let publisher = ViewPublisher(store.view)
        let streams = (0..<8).map { _ in hub.openStream() }
        for s in streams {
            for _ in 0..<50 { hub.watch(WatchCreate(key: b("p/"), rangeEnd: prefixEnd("p/")), on: s) }
        }
        let writes = 1500
        let done = Atomic<Bool>(false)
        let received = Locked<[Int: [Int64: [Int64]]]>([:])
        let group = DispatchGroup()
        // Real threads (not a pool of cores' width): every loop below waits on another one.
        func spawn(_ body: @escaping @Sendable () -> Void) {
            group.enter()
            Thread.detachNewThread {
                body()
                group.leave()
            }
        }
        for (i, s) in streams.enumerated() {
            spawn {
                var mine: [Int64: [Int64]] = [:]
                var spins = 0
                while true {
                    let frames = hub.drain(s, max: 1 + spins % 7)
                    for f in frames {
                        let r = DecodedResponse(f)
                        if !r.created { mine[r.watchID, default: []] += r.events.map(\.kv.modRevision) }
                    }
                    spins += 1
                    if frames.isEmpty && done.load(ordering: .acquiring) && hub.unsyncedCount(on: s) == 0
                        && hub.queuedFrames(on: s) == 0
                    {
                        break
                    }
                }
                received.withLock { $0[i] = mine }
            }
        }
        spawn {
            while !done.load(ordering: .acquiring) || hub.stats.unsynced > 0 { hub.catchUp(publisher.current) }
        }
        for i in 0..<writes {
            // As the member's apply loop: the catch-up thread waits for the view meanwhile.
            publisher.withdraw()
            _ = try! store.put(PutRequest(key: b("p/\(i % 40)"), value: b("\(i)")))
            publisher.publish(store.view)
            hub.notify(store.view)
        }
        done.store(true, ordering: .releasing)
        group.wait()
        let all = received.withLock { $0 }
        let want = Array(Int64(2)...Int64(writes + 1))
        #expect(all.count == 8)
        #expect(hub.stats.demotions > 0, "50 watchers per stream against a 32-frame queue must fall behind")
        for (_, watchers) in all {
            #expect(watchers.count == 50)
            #expect(watchers.values.allSatisfy { $0 == want })
        }
    }
}
