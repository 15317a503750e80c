import Base
import EtcdWire
import Testing

@testable import MVCC

/// A store and a hub wired as the member wires them: notify after every write.
final class WatchBench {
    let store: KVStore
    let hub: WatchHub
    init(limits: WatchLimits = WatchLimits(), header: ResponseHeaderInfo = ResponseHeaderInfo(clusterID: 7, memberID: 9, raftTerm: 3)) {
        store = KVStore()
        hub = WatchHub(revision: store.revision, encoder: EtcdWatchEncoder(), header: header, limits: limits)
    }
    @discardableResult
    func put(_ k: String, _ v: String = "v", lease: Int64 = 0) -> Int64 {
        let r = try! store.put(PutRequest(key: b(k), value: b(v), lease: lease))
        hub.notify(store.view)
        return r.revision
    }
    func delete(_ k: String, _ end: String = "") {
        _ = try! store.deleteRange(DeleteRangeRequest(key: b(k), rangeEnd: b(end)))
        hub.notify(store.view)
    }
    func txn(_ t: TxnRequest) {
        _ = try! store.txn(t)
        hub.notify(store.view)
    }
    func responses(_ s: WatchStream) -> [DecodedResponse] { hub.drain(s).map(DecodedResponse.init) }
    /// Runs catch-up until nothing is left to do or no progress is possible.
    func catchUpFully() {
        for _ in 0..<10_000 where hub.catchUp(store.view) {}
    }
}

func prefixEnd(_ p: String) -> [UInt8] {
    var e = b(p)
    e[e.count - 1] += 1
    return e
}

