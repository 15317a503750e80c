import EtcdWire
import Testing

@testable import MVCC

/// Random writes, compactions, watchers (past, present and future starts, filters, prev_kv),
/// cancels, progress requests, partial drains and catch-up rounds, with queues small enough
/// that watchers keep falling behind. Every watcher must see exactly the changes to its range
/// that the reference model says happened: none missing, none twice, in revision order, a
/// revision's events in one response, and a progress response only after everything it covers.
@Suite struct WatchPropertyTests {
    struct Spec {
        var create: WatchCreate
        var start: Int64
        var stream: Int
        var id: Int64 = -1
        var active = false  // its created response has been read
        var cancelled = false  // by the client
        var compactedAt: Int64? = nil
        var received: [(rev: Int64, event: DecodedEvent)] = []
    }

    static func expected(_ spec: Spec, _ history: [Int64: [[UInt8]: KeyValue]], through last: Int64) -> [(rev: Int64, event: DecodedEvent)]
    {
        var out: [(Int64, DecodedEvent)] = []
        let c = spec.create
        guard spec.start <= last else { return [] }
        for rev in max(spec.start, 2)...last {
            guard let now = history[rev], let before = history[rev - 1] else { continue }
            var events: [DecodedEvent] = []
            for (k, kv) in now where kv.modRevision == rev && ReferenceModel.inRange(k, c.key, c.rangeEnd) && !c.noPut {
                events.append(DecodedEvent(deleted: false, kv: kv, prev: c.prevKV ? before[k] : nil))
            }
            for (k, kv) in before where now[k] == nil && ReferenceModel.inRange(k, c.key, c.rangeEnd) && !c.noDelete {
                events.append(DecodedEvent(deleted: true, kv: KeyValue(key: k, modRevision: rev), prev: c.prevKV ? kv : nil))
            }
            events.sort { $0.kv.key.lexicographicallyPrecedes($1.kv.key) }
            out += events.map { (rev, $0) }
        }
        return out
    }

    /// Events in revision order, key order within a revision. `prev_kv` is the key at the
    /// revision before the event and absent once that revision is compacted (as in etcd), so it
    /// is compared only for events that no compaction could have touched when they were sent.
    static func normalized(_ xs: [(rev: Int64, event: DecodedEvent)], compactedThrough: Int64 = -1) -> [String] {
        xs.sorted { a, b in a.rev != b.rev ? a.rev < b.rev : a.event.kv.key.lexicographicallyPrecedes(b.event.kv.key) }
            .map { x in
                var e = x.event
                if x.rev - 1 < compactedThrough { e.prev = nil }
                return "\(x.rev) \(e)"
            }
    }