@Suite struct WatchHubTests {
    @Test func createdThenEventsWithHeaderAndExactKeyValues() {
        let t = WatchBench()
        let s = t.hub.openStream()
        let id = t.hub.watch(WatchCreate(key: b("/a/"), rangeEnd: prefixEnd("/a/"), prevKV: true), on: s)
        #expect(id == 0)
        let created = t.responses(s)
        #expect(created.count == 1 && created[0].created && created[0].watchID == 0 && created[0].revision == 1)
        #expect(created[0].clusterID == 7 && created[0].memberID == 9 && created[0].raftTerm == 3)
        t.put("/a/x", "1")
        t.put("/b/y", "no")
        t.put("/a/x", "2")
        t.delete("/a/x")
        let got = t.responses(s)
        #expect(got.map(\.revision) == [2, 4, 5])
        #expect(
            got.flatMap(\.events) == [
                DecodedEvent(
                    deleted: false, kv: KeyValue(key: b("/a/x"), createRevision: 2, modRevision: 2, version: 1, value: b("1")), prev: nil),
                DecodedEvent(
                    deleted: false, kv: KeyValue(key: b("/a/x"), createRevision: 2, modRevision: 4, version: 2, value: b("2")),
                    prev: KeyValue(key: b("/a/x"), createRevision: 2, modRevision: 2, version: 1, value: b("1"))),
                DecodedEvent(
                    deleted: true, kv: KeyValue(key: b("/a/x"), modRevision: 5),
                    prev: KeyValue(key: b("/a/x"), createRevision: 2, modRevision: 4, version: 2, value: b("2")))
            ])
    }

    @Test func singleKeyFromKeyFiltersAndIds() {
        let t = WatchBench()
        let s = t.hub.openStream()
        #expect(t.hub.watch(WatchCreate(key: b("k")), on: s) == 0)
        #expect(t.hub.watch(WatchCreate(key: b("m"), rangeEnd: [0], noDelete: true), on: s) == 1)
        #expect(t.hub.watch(WatchCreate(key: b("a"), rangeEnd: [0], noPut: true, watchID: 100), on: s) == 100)
        #expect(t.hub.watch(WatchCreate(key: b("a"), watchID: 100), on: s) == -1, "duplicate id refused")
        #expect(t.hub.watch(WatchCreate(key: b("z"), rangeEnd: b("a")), on: s) == -1, "empty range refused")
        let setup = t.responses(s)
        #expect(setup.count == 5)
        #expect(
            setup[3].created && setup[3].canceled && setup[3].watchID == -1
                && setup[3].cancelReason == "mvcc: duplicate watch ID provided on the WatchStream")
        #expect(setup[4].cancelReason == "mvcc: watcher range is empty")
        t.put("k")
        t.put("kk")
        t.put("n")
        t.delete("n")
        t.delete("k")
        var byWatcher: [Int64: [String]] = [:]
        for r in t.responses(s) {
            byWatcher[r.watchID, default: []] += r.events.map { ($0.deleted ? "-" : "+") + String(decoding: $0.kv.key, as: UTF8.self) }
        }
        #expect(byWatcher[0] == ["+k", "-k"])
        #expect(byWatcher[1] == ["+n"])
        #expect(byWatcher[100] == ["-n", "-k"])
    }

    @Test func aTxnRevisionIsOneResponseInWriteOrder() {
        let t = WatchBench()
        let s = t.hub.openStream()
        t.hub.watch(WatchCreate(key: [0], rangeEnd: [0]), on: s)
        _ = t.hub.drain(s)
        t.txn(TxnRequest(success: [.put(PutRequest(key: b("b"))), .put(PutRequest(key: b("a"))), .put(PutRequest(key: b("c")))]))
        let got = t.responses(s)
        #expect(got.count == 1)
        #expect(got[0].events.map(\.kv.key) == [b("b"), b("a"), b("c")])
        #expect(Set(got[0].events.map(\.kv.modRevision)) == [2])
    }

    @Test func pastStartCatchesUpThenFollowsLiveWithoutGapsOrDuplicates() {
        let t = WatchBench()
        for i in 0..<50 { t.put("k\(i % 5)", "\(i)") }
        let s = t.hub.openStream()
        t.hub.watch(WatchCreate(key: b("k"), rangeEnd: prefixEnd("k"), startRevision: 10), on: s)
        #expect(t.hub.unsyncedCount(on: s) == 1)
        // Writes arrive while it is still catching up.
        for i in 50..<60 { t.put("k\(i % 5)", "\(i)") }
        t.catchUpFully()
        #expect(t.hub.unsyncedCount(on: s) == 0)
        for i in 60..<70 { t.put("k\(i % 5)", "\(i)") }
        let revs = t.responses(s).flatMap(\.events).map(\.kv.modRevision)
        #expect(revs == Array(10...71))
    }

    /// The catch-up thread sleeps while every watcher is synced: it is told when the first one
    /// falls behind, and only then (not for more while some are behind).
    @Test func theFirstWatcherBehindAsksForCatchUp() {
        let t = WatchBench()
        let asked = LockedCounter()
        t.hub.whenCatchUpNeeded { asked.increment() }
        for i in 0..<20 { t.put("k\(i)") }
        let s = t.hub.openStream()
        t.hub.watch(WatchCreate(key: b("k"), rangeEnd: prefixEnd("k")), on: s)
        #expect(asked.value == 0)
        t.hub.watch(WatchCreate(key: b("k"), rangeEnd: prefixEnd("k"), startRevision: 5), on: s)
        #expect(asked.value == 1)
        t.hub.watch(WatchCreate(key: b("k1"), startRevision: 3), on: s)
        #expect(asked.value == 1)
        t.catchUpFully()
        #expect(t.hub.unsyncedCount(on: s) == 0 && !t.hub.catchUp(t.store.view))
        t.hub.watch(WatchCreate(key: b("k2"), startRevision: 2), on: s)
        #expect(asked.value == 2)
    }

    @Test func startBelowCompactionIsCancelledWithTheCompactRevision() throws {
        let t = WatchBench()
        for i in 0..<20 { t.put("k", "\(i)") }
        _ = try t.store.compact(15)
        t.hub.notify(t.store.view)
        let s = t.hub.openStream()
        let id = t.hub.watch(WatchCreate(key: b("k"), startRevision: 5), on: s)
        t.catchUpFully()
        let got = t.responses(s)
        #expect(got.count == 2 && got[0].created)
        #expect(got[1].canceled && got[1].compactRevision == 15 && got[1].watchID == id && got[1].events.isEmpty)
        #expect(t.hub.stats.watchers == 0)
        // At the compaction revision itself the history is still there.
        t.hub.watch(WatchCreate(key: b("k"), startRevision: 15), on: s)
        t.catchUpFully()
        #expect(t.responses(s).flatMap(\.events).map(\.kv.modRevision) == Array(15...21))
    }

    @Test func progressRequestWaitsUntilEveryWatcherIsSynced() {
        let t = WatchBench()
        for i in 0..<10 { t.put("k\(i)") }
        let s = t.hub.openStream()
        t.hub.watch(WatchCreate(key: b("k"), rangeEnd: prefixEnd("k"), startRevision: 2), on: s)
        t.hub.requestProgress(on: s)
        #expect(t.responses(s).count == 1, "only the created response: the watcher is behind")
        t.catchUpFully()
        let got = t.responses(s)
        #expect(got.count == 2)
        #expect(got[0].events.count == 10)
        #expect(got[1].watchID == -1 && got[1].events.isEmpty && got[1].revision == 11)
        t.hub.requestProgress(on: s)
        let again = t.responses(s)
        #expect(again.count == 1 && again[0].watchID == -1 && again[0].revision == 11)
    }

    @Test func periodicProgressOnlyForIdleSyncedWatchersThatAskedForIt() {
        let t = WatchBench()
        let s = t.hub.openStream()
        t.hub.watch(WatchCreate(key: b("a"), progressNotify: true), on: s)
        t.hub.watch(WatchCreate(key: b("b"), progressNotify: true), on: s)
        t.hub.watch(WatchCreate(key: b("c")), on: s)
        _ = t.hub.drain(s)
        t.put("a")
        _ = t.hub.drain(s)
        t.hub.tickProgress([s])
        let got = t.responses(s)
        #expect(got.map(\.watchID) == [1], "a was just sent an event, c did not ask")
        #expect(got[0].revision == 2)
        t.hub.tickProgress([s])
        #expect(Set(t.responses(s).map(\.watchID)) == [0, 1])
    }

    @Test func largeBatchesAreFragmentedOnlyForWatchersThatAskAndReassembleExactly() {
        var limits = WatchLimits()
        limits.maxResponseBytes = 1000
        let t = WatchBench(limits: limits)
        let s = t.hub.openStream()
        t.hub.watch(WatchCreate(key: b("k"), rangeEnd: prefixEnd("k"), fragment: true), on: s)
        t.hub.watch(WatchCreate(key: b("k"), rangeEnd: prefixEnd("k")), on: s)
        _ = t.hub.drain(s)
        let big = String(repeating: "x", count: 300)
        t.txn(TxnRequest(success: (0..<10).map { .put(PutRequest(key: b("k\($0)"), value: b(big))) }))
        let got = t.responses(s)
        let fragments = got.filter { $0.watchID == 0 }
        let whole = got.filter { $0.watchID == 1 }
        #expect(whole.count == 1 && !whole[0].fragment)
        #expect(fragments.count > 1)
        #expect(fragments.dropLast().allSatisfy(\.fragment) && !fragments.last!.fragment)
        #expect(fragments.allSatisfy { $0.events.count >= 1 })
        #expect(fragments.flatMap(\.events) == whole[0].events)
        for f in t.hub.drain(s) { #expect(f.size <= 1000) }
    }

    @Test func oneEventToTenThousandWatchersIsEncodedOnce() {
        let t = WatchBench()
        var streams: [WatchStream] = []
        for _ in 0..<100 {
            let s = t.hub.openStream()
            for _ in 0..<100 { t.hub.watch(WatchCreate(key: b("/registry/"), rangeEnd: prefixEnd("/registry/")), on: s) }
            streams.append(s)
        }
        for s in streams { _ = t.hub.drain(s) }
        #expect(t.hub.stats.groups == 1)
        let before = t.hub.stats
        t.put("/registry/pods/default/p1", String(repeating: "v", count: 256))
        let after = t.hub.stats
        var frames: [WatchFrame] = []
        for s in streams { frames += t.hub.drain(s) }
        #expect(frames.count == 10_000)
        #expect(after.eventsDelivered - before.eventsDelivered == 10_000)
        #expect(after.bytesEncoded - before.bytesEncoded == frames[0].body.count, "one body built")
        let base = frames[0].body.withUnsafeBufferPointer { $0.baseAddress }
        #expect(frames.allSatisfy { f in f.body.withUnsafeBufferPointer { $0.baseAddress } == base }, "the same bytes shared by all")
        #expect(Set(frames.map(\.watchID)).count == 100)
    }

    /// The watchers of one group on one stream share one queue entry per batch (`drainShared`):
    /// counted and limited as one response each, drained in order, split where `max` falls.
    @Test func watchersOfOneGroupOnOneStreamShareAQueueEntry() {
        let t = WatchBench()
        let s = t.hub.openStream()
        let other = t.hub.openStream()
        let ids = (0..<5).map { _ in t.hub.watch(WatchCreate(key: b("/r/"), rangeEnd: prefixEnd("/r/")), on: s) }
        let single = t.hub.watch(WatchCreate(key: b("/r/x")), on: s)
        let elsewhere = t.hub.watch(WatchCreate(key: b("/r/"), rangeEnd: prefixEnd("/r/")), on: other)
        _ = t.hub.drain(s)
        _ = t.hub.drain(other)
        t.put("/r/x", "1")
        t.put("/r/y", "2")
        // Two batches: the key's watcher, then the prefix group's five watchers as one entry;
        // the prefix group's five again.
        #expect(t.hub.queuedFrames(on: s) == 11)
        let first = t.hub.drainShared(s, max: 3)
        #expect(first.map(\.responseCount) == [1, 2])
        #expect(first[0].watchID == single && first[0].sharedIDs.isEmpty)
        #expect(first[1].sharedIDs == Array(ids[0..<2]))
        #expect(t.hub.queuedFrames(on: s) == 8)
        let rest = t.hub.drainShared(s)
        #expect(rest.map(\.responseCount) == [3, 5])
        #expect(rest[0].sharedIDs == Array(ids[2..<5]))
        #expect(rest[1].sharedIDs == ids && rest[1].watchID == ids[0])
        let base = first[1].body.withUnsafeBufferPointer { $0.baseAddress }
        #expect(rest[0].body.withUnsafeBufferPointer { $0.baseAddress } == base, "the split keeps the one body")
        #expect(t.hub.queuedFrames(on: s) == 0)
        // Another stream's watcher of the same group has its own entry, and `drain` gives one
        // frame per response with the same bytes as the shared frames.
        let flat = t.hub.drain(other)
        #expect(flat.map(\.watchID) == [elsewhere, elsewhere])
        #expect(flat[0].body == first[1].body && flat[1].body == rest[1].body)
        #expect(t.hub.stats.eventsDelivered == 2 * 5 + 1 + 2)
    }

    @Test func aStalledStreamNeverBlocksOthersAndCatchesUpExactlyOnce() throws {
        var limits = WatchLimits()
        limits.maxQueuedFramesPerStream = 64
        limits.maxQueuedBytesPerStream = 16 << 10
        limits.maxCatchUpBytes = 2048
        let t = WatchBench(limits: limits)
        let stalled = t.hub.openStream()
        var healthy: [WatchStream] = []
        for _ in 0..<2000 { t.hub.watch(WatchCreate(key: b("p/"), rangeEnd: prefixEnd("p/")), on: stalled) }
        for _ in 0..<40 {
            let s = t.hub.openStream()
            for _ in 0..<50 { t.hub.watch(WatchCreate(key: b("p/"), rangeEnd: prefixEnd("p/")), on: s) }
            healthy.append(s)
        }
        // The healthy streams are drained after every write; the stalled one never is.
        var received: [ObjectIdentifier: [Int64: [Int64]]] = [:]
        func collect(_ s: WatchStream) {
            for r in t.responses(s) where !r.created {
                received[ObjectIdentifier(s), default: [:]][r.watchID, default: []] += r.events.map(\.kv.modRevision)
            }
        }
        collect(stalled)  // the created responses; from here on it stalls
        var revisions: [Int64] = []
        for i in 0..<300 {
            revisions.append(t.put("p/\(i % 17)", String(repeating: "x", count: i % 50)))
            for s in healthy { collect(s) }
            _ = t.hub.catchUp(t.store.view)  // the background task keeps running meanwhile
        }
        #expect(t.hub.queuedFrames(on: stalled) <= 64)
        #expect(t.hub.unsyncedCount(on: stalled) > 1900, "the stalled stream's watchers fell back to catch-up")
        for s in healthy {
            let got = received[ObjectIdentifier(s)]!
            #expect(got.count == 50 && got.values.allSatisfy { $0 == revisions }, "healthy watchers got every event once, in order")
        }
        // The consumer comes back: everything arrives, once, in order.
        func drainAndCatchUp() {
            for _ in 0..<100_000 {
                collect(stalled)
                if !t.hub.catchUp(t.store.view) && t.hub.queuedFrames(on: stalled) == 0 { break }
            }
            collect(stalled)
        }
        drainAndCatchUp()
        let got = received[ObjectIdentifier(stalled)]!
        #expect(got.count == 2000)
        #expect(got.values.allSatisfy { $0 == revisions })
        #expect(t.hub.unsyncedCount(on: stalled) == 0)
        // Afterwards it keeps up: 64 of its 2,000 watchers get the next write directly, the rest
        // through catch-up, and all of them exactly once.
        let next = t.put("p/0")
        drainAndCatchUp()
        #expect(received[ObjectIdentifier(stalled)]!.values.allSatisfy { $0 == revisions + [next] })
    }

    @Test func aStalledWatcherWhoseHistoryIsCompactedIsCancelled() throws {
        var limits = WatchLimits()
        limits.maxQueuedFramesPerStream = 4
        let t = WatchBench(limits: limits)
        let s = t.hub.openStream()
        t.hub.watch(WatchCreate(key: b("k")), on: s)
        for i in 0..<10 { t.put("k", "\(i)") }
        #expect(t.hub.unsyncedCount(on: s) == 1)
        _ = try t.store.compact(t.store.revision)
        _ = t.hub.drain(s)
        t.catchUpFully()
        let got = t.responses(s)
        #expect(got.last?.canceled == true && got.last?.compactRevision == t.store.revision)
        #expect(t.hub.stats.watchers == 0)
    }

    @Test func cancelAndCloseReleaseEverything() {
        let t = WatchBench()
        let s = t.hub.openStream()
        let a = t.hub.watch(WatchCreate(key: b("a"), rangeEnd: b("b")), on: s)
        t.hub.watch(WatchCreate(key: b("c")), on: s)
        t.hub.cancel(a, on: s)
        t.hub.cancel(12345, on: s)  // unknown: ignored
        let got = t.responses(s)
        #expect(got.count == 3 && got[2].canceled && got[2].watchID == a)
        t.put("a1")
        #expect(t.responses(s).isEmpty)
        t.hub.close(s)
        #expect(t.hub.stats == WatchStats(bytesEncoded: t.hub.stats.bytesEncoded))
    }
}

/// A count several threads may add to.
final class LockedCounter: @unchecked Sendable {
    private let lock = Lock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