    static func run(seed: UInt64, steps: Int) throws {
        var gen = RequestGen(seed: seed, keyCount: 10)
        let model = ReferenceModel()
        let store = KVStore()
        var limits = WatchLimits()
        limits.maxQueuedFramesPerStream = 6
        limits.maxQueuedBytesPerStream = 1500
        limits.maxCatchUpBytes = 300
        limits.catchUpBatch = 7
        limits.maxResponseBytes = 400
        let hub = WatchHub(revision: 1, encoder: EtcdWatchEncoder(), limits: limits)
        let streams = (0..<3).map { _ in hub.openStream() }
        var history: [Int64: [[UInt8]: KeyValue]] = [1: [:]]
        var specs: [Spec] = []
        var byID: [[Int64: Int]] = [[:], [:], [:]]
        var progressChecks = 0

        func read(_ si: Int, max: Int) {
            for frame in hub.drain(streams[si], max: max) {
                let r = DecodedResponse(frame)
                if r.watchID == -1 && !r.created {
                    // A progress response: everything up to its revision is already here.
                    progressChecks += 1
                    for s in specs where s.stream == si && s.active && !s.cancelled && s.compactedAt == nil {
                        let want = normalized(expected(s, history, through: r.revision), compactedThrough: store.compactRevision)
                        #expect(
                            normalized(s.received, compactedThrough: store.compactRevision) == want,
                            "seed \(seed): progress at \(r.revision) before watcher \(s.id) caught up")
                    }
                    continue
                }
                if r.created {
                    if r.watchID >= 0, let i = byID[si][r.watchID] { specs[i].active = true }
                    continue
                }
                guard let i = byID[si][r.watchID] else {
                    Issue.record("seed \(seed): response for unknown watcher \(r.watchID)")
                    continue
                }
                if r.canceled {
                    if r.compactRevision != 0 { specs[i].compactedAt = r.compactRevision }
                    continue
                }
                let revs = Set(r.events.map(\.kv.modRevision))
                // A revision is never split across responses (fragments are whole revisions' parts only if asked).
                if !specs[i].create.fragment {
                    let all = expected(specs[i], history, through: store.revision)
                    for rev in revs {
                        #expect(
                            r.events.filter { $0.kv.modRevision == rev }.count == all.filter { $0.rev == rev }.count,
                            "seed \(seed): revision \(rev) split for watcher \(r.watchID)")
                    }
                }
                specs[i].received += r.events.map { ($0.kv.modRevision, $0) }
            }
        }

        for _ in 0..<steps {
            switch gen.g.int(100) {
            case 0..<40:
                let op = gen.g.int(3)
                if op == 0 {
                    let p = gen.put()
                    _ = try? store.put(p)
                    _ = try? model.put(p)
                } else if op == 1 {
                    let d = gen.delete()
                    _ = try? store.deleteRange(d)
                    _ = try? model.deleteRange(d)
                } else {
                    let t = gen.txn(model, depth: 1)
                    _ = try? store.txn(t)
                    _ = try? model.txn(t)
                }
                history[model.revision] = model.current
                #expect(store.revision == model.revision)
                hub.notify(store.view)
            case 40..<42:
                let rev = max(store.compactRevision, 0) + Int64(gen.g.int(12))
                if (try? store.compact(rev)) != nil { _ = try? model.compact(rev) }
                hub.notify(store.view)
            case 42..<55:
                let k = gen.key()
                let end: [UInt8] =
                    gen.g.chance(30)
                    ? []
                    : (gen.g.chance(30)
                        ? [0]
                        : {
                            var e = k
                            e[e.count - 1] = 0x7F
                            return e
                        }())
                var c = WatchCreate(key: k, rangeEnd: end, prevKV: gen.g.chance(40), fragment: gen.g.chance(20))
                c.noPut = gen.g.chance(10)
                c.noDelete = !c.noPut && gen.g.chance(10)
                switch gen.g.int(3) {
                case 0: c.startRevision = 0
                case 1:
                    c.startRevision =
                        max(store.compactRevision - 2, 1) + Int64(gen.g.int(Int(store.revision - max(store.compactRevision - 2, 1)) + 1))
                default: c.startRevision = store.revision + Int64(gen.g.int(4))
                }
                let si = gen.g.int(3)
                let id = hub.watch(c, on: streams[si])
                let start = c.startRevision > 0 ? c.startRevision : store.revision + 1
                specs.append(Spec(create: c, start: start, stream: si, id: id))
                if id >= 0 { byID[si][id] = specs.count - 1 }
            case 55..<58:
                let live = specs.indices.filter { specs[$0].id >= 0 && !specs[$0].cancelled && specs[$0].compactedAt == nil }
                if let i = live.isEmpty ? nil : live[gen.g.int(live.count)] {
                    hub.cancel(specs[i].id, on: streams[specs[i].stream])
                    specs[i].cancelled = true
                }
            case 58..<61:
                hub.requestProgress(on: streams[gen.g.int(3)])
            case 61..<85:
                read(gen.g.int(3), max: 1 + gen.g.int(4))
            default:
                hub.catchUp(store.view)
            }
        }
        // Let everyone finish.
        for _ in 0..<100_000 {
            for si in 0..<3 { read(si, max: .max) }
            if !hub.catchUp(store.view) && streams.allSatisfy({ hub.queuedFrames(on: $0) == 0 }) { break }
        }
        for si in 0..<3 { read(si, max: .max) }
        var compactedCount = 0
        for s in specs where s.id >= 0 && !s.cancelled {
            let want = expected(s, history, through: store.revision)
            let got = normalized(s.received, compactedThrough: store.compactRevision)
            if let compact = s.compactedAt {
                compactedCount += 1
                // What it got is a whole-revision prefix, and the rest was compacted away.
                let wantAll = normalized(want, compactedThrough: store.compactRevision)
                #expect(Array(wantAll.prefix(got.count)) == got, "seed \(seed): watcher \(s.id) got something else before its cancel")
                // Cancelled while it still needed history below the compaction revision.
                #expect(s.received.allSatisfy { $0.rev < compact }, "seed \(seed): watcher \(s.id) got events past its cancel")
            } else {
                #expect(
                    got == normalized(want, compactedThrough: store.compactRevision),
                    "seed \(seed): watcher \(s.id) on stream \(s.stream) from \(s.start) \(s.create)")
            }
        }
        // The run exercised what it is meant to: watchers, progress answers, slow streams.
        #expect(specs.count > 20)
        #expect(progressChecks > 0)
        #expect(hub.stats.demotions > 0)
        print(
            "watch property seed \(seed): \(specs.count) watchers, \(progressChecks) progress checks, \(compactedCount) cancelled by compaction, \(hub.stats.demotions) fallbacks to catch-up"
        )
    }

    @Test(arguments: (1...12).map { UInt64($0) })
    func randomWatchersSeeExactlyTheChanges(seed: UInt64) throws {
        try Self.run(seed: seed, steps: 1500)
    }
}
